//! `cp` and `export`: files in and out of a container's root, running or stopped.
//!
//! Every path inside the container is resolved in its root (openat2 RESOLVE_IN_ROOT, see
//! [`crate::layer::inroot`]): `..` and absolute symlinks stop at the container's `/`, so
//! a link to `/etc/shadow` in the container names the container's file, never the
//! host's. What is copied in is extracted with the layer code, which never writes
//! outside the directory it is given. A stopped container's root is mounted for the
//! copy (under its owner lock, so it cannot start meanwhile) and unmounted after.

use super::owner::{Owner, Try};
use super::record::{Containers, Record};
use super::{lifecycle, snapshot, ContainerError};
use crate::layer::inroot::{InPath, Root};
use crate::layer::{extract, pack};
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("Could not find the file {path} in container {container}")]
    NotFoundInContainer { path: String, container: String },
    #[error("{path}: {reason}")]
    BadPath { path: String, reason: String },
    #[error("destination {path} must be a directory to receive a tar stream")]
    NotADirectory { path: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Pack(#[from] pack::PackError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Container(#[from] ContainerError),
}

fn ioe(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CopyError {
    let path = path.into();
    move |source| CopyError::Io { path, source }
}

fn nixe(path: impl Into<PathBuf>) -> impl FnOnce(nix::Error) -> CopyError {
    let path = path.into();
    move |e| CopyError::Io {
        path,
        source: e.into(),
    }
}

/// Runs `f` on the container's mounted root: a running container's as it is, a stopped
/// one's mounted for the call while its owner lock keeps `start` away.
pub fn with_root<T>(
    containers: &Containers,
    rec: &Record,
    f: impl FnOnce(&Path) -> Result<T, CopyError>,
) -> Result<T, CopyError> {
    let dir = containers.path(&rec.id);
    let rootfs = dir.join("rootfs");
    match Owner::try_acquire(&dir)? {
        Try::Gone => Err(ContainerError::NotFound(rec.name.clone()).into()),
        Try::Held => {
            if !rec.vfs && !snapshot::is_mounted(&rootfs) {
                return Err(ContainerError::Busy(rec.name.clone()).into());
            }
            f(&rootfs)
        }
        Try::Taken(owner) => {
            let was = rec.vfs || snapshot::is_mounted(&rootfs);
            if !was {
                lifecycle::ensure_mounted(containers, rec)?;
            }
            let out = f(&rootfs);
            if !was {
                snapshot::unmount(&rootfs).map_err(ContainerError::from)?;
            }
            drop(owner);
            out
        }
    }
}

fn in_path(raw: &str) -> Result<InPath, CopyError> {
    InPath::parse(raw.as_bytes()).map_err(|e| CopyError::BadPath {
        path: raw.to_string(),
        reason: e.to_string(),
    })
}

/// A name docker would give the copy: the last component (`/` for the root).
fn base_name(p: &InPath) -> String {
    p.components().last().cloned().unwrap_or_else(|| ".".into())
}

fn proc_fd(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `src` in the container as a tar stream whose one top entry is `name` (default: its
/// base name). Without `follow` a symlink at `src` is sent as a link (docker's
/// default); with it (`-L`), its target inside the container is sent.
pub fn tar_from_container<W: Write>(
    root: &Path,
    container: &str,
    src: &str,
    follow: bool,
    name: Option<&str>,
    out: W,
) -> Result<W, CopyError> {
    let path = in_path(src)?;
    let root_fd = Root::open(root).map_err(nixe(root))?;
    let not_found = || CopyError::NotFoundInContainer {
        path: src.to_string(),
        container: container.to_string(),
    };
    let top = name.map(str::to_string).unwrap_or_else(|| base_name(&path));
    match path.split_last() {
        Some((parent, last)) if !follow => {
            let dir = root_fd.open_dir(&parent).map_err(|_| not_found())?;
            let p = proc_fd(&dir).join(last);
            if std::fs::symlink_metadata(&p).is_err() {
                return Err(not_found());
            }
            Ok(pack::pack_entry(&p, &top, false, out)?)
        }
        _ => {
            // RESOLVE_IN_ROOT follows every link as the container would, but never out.
            let fd = openat2(
                root_fd.fd(),
                path.as_relative().as_str(),
                OpenHow::new()
                    .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
                    .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS),
            )
            .map_err(|_| not_found())?;
            Ok(pack::pack_entry(&proc_fd(&fd), &top, true, out)?)
        }
    }
}

/// Extracts a tar stream into `dir` inside the container (a directory that must exist).
pub fn untar_into_container<R: Read>(root: &Path, dir: &str, input: R) -> Result<(), CopyError> {
    let path = in_path(dir)?;
    let root_fd = Root::open(root).map_err(nixe(root))?;
    let fd = root_fd
        .open_dir(&path)
        .map_err(|_| CopyError::NotADirectory {
            path: dir.to_string(),
        })?;
    let sub = Root::open(&proc_fd(&fd)).map_err(nixe(dir))?;
    extract::apply(&sub, input)?;
    Ok(())
}

/// Where a copy lands: docker's rules. An existing directory receives the source under
/// its own name; anything else is the new name in an existing parent.
fn landing(dest_is_dir: bool, dest: &str, src_name: &str) -> (String, String) {
    if dest_is_dir || dest.ends_with('/') {
        return (dest.to_string(), src_name.to_string());
    }
    let trimmed = dest.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some(("", name)) => ("/".into(), name.to_string()),
        Some((parent, name)) => (parent.to_string(), name.to_string()),
        None => (".".into(), trimmed.to_string()),
    }
}

/// `cp CONTAINER:SRC DEST`: DEST `-` writes the tar stream to `out`.
pub fn copy_out(
    containers: &Containers,
    rec: &Record,
    src: &str,
    follow: bool,
    dest: &str,
    out: &mut dyn Write,
) -> Result<(), CopyError> {
    with_root(containers, rec, |root| {
        if dest == "-" {
            tar_from_container(root, &rec.name, src, follow, None, &mut *out)?;
            return Ok(());
        }
        let src_name = base_name(&in_path(src)?);
        let is_dir = Path::new(dest).is_dir();
        let (dir, name) = landing(is_dir, dest, &src_name);
        let dir_path = PathBuf::from(&dir);
        if !dir_path.is_dir() {
            return Err(CopyError::Io {
                path: dir_path,
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let mut buf = Vec::new();
        tar_from_container(root, &rec.name, src, follow, Some(&name), &mut buf)?;
        let host = Root::open(&dir_path).map_err(nixe(&dir_path))?;
        extract::apply(&host, &buf[..])?;
        Ok(())
    })
}

/// `cp SRC CONTAINER:DEST`: SRC `-` reads a tar stream from `input`.
pub fn copy_in(
    containers: &Containers,
    rec: &Record,
    src: &str,
    dest: &str,
    input: &mut dyn Read,
) -> Result<(), CopyError> {
    with_root(containers, rec, |root| {
        if src == "-" {
            return untar_into_container(root, dest, input);
        }
        let src_path = Path::new(src);
        std::fs::symlink_metadata(src_path).map_err(ioe(src_path))?;
        let src_name = src_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let dest_in = in_path(dest)?;
        let root_fd = Root::open(root).map_err(nixe(root))?;
        let is_dir = root_fd.open_dir(&dest_in).is_ok();
        let (dir, name) = landing(is_dir, dest, &src_name);
        let tar = pack::pack_entry(src_path, &name, false, Vec::new())?;
        untar_into_container(root, &dir, &tar[..])
    })
}

/// `export`: the container's whole filesystem as a tar stream.
pub fn export(containers: &Containers, rec: &Record, out: &mut dyn Write) -> Result<(), CopyError> {
    with_root(containers, rec, |root| {
        pack::pack_dir(root, &mut *out)?;
        Ok(())
    })
}

impl From<snapshot::SnapshotError> for CopyError {
    fn from(e: snapshot::SnapshotError) -> Self {
        CopyError::Container(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_as_docker() {
        assert_eq!(landing(true, "/tmp", "f"), ("/tmp".into(), "f".into()));
        assert_eq!(landing(false, "/tmp/g", "f"), ("/tmp".into(), "g".into()));
        assert_eq!(landing(false, "/g", "f"), ("/".into(), "g".into()));
        assert_eq!(landing(false, "dir/", "f"), ("dir/".into(), "f".into()));
        assert_eq!(landing(false, "g", "f"), (".".into(), "g".into()));
    }
}
