//! Resolving paths inside the container's root without ever leaving it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) against a
//! descriptor of the root, so a symlink planted in the rootfs (absolute or full of `..`)
//! is resolved as if the rootfs were `/` (the CVE-2021-30465 class). Missing components
//! are created one at a time under the already-resolved parent.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

use crate::syscall::openat2;

/// How every lookup resolves: inside the root, never through a magic link.
#[cfg(not(feature = "break-resolve-in-root"))]
const RESOLVE: u64 = crate::syscall::RESOLVE_IN_ROOT | crate::syscall::RESOLVE_NO_MAGICLINKS;
/// Proof build only (`break-resolve-in-root`, see runtime/Cargo.toml): links are followed
/// wherever they lead, an absolute symlink to the host's `/` (the CVE-2021-30465 class).
#[cfg(feature = "break-resolve-in-root")]
const RESOLVE: u64 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    No,
    Dir,
    File,
}

/// Opens `path` (taken relative to `root` whatever its form) as O_PATH, creating it (and
/// its parents, as directories) when asked. A dangling symlink on the way is followed
/// inside the root and its target created, as runc's MkdirAllInRoot does.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, create: Create) -> Result<OwnedFd, Errno> {
    let mut rel = clean(path);
    match lookup(root, &rel) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create != Create::No => {}
        Err(e) => return Err(e),
    }
    let mut links = 0;
    'restart: loop {
        let comps: Vec<_> = rel.components().map(|c| c.as_os_str().to_owned()).collect();
        let mut so_far = PathBuf::new();
        for (i, name) in comps.iter().enumerate() {
            let parent = lookup(root, &so_far)?;
            so_far.push(name);
            match lookup(root, &so_far) {
                Ok(_) => continue,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
            let cname = CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)?;
            if let Some(target) = read_link_at(&parent, &cname) {
                // A dangling symlink: continue from its target, still inside the root.
                links += 1;
                if links > 40 {
                    return Err(Errno::ELOOP);
                }
                let base = if target.is_absolute() {
                    PathBuf::new()
                } else {
                    so_far.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                let mut next = base.join(target);
                for rest in &comps[i + 1..] {
                    next.push(rest);
                }
                rel = clean(&next);
                continue 'restart;
            }
            let last = i + 1 == comps.len();
            if last && create == Create::File {
                // SAFETY: openat on a directory descriptor with a valid name; result checked and closed.
                let fd = unsafe {
                    libc::openat(
                        parent.as_raw_fd(),
                        cname.as_ptr(),
                        libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_WRONLY
                            | libc::O_NOFOLLOW
                            | libc::O_CLOEXEC,
                        0o644,
                    )
                };
                if fd < 0 {
                    let e = Errno::last();
                    if e != Errno::EEXIST {
                        return Err(e);
                    }
                } else {
                    // SAFETY: we own the descriptor just opened.
                    unsafe { libc::close(fd) };
                }
            } else {
                // SAFETY: mkdirat on a directory descriptor with a valid name.
                if unsafe { libc::mkdirat(parent.as_raw_fd(), cname.as_ptr(), 0o755) } < 0 {
                    let e = Errno::last();
                    if e != Errno::EEXIST {
                        return Err(e);
                    }
                }
            }
        }
        return lookup(root, &rel);
    }
}

/// The target of `name` in `dir` if it is a symlink.
fn read_link_at(dir: &OwnedFd, name: &CString) -> Option<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat into a buffer we own, on a directory descriptor and a valid name.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

fn lookup(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, Errno> {
    let p = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    openat2(root, &c, libc::O_PATH, 0, RESOLVE)
}

/// Lexically cleans `path` as if rooted at `/`, returning it relative (runc's CleanPath:
/// `..` never climbs above the root).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The file type of an O_PATH descriptor.
pub fn file_type(fd: impl AsFd) -> Result<libc::mode_t, Errno> {
    let st = nix::sys::stat::fstat(fd.as_fd())?;
    Ok(st.st_mode & libc::S_IFMT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_never_climbs() {
        assert_eq!(clean(Path::new("/a/../../b/./c")), PathBuf::from("b/c"));
        assert_eq!(clean(Path::new("../../etc")), PathBuf::from("etc"));
        assert_eq!(clean(Path::new("/")), PathBuf::from(""));
    }

    #[test]
    fn symlink_out_stays_in_root() {
        let base = std::env::temp_dir().join(format!("sangja-resolve-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        let rootfd = std::fs::File::open(&root).unwrap();
        let fd = open_in_root(rootfd.as_fd(), Path::new("/escape/newdir"), Create::Dir).unwrap();
        assert_eq!(file_type(&fd).unwrap(), libc::S_IFDIR);
        assert!(root.join("etc/newdir").is_dir(), "created inside the root");
        assert!(!Path::new("/etc/newdir").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
