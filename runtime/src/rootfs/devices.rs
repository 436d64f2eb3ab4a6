//! Device nodes under /dev: runc's defaults plus `linux.devices`, and the /dev symlinks.
//! Inside a user namespace mknod is refused, so the host's node is bind-mounted instead.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::resolve::{self, Create};
use super::{Ctx, RootfsError};
use crate::syscall::fd_path;

/// A device node to create.
#[derive(Debug, Clone)]
pub struct Node {
    pub path: PathBuf,
    pub kind: libc::mode_t,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// runc's default devices: null, zero, full, random, urandom, tty (0666, root-owned).
pub fn defaults() -> Vec<Node> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, major, minor)| Node {
        path: PathBuf::from("/dev").join(n),
        kind: libc::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

pub fn from_spec(index: usize, d: &LinuxDevice) -> Result<Node, RootfsError> {
    let err = |msg: &str| RootfsError::Device {
        index,
        path: d.path().display().to_string(),
        msg: msg.to_string(),
    };
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => return Err(err("type \"a\" is for cgroup rules, not a device node")),
    };
    if !d.path().is_absolute() {
        return Err(err("path must be absolute"));
    }
    if kind != libc::S_IFIFO && (d.major() < 0 || d.minor() < 0) {
        return Err(err(
            "major and minor numbers are required for c, u and b devices",
        ));
    }
    Ok(Node {
        path: d.path().clone(),
        kind,
        major: d.major().max(0) as u64,
        minor: d.minor().max(0) as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

pub fn create(ctx: &Ctx) -> Result<(), RootfsError> {
    let spec_devices = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    let mut nodes: Vec<(Option<usize>, Node)> = Vec::new();
    for (i, d) in spec_devices.iter().enumerate() {
        nodes.push((Some(i), from_spec(i, d)?));
    }
    for n in defaults() {
        if !nodes.iter().any(|(_, m)| m.path == n.path) {
            nodes.push((None, n));
        }
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let result = nodes.iter().try_for_each(|(i, n)| {
        make(ctx, n).map_err(|msg| match i {
            Some(index) => RootfsError::Device {
                index: *index,
                path: n.path.display().to_string(),
                msg,
            },
            None => RootfsError::Path {
                field: "devices (default)",
                path: n.path.display().to_string(),
                msg,
            },
        })
    });
    nix::sys::stat::umask(old);
    result
}

fn make(ctx: &Ctx, n: &Node) -> Result<(), String> {
    let rel = resolve::clean(&n.path);
    let parent = rel.parent().unwrap_or(Path::new(""));
    let name = rel.file_name().ok_or("device path has no file name")?;
    let dir = resolve::open_in_root(super::ctx_root(ctx), parent, Create::Dir)
        .map_err(|e| format!("creating parent directory: {e}"))?;
    // O_PATH descriptors cannot be used for mknodat; reopen the directory for real.
    let dirpath = fd_path(dir.as_raw_fd());
    let dir = std::fs::File::open(dirpath.to_str().unwrap_or_default())
        .map_err(|e| format!("opening parent directory: {e}"))?;
    let cname = CString::new(name.as_encoded_bytes()).map_err(|e| e.to_string())?;
    // Replace whatever the image had there (a planted symlink included) with our node.
    // SAFETY: unlinkat on a directory descriptor with a valid name.
    unsafe { libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), 0) };
    if ctx.userns {
        // SAFETY: openat on our directory with a valid name; the descriptor is closed at once.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                cname.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o000,
            )
        };
        if fd < 0 {
            return Err(format!(
                "creating bind target: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: fd was just opened by us.
        unsafe { libc::close(fd) };
        let target = resolve::open_in_root(super::ctx_root(ctx), &rel, Create::No)
            .map_err(|e| e.to_string())?;
        let t = fd_path(target.as_raw_fd());
        return mount(
            Some(n.path.as_path()),
            t.as_c_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind-mounting host device {}: {e}", n.path.display()));
    }
    let dev = libc::makedev(n.major as u32, n.minor as u32);
    // SAFETY: mknodat on our directory with a valid name.
    if unsafe { libc::mknodat(dir.as_raw_fd(), cname.as_ptr(), n.kind | n.mode, dev) } < 0 {
        return Err(format!("mknod: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fchownat on the node we just made, not following links.
    if unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            cname.as_ptr(),
            n.uid,
            n.gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } < 0
    {
        return Err(format!("chown: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// /dev/fd, stdin, stdout, stderr, core (when the host has /proc/kcore) and ptmx.
pub fn symlinks(ctx: &Ctx) -> Result<(), RootfsError> {
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    let has_pts = ctx
        .spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|m| resolve::clean(m.destination()) == Path::new("dev/pts"));
    if has_pts {
        links.push(("pts/ptmx", "ptmx"));
    }
    let dev = resolve::open_in_root(super::ctx_root(ctx), Path::new("dev"), Create::Dir).map_err(
        |e| RootfsError::Path {
            field: "devices",
            path: "/dev".into(),
            msg: e.to_string(),
        },
    )?;
    let devpath = fd_path(dev.as_raw_fd());
    let dir = std::fs::File::open(devpath.to_str().unwrap_or_default()).map_err(|e| {
        RootfsError::Path {
            field: "devices",
            path: "/dev".into(),
            msg: e.to_string(),
        }
    })?;
    for (target, name) in links {
        let t = CString::new(target).expect("static");
        let n = CString::new(name).expect("static");
        if name == "ptmx" {
            // SAFETY: unlinkat on our /dev with a valid name.
            unsafe { libc::unlinkat(dir.as_raw_fd(), n.as_ptr(), 0) };
        }
        // SAFETY: symlinkat with valid strings into our /dev.
        if unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(RootfsError::Path {
                    field: "devices",
                    path: format!("/dev/{name}"),
                    msg: format!("symlink: {e}"),
                });
            }
        }
    }
    Ok(())
}
