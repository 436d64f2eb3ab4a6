//! Entering the rootfs: pivot_root, or MS_MOVE + chroot for ramdisk roots (`--no-pivot`).

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir};

use super::RootfsError;

fn err(rootfs: &Path, what: &str, e: impl std::fmt::Display) -> RootfsError {
    RootfsError::Root {
        path: rootfs.to_path_buf(),
        msg: format!("{what}: {e}"),
    }
}

/// pivot_root(".", ".") then detach the old root, as runc does: no temporary directory
/// inside the rootfs is needed.
pub fn pivot_root(rootfs: &Path) -> Result<(), RootfsError> {
    let old = File::open("/").map_err(|e| err(rootfs, "opening /", e))?;
    let new = File::open(rootfs).map_err(|e| err(rootfs, "opening", e))?;
    fchdir(new.as_fd()).map_err(|e| err(rootfs, "fchdir", e))?;
    crate::syscall::pivot_root(c".", c".").map_err(|e| err(rootfs, "pivot_root", e))?;
    fchdir(old.as_fd()).map_err(|e| err(rootfs, "fchdir to the old root", e))?;
    // The old root must not propagate its unmount back to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err(rootfs, "making the old root a slave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| err(rootfs, "detaching the old root", e))?;
    chdir("/").map_err(|e| err(rootfs, "chdir /", e))
}

/// For roots pivot_root cannot leave (an initramfs): move the rootfs over / and chroot.
pub fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    chdir(rootfs).map_err(|e| err(rootfs, "chdir", e))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(|e| err(rootfs, "moving the rootfs to /", e))?;
    chroot(".").map_err(|e| err(rootfs, "chroot", e))?;
    chdir("/").map_err(|e| err(rootfs, "chdir /", e))
}

/// `linux.rootfsPropagation` for the container's own `/`: pivot_root leaves the new root
/// with its parent's (private) propagation, so the asked mode is applied again here.
pub fn root_propagation(spec: &oci_spec::runtime::Spec) -> Result<(), RootfsError> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
    else {
        return Ok(());
    };
    let flags = super::options::propagation(p).ok_or_else(|| RootfsError::Path {
        field: "rootfsPropagation",
        path: p.to_string(),
        msg: "unknown propagation mode".into(),
    })?;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).map_err(|e| RootfsError::Path {
        field: "rootfsPropagation",
        path: p.to_string(),
        msg: format!("setting it on /: {e}"),
    })
}
