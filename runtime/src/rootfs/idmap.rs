//! Idmapped mounts (runtime-spec 1.2: `mounts[].uidMappings/gidMappings`, options
//! `idmap`/`ridmap`). The runtime builds each one on the host: a clone of the source tree
//! (open_tree) given the mapping of a throwaway user namespace (mount_setattr), and the
//! container init attaches the detached mount at its destination (move_mount).

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use super::options;
use crate::syscall::{self, MountAttr, AT_RECURSIVE, MOUNT_ATTR_IDMAP};

const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

#[derive(Debug, thiserror::Error)]
#[error("mounts[{index}] ({dest}): idmapped mount: {msg}")]
pub struct IdmapError {
    pub index: usize,
    pub dest: String,
    pub msg: String,
}

/// Whether a mount asks for an idmapping, and the maps to use.
fn wanted(spec: &Spec, m: &Mount) -> Option<(Vec<LinuxIdMapping>, Vec<LinuxIdMapping>, bool)> {
    let o = options::parse(m.options().as_deref().unwrap_or_default());
    let uids = m.uid_mappings().clone().unwrap_or_default();
    let gids = m.gid_mappings().clone().unwrap_or_default();
    if uids.is_empty() && gids.is_empty() && !o.idmap {
        return None;
    }
    let linux = spec.linux().as_ref();
    // `idmap` alone takes the container's own user namespace mappings.
    let uids = if uids.is_empty() {
        linux
            .and_then(|l| l.uid_mappings().clone())
            .unwrap_or_default()
    } else {
        uids
    };
    let gids = if gids.is_empty() {
        linux
            .and_then(|l| l.gid_mappings().clone())
            .unwrap_or_default()
    } else {
        gids
    };
    Some((uids, gids, o.recursive_idmap))
}

/// The mounts that ask for an idmapping: (index, source, recursive).
pub fn requests(spec: &Spec) -> Vec<(usize, std::path::PathBuf, bool)> {
    spec.mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            wanted(spec, m).map(|(_, _, rec)| (i, m.source().clone().unwrap_or_default(), rec))
        })
        .collect()
}

/// In the container init, in the container's mount namespace: a detached clone of the
/// source tree. The kernel attaches a detached mount only in the namespace it was cloned
/// in, so the clone is made here and only its idmapping is set by the runtime.
pub fn clone_tree(index: usize, source: &Path, recursive: bool) -> Result<OwnedFd, IdmapError> {
    open_tree(source, recursive).map_err(|e| IdmapError {
        index,
        dest: source.display().to_string(),
        msg: format!("open_tree {}: {e}", source.display()),
    })
}

/// In the runtime (which holds the privileges over the filesystem's user namespace):
/// gives the detached tree of `mounts[index]` its idmapping.
pub fn set_mapping(
    spec: &Spec,
    index: usize,
    tree: std::os::fd::BorrowedFd<'_>,
) -> Result<(), IdmapError> {
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let m = mounts.get(index).ok_or_else(|| IdmapError {
        index,
        dest: String::new(),
        msg: "no such mount".into(),
    })?;
    let err = |msg: String| IdmapError {
        index,
        dest: m.destination().display().to_string(),
        msg,
    };
    let (uids, gids, recursive) =
        wanted(spec, m).ok_or_else(|| err("the mount asks for no idmapping".into()))?;
    if uids.is_empty() || gids.is_empty() {
        return Err(err(
            "needs both uid and gid mappings (on the mount or the container)".into(),
        ));
    }
    let userns = mapped_userns(&uids, &gids).map_err(&err)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: userns.as_raw_fd() as u64,
        ..Default::default()
    };
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    syscall::mount_setattr(tree.as_raw_fd(), c"", flags, &attr)
        .map_err(|e| err(format!("mount_setattr: {e}")))
}

fn open_tree(source: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let c =
        std::ffi::CString::new(source.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: open_tree with a valid path; the result is checked.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    // SAFETY: on success the kernel returned a new descriptor we own.
    Errno::result(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A user namespace holding the mapping: a child unshares one and waits while we write
/// its maps and open its namespace file, then exits.
fn mapped_userns(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd, String> {
    let (mut rd, wr) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (ready_rd, mut ready_wr) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the runtime is single-threaded; the child only unshares, signals and waits.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(wr);
            drop(ready_rd);
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = std::io::Write::write_all(&mut ready_wr, if ok { b"1" } else { b"0" });
            let mut b = [0u8; 1];
            let _ = rd.read(&mut b);
            // SAFETY: leaving the forked child without running destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(rd);
            drop(ready_wr);
            let mut ready_rd = ready_rd;
            let mut b = [0u8; 1];
            let result = (|| {
                ready_rd
                    .read_exact(&mut b)
                    .map_err(|e| format!("waiting for the helper: {e}"))?;
                if b[0] != b'1' {
                    return Err("unshare(CLONE_NEWUSER) failed in the helper".to_string());
                }
                crate::namespaces::write_id_maps(child.as_raw(), uids, gids, false)
                    .map_err(|e| e.to_string())?;
                std::fs::File::open(format!("/proc/{child}/ns/user"))
                    .map(OwnedFd::from)
                    .map_err(|e| format!("opening the user namespace: {e}"))
            })();
            drop(wr);
            let _ = waitpid(child, None);
            result
        }
    }
}

/// In the container init: attaches the prepared mount at `target` (an O_PATH descriptor).
pub fn attach(tree: RawFd, target: RawFd) -> Result<(), Errno> {
    // SAFETY: move_mount of a detached mount descriptor onto a resolved O_PATH target.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            target,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}
