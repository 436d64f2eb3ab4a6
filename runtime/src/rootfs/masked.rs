//! `maskedPaths` and `readonlyPaths`, applied after pivot_root and after everything else.
//!
//! Paths are resolved inside the container root without magic links, and the /dev/null
//! used for masking is checked to really be the null device before it is bound: a
//! container that swapped /dev/null for a symlink to a writable /proc file would
//! otherwise get that file bound over the masked paths (the 2025 /dev/null class).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use super::mount::locked_flags;
use super::resolve::{self, Create};
use super::RootfsError;
use crate::syscall::fd_path;

fn root() -> Result<OwnedFd, RootfsError> {
    File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open("/")
        .map(OwnedFd::from)
        .map_err(|e| RootfsError::Root {
            path: "/".into(),
            msg: e.to_string(),
        })
}

/// Resolves a masked or read-only path inside the container root; None when it does not
/// exist (the spec skips those).
fn open_existing(root: &OwnedFd, p: &str) -> Result<Option<OwnedFd>, Errno> {
    match resolve::open_in_root(root.as_fd(), Path::new(p), Create::No) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens /dev/null without following links and checks it is char device 1:3.
fn dev_null(root: &OwnedFd) -> Result<OwnedFd, String> {
    let fd = resolve::open_in_root(root.as_fd(), Path::new("/dev/null"), Create::No)
        .map_err(|e| format!("/dev/null: {e}"))?;
    check_null_device(&fd)?;
    Ok(fd)
}

#[cfg(not(feature = "break-devnull-check"))]
fn check_null_device(fd: &OwnedFd) -> Result<(), String> {
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(|e| format!("/dev/null: {e}"))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err("/dev/null is not the null device (char 1:3); refusing to mask with it".into());
    }
    Ok(())
}

/// Proof build only (`break-devnull-check`, see runtime/Cargo.toml): whatever /dev/null
/// is gets bound over the masked paths.
#[cfg(feature = "break-devnull-check")]
fn check_null_device(_fd: &OwnedFd) -> Result<(), String> {
    Ok(())
}

/// Whether masked and read-only paths are applied: always, except in the proof build
/// `break-masked-paths` (see runtime/Cargo.toml).
const APPLY: bool = !cfg!(feature = "break-masked-paths");

pub fn mask(paths: &[String]) -> Result<(), RootfsError> {
    if paths.is_empty() || !APPLY {
        return Ok(());
    }
    let root = root()?;
    let null = dev_null(&root).map_err(|msg| RootfsError::Path {
        field: "maskedPaths",
        path: "/dev/null".into(),
        msg,
    })?;
    let null_path = fd_path(null.as_raw_fd());
    for p in paths {
        let err = |msg: String| RootfsError::Path {
            field: "maskedPaths",
            path: p.clone(),
            msg,
        };
        let Some(target) = open_existing(&root, p).map_err(|e| err(e.to_string()))? else {
            continue;
        };
        let tpath = fd_path(target.as_raw_fd());
        let is_dir = resolve::file_type(&target).map_err(|e| err(e.to_string()))? == libc::S_IFDIR;
        let r = if is_dir {
            mount(
                Some("tmpfs"),
                tpath.as_c_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            mount(
                Some(null_path.as_c_str()),
                tpath.as_c_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        r.map_err(|e| err(format!("masking: {e}")))?;
    }
    Ok(())
}

pub fn readonly(paths: &[String]) -> Result<(), RootfsError> {
    if paths.is_empty() || !APPLY {
        return Ok(());
    }
    let root = root()?;
    for p in paths {
        let err = |msg: String| RootfsError::Path {
            field: "readonlyPaths",
            path: p.clone(),
            msg,
        };
        let Some(target) = open_existing(&root, p).map_err(|e| err(e.to_string()))? else {
            continue;
        };
        let tpath = fd_path(target.as_raw_fd());
        mount(
            Some(tpath.as_c_str()),
            tpath.as_c_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| err(format!("bind: {e}")))?;
        let bound = resolve::open_in_root(root.as_fd(), Path::new(p), Create::No)
            .map_err(|e| err(e.to_string()))?;
        let bpath = fd_path(bound.as_raw_fd());
        let locked = locked_flags(Path::new(bpath.to_str().unwrap_or("/")));
        mount(
            None::<&str>,
            bpath.as_c_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC | locked,
            None::<&str>,
        )
        .map_err(|e| err(format!("remount read-only: {e}")))?;
    }
    Ok(())
}
