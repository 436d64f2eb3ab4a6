//! A handle on the sangja executable that nothing inside a container can write through.
//!
//! Every process that will execve inside a container is started from this handle, so
//! /proc/<pid>/exe of it (and of anything a `#!/proc/self/exe` payload turns into sangja)
//! points at a read-only mount: opening it for writing fails with EROFS, and the host
//! binary stays untouched (the CVE-2019-5736 class). The read-only bind costs a few mount
//! calls; a sealed memfd copy is the fallback when mounting is refused.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

#[derive(Debug, thiserror::Error)]
pub enum ExeError {
    #[error("protecting the sangja executable: {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Returns an O_PATH descriptor of a read-only view of our own executable.
/// `scratch` is a directory we may create a temporary file in (the --root directory).
#[cfg(not(feature = "break-exe-protection"))]
pub fn protected_self_exe(scratch: &Path) -> Result<OwnedFd, ExeError> {
    match ro_bind(scratch) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            tracing::debug!(
                "read-only bind of the executable failed ({e}); using a sealed memfd copy"
            );
            sealed_memfd()
        }
    }
}

/// Proof build only (`break-exe-protection`, see runtime/Cargo.toml): the writable host
/// binary itself, as runc before the CVE-2019-5736 fix.
#[cfg(feature = "break-exe-protection")]
pub fn protected_self_exe(_scratch: &Path) -> Result<OwnedFd, ExeError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open("/proc/self/exe")
        .map(OwnedFd::from)
        .map_err(|source| ExeError::Io {
            what: "opening",
            path: "/proc/self/exe".into(),
            source,
        })
}

#[cfg_attr(feature = "break-exe-protection", allow(dead_code))]
fn ro_bind(scratch: &Path) -> Result<OwnedFd, ExeError> {
    let target = scratch.join(format!(".sangja-exe.{}", std::process::id()));
    let err = |what: &'static str, source: std::io::Error| ExeError::Io {
        what,
        path: target.clone(),
        source,
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(&target)
        .map_err(|e| err("creating", e))?;
    let result = (|| {
        mount(
            Some("/proc/self/exe"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err("bind-mounting onto", e.into()))?;
        let remount = mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOSUID,
            None::<&str>,
        );
        let opened = remount
            .map_err(|e| err("remounting read-only", e.into()))
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                    .open(&target)
                    .map(OwnedFd::from)
                    .map_err(|e| err("opening", e))
            });
        // Detach at once: the open descriptor keeps the mount alive, nothing else sees it.
        let _ = umount2(&target, MntFlags::MNT_DETACH);
        opened
    })();
    let _ = std::fs::remove_file(&target);
    result
}

#[cfg_attr(feature = "break-exe-protection", allow(dead_code))]
fn sealed_memfd() -> Result<OwnedFd, ExeError> {
    let path = PathBuf::from("/proc/self/exe");
    let err = |what: &'static str, source: std::io::Error| ExeError::Io {
        what,
        path: path.clone(),
        source,
    };
    let name = CString::new("sangja").expect("static name");
    // SAFETY: memfd_create with a valid name; the result is checked.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(err("memfd_create for", std::io::Error::last_os_error()));
    }
    // SAFETY: memfd_create returned a new descriptor we own.
    let mut mem = unsafe { File::from_raw_fd(fd) };
    let mut src = File::open(&path).map_err(|e| err("reading", e))?;
    std::io::copy(&mut src, &mut mem).map_err(|e| err("copying", e))?;
    mem.flush().map_err(|e| err("copying", e))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our own descriptor.
    if unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(err("sealing", std::io::Error::last_os_error()));
    }
    Ok(OwnedFd::from(mem))
}
