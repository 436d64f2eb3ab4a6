//! Path operations confined to a root directory. Every parent directory is resolved
//! with openat2(RESOLVE_IN_ROOT), so `..`, absolute symlinks and symlinked parents can
//! never lead outside the root; the final component is then handled with *at calls
//! that do not follow it.

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A directory all operations stay inside.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// A path cleaned for use under a root: plain components only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InPath(Vec<String>);

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("path {0:?} has a '..' component")]
    DotDot(String),
    #[error("path {0:?} is not valid UTF-8")]
    NotUtf8(String),
    #[error("path {0:?} contains a NUL byte")]
    Nul(String),
}

impl InPath {
    /// Strips leading `/` and `./`, drops empty and `.` components, refuses `..`.
    pub fn parse(raw: &[u8]) -> Result<InPath, PathError> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| PathError::NotUtf8(String::from_utf8_lossy(raw).into_owned()))?;
        if text.contains('\0') {
            return Err(PathError::Nul(text.to_string()));
        }
        let mut comps = Vec::new();
        for c in text.split('/') {
            match c {
                "" | "." => {}
                ".." => return Err(PathError::DotDot(text.to_string())),
                c => comps.push(c.to_string()),
            }
        }
        Ok(InPath(comps))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn components(&self) -> &[String] {
        &self.0
    }

    /// Parent path and final name; `None` for the root itself.
    pub fn split_last(&self) -> Option<(InPath, &str)> {
        let (last, parent) = self.0.split_last()?;
        Some((InPath(parent.to_vec()), last))
    }

    pub fn join(&self, name: &str) -> InPath {
        let mut v = self.0.clone();
        v.push(name.to_string());
        InPath(v)
    }

    pub fn as_relative(&self) -> String {
        if self.0.is_empty() {
            ".".into()
        } else {
            self.0.join("/")
        }
    }
}

impl std::fmt::Display for InPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}", self.0.join("/"))
    }
}

fn resolve_how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

impl Root {
    pub fn open(path: &Path) -> Result<Root, Errno> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens a directory inside the root (symlinks resolved as if the root were `/`).
    pub fn open_dir(&self, dir: &InPath) -> Result<OwnedFd, Errno> {
        openat2(
            self.fd.as_fd(),
            dir.as_relative().as_str(),
            resolve_how(OFlag::O_PATH | OFlag::O_DIRECTORY),
        )
    }

    /// Like [`Root::open_dir`], creating missing directories (mode 0755, root-owned,
    /// as other unpackers do for parents a layer does not list).
    pub fn open_dir_create(&self, dir: &InPath) -> Result<OwnedFd, Errno> {
        match self.open_dir(dir) {
            Err(Errno::ENOENT) => {}
            other => return other,
        }
        let mut current = self
            .fd
            .as_fd()
            .try_clone_to_owned()
            .map_err(|_| Errno::EBADF)?;
        for i in 0..dir.0.len() {
            let prefix = InPath(dir.0[..=i].to_vec());
            match self.open_dir(&prefix) {
                Ok(fd) => current = fd,
                Err(Errno::ENOENT) => {
                    match mkdirat(
                        current.as_fd(),
                        dir.0[i].as_str(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                    current = self.open_dir(&prefix)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(current)
    }

    /// Opens a regular file inside the root for reading (e.g. the image's /etc/passwd).
    pub fn open_file(&self, file: &InPath) -> Result<std::fs::File, Errno> {
        let fd = openat2(
            self.fd.as_fd(),
            file.as_relative().as_str(),
            resolve_how(OFlag::O_RDONLY),
        )?;
        Ok(std::fs::File::from(fd))
    }

    /// Opens a directory inside the root for reading its entries or changing its metadata.
    pub fn open_dir_rw(&self, dir: &InPath) -> Result<OwnedFd, Errno> {
        openat2(
            self.fd.as_fd(),
            dir.as_relative().as_str(),
            resolve_how(OFlag::O_RDONLY | OFlag::O_DIRECTORY),
        )
    }
}

/// What sits at `name` in `dir`, without following a symlink there.
pub fn kind_at(dir: BorrowedFd<'_>, name: &str) -> Result<Option<SFlag>, Errno> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes `name` from `dir`, recursively for directories, never following symlinks.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &str) -> Result<(), Errno> {
    match kind_at(dir, name)? {
        None => Ok(()),
        Some(SFlag::S_IFDIR) => {
            let child = openat(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            for entry in child_names(child.as_fd())? {
                remove_all_at(child.as_fd(), &entry)?;
            }
            unlinkat(dir, name, UnlinkatFlags::RemoveDir)
        }
        Some(_) => unlinkat(dir, name, UnlinkatFlags::NoRemoveDir),
    }
}

/// Names in a directory opened for reading, without `.` and `..`.
pub fn child_names(dir: BorrowedFd<'_>) -> Result<Vec<String>, Errno> {
    let fd = openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = Dir::from_fd(fd)?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        assert_eq!(InPath::parse(b"./a/b/").unwrap().components(), ["a", "b"]);
        assert_eq!(
            InPath::parse(b"/etc//passwd").unwrap().components(),
            ["etc", "passwd"]
        );
        assert!(InPath::parse(b"./").unwrap().is_root());
        assert!(matches!(
            InPath::parse(b"a/../../x"),
            Err(PathError::DotDot(_))
        ));
        assert!(matches!(InPath::parse(b".."), Err(PathError::DotDot(_))));
    }

    #[test]
    fn symlinks_resolve_inside_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root_dir = tmp.path().join("root");
        std::fs::create_dir(&root_dir).unwrap();
        std::os::unix::fs::symlink("/", root_dir.join("up")).unwrap();
        std::os::unix::fs::symlink("../../..", root_dir.join("dots")).unwrap();
        let root = Root::open(&root_dir).unwrap();
        for via in ["up", "dots"] {
            let fd = root
                .open_dir_create(&InPath::parse(format!("{via}/made").as_bytes()).unwrap())
                .unwrap();
            drop(fd);
        }
        assert!(root_dir.join("made").is_dir());
        assert!(!tmp.path().join("made").exists());
    }
}
