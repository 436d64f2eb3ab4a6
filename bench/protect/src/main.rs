//! Times, step for step, what sangja's runtime/src/process/exe.rs does on every create
//! and exec to keep a container from writing through the runtime executable, against the
//! alternative it falls back to and against taking no protection at all.
//!
//! usage: sangja-bench-protect BINARY SCRATCH_DIR ITERATIONS
//! prints one line per method: name, median, min, max (microseconds), tab-separated.
//!
//! BINARY stands in for /proc/self/exe (pass the sangja binary: the memfd copy costs in
//! proportion to its size); SCRATCH_DIR stands in for the --root directory.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths from argv hold no NUL")
}

fn check(rc: libc::c_int, what: &str) -> Result<()> {
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context(what.to_string());
    }
    Ok(())
}

fn open_path(p: &Path) -> Result<OwnedFd> {
    Ok(OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(p)
        .map(OwnedFd::from)?)
}

/// The unprotected baseline: a plain O_PATH handle on the binary.
fn plain(bin: &Path, _scratch: &Path) -> Result<OwnedFd> {
    open_path(bin)
}

/// exe.rs `ro_bind`: placeholder file, bind, remount read-only, open, detach, unlink.
fn ro_bind(bin: &Path, scratch: &Path) -> Result<OwnedFd> {
    let target = scratch.join(format!(".sangja-exe.{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(&target)
        .context("creating the mount point")?;
    let (src, dst) = (cstr(bin), cstr(&target));
    let result = (|| {
        // SAFETY: valid NUL-terminated paths; null fstype and data are allowed for binds.
        check(
            unsafe {
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            },
            "bind",
        )?;
        let flags =
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOSUID;
        // SAFETY: as above.
        let remount = check(
            unsafe {
                libc::mount(
                    std::ptr::null(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    flags,
                    std::ptr::null(),
                )
            },
            "remount read-only",
        );
        let opened = remount.and_then(|()| open_path(&target));
        // SAFETY: valid path.
        unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
        opened
    })();
    let _ = std::fs::remove_file(&target);
    result
}

/// exe.rs `sealed_memfd`: an anonymous copy of the binary, sealed against writes.
fn sealed_memfd(bin: &Path, _scratch: &Path) -> Result<OwnedFd> {
    let name = CString::new("sangja").expect("static name");
    // SAFETY: valid name; the result is checked.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    check(fd, "memfd_create")?;
    // SAFETY: a new descriptor we own.
    let mut mem = unsafe { File::from_raw_fd(fd) };
    let mut src = File::open(bin).context("reading the binary")?;
    std::io::copy(&mut src, &mut mem).context("copying")?;
    mem.flush()?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our own descriptor.
    check(
        unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, seals) },
        "sealing",
    )?;
    Ok(OwnedFd::from(mem))
}

type Method = fn(&Path, &Path) -> Result<OwnedFd>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        bail!("usage: {} BINARY SCRATCH_DIR ITERATIONS", args[0]);
    }
    let bin = PathBuf::from(&args[1]);
    let scratch = PathBuf::from(&args[2]);
    let n: usize = args[3].parse().context("ITERATIONS")?;
    let methods: [(&str, Method); 3] = [
        ("read-only bind (shipped)", ro_bind),
        ("sealed memfd copy", sealed_memfd),
        ("no protection (plain open)", plain),
    ];
    for (name, method) in methods {
        // The first calls fault in the page cache and mount tables; leave them out.
        for _ in 0..3 {
            drop(method(&bin, &scratch).with_context(|| name.to_string())?);
        }
        let mut us: Vec<f64> = (0..n)
            .map(|_| {
                let t = Instant::now();
                // Closing counts: the last close tears the detached mount down (in sangja
                // that happens when the init execs or exits) and frees the memfd copy.
                drop(method(&bin, &scratch)?);
                Ok(t.elapsed().as_secs_f64() * 1e6)
            })
            .collect::<Result<_>>()
            .with_context(|| name.to_string())?;
        us.sort_by(f64::total_cmp);
        let median = if n % 2 == 1 {
            us[n / 2]
        } else {
            (us[n / 2 - 1] + us[n / 2]) / 2.0
        };
        println!("{name}\t{median:.1}\t{:.1}\t{:.1}", us[0], us[n - 1]);
    }
    Ok(())
}
