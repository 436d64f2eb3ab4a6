//! Overlayfs snapshots: each image's layers are unpacked once into
//! `snapshots/<image id hex>/` (read-only to every container of that image); each
//! container gets its own `upper/` and `work/` and an overlay mount on `rootfs/`.

use crate::image::Image;
use crate::store::Store;
use crate::unpack::{self, UnpackError};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("unpacking image {image} for its snapshot: {source}")]
    Unpack {
        image: String,
        #[source]
        source: Box<UnpackError>,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("mounting the overlay on {path}: {source} (is overlayfs available?)")]
    Mount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("unmounting {path}: {source}")]
    Unmount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn snapshots_dir(store: &Store) -> PathBuf {
    store.root().join("snapshots")
}

/// The image's shared lower dir, unpacked now if it is not there yet. Concurrent
/// callers each unpack into a private directory; the first rename wins.
pub fn lower_dir(store: &Store, image: &Image) -> Result<PathBuf, SnapshotError> {
    let dir = snapshots_dir(store);
    let target = dir.join(image.id().hex());
    if target.is_dir() {
        return Ok(target);
    }
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let tmp = dir.join(format!(".tmp-{}", crate::store::unique_name("unpack")));
    unpack::unpack(store, image, &tmp).map_err(|source| SnapshotError::Unpack {
        image: image.label(),
        source: Box::new(source),
    })?;
    if let Err(e) = fs::rename(&tmp, &target) {
        let _ = fs::remove_dir_all(&tmp);
        if !target.is_dir() {
            return Err(io_err(&target)(e));
        }
    }
    Ok(target)
}

/// Whether `path` is a mount point (its device differs from its parent's).
pub fn is_mounted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(m), Some(parent)) = (fs::metadata(path), path.parent()) else {
        return false;
    };
    fs::metadata(parent).is_ok_and(|p| p.dev() != m.dev())
}

/// Mounts `lower` + `upper` (+ `work`) on `rootfs`.
pub fn mount_overlay(
    lower: &Path,
    upper: &Path,
    work: &Path,
    rootfs: &Path,
) -> Result<(), SnapshotError> {
    mount_overlay_stack(&[lower.to_path_buf()], upper, work, rootfs)
}

/// Mounts several lower dirs (`lowers` bottom first, as layers stack) under `upper`.
pub fn mount_overlay_stack(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    rootfs: &Path,
) -> Result<(), SnapshotError> {
    for d in [upper, work, rootfs] {
        fs::create_dir_all(d).map_err(io_err(d))?;
    }
    // overlayfs lists the topmost lower dir first.
    let lowerdir: Vec<String> = lowers
        .iter()
        .rev()
        .map(|l| l.display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|source| SnapshotError::Mount {
        path: rootfs.to_path_buf(),
        source,
    })
}

/// [`mount_overlay_stack`] for deep stacks: lower dirs inside `dir` are named relative to
/// it (overlayfs resolves them against the caller's working directory, so the mount runs
/// from `dir`), which keeps the one mount option under its page-size limit for hundreds
/// of layers instead of a few dozen long absolute paths.
/// Held while the working directory is moved for a mount with relative paths (a
/// build's stages mount from several threads; the directory is the process's).
pub fn lock_cwd() -> std::sync::MutexGuard<'static, ()> {
    static CWD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CWD.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn mount_overlay_stack_in(
    dir: &Path,
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    rootfs: &Path,
) -> Result<(), SnapshotError> {
    let rel: Vec<PathBuf> = lowers
        .iter()
        .map(|l| {
            l.strip_prefix(dir)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| l.clone())
        })
        .collect();
    let _cwd = lock_cwd();
    let back = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    std::env::set_current_dir(dir).map_err(io_err(dir))?;
    let result = mount_overlay_stack(&rel, upper, work, rootfs);
    let _ = std::env::set_current_dir(&back);
    result
}

/// Unmounts `rootfs` if it is mounted (a lazy detach when it is busy).
pub fn unmount(rootfs: &Path) -> Result<(), SnapshotError> {
    if !is_mounted(rootfs) {
        return Ok(());
    }
    match umount2(rootfs, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::Error::EBUSY) => umount2(rootfs, MntFlags::MNT_DETACH),
        Err(e) => Err(e),
    }
    .map_err(|source| SnapshotError::Unmount {
        path: rootfs.to_path_buf(),
        source,
    })
}

/// Removes the snapshots of images no longer in the store that no container uses (run
/// after `rm` and `prune` of images). Returns the image ids removed.
pub fn prune(
    store: &Store,
    containers: &super::record::Containers,
) -> Result<Vec<String>, super::ContainerError> {
    let dir = snapshots_dir(store);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir)(e).into()),
    };
    let _lock = store.lock_exclusive()?;
    let images: Vec<String> = crate::image::list(store)?
        .iter()
        .map(|i| i.id().hex().to_string())
        .collect();
    let used: Vec<String> = containers
        .list()?
        .iter()
        .map(|r| r.image_id.trim_start_matches("sha256:").to_string())
        .collect();
    let mut removed = Vec::new();
    for e in entries {
        let e = e.map_err(|e| io_err(&dir)(e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        // Unpacks in progress (`.tmp-*`) are left to their owners.
        if name.starts_with('.') || images.contains(&name) || used.contains(&name) {
            continue;
        }
        fs::remove_dir_all(e.path()).map_err(|err| io_err(&e.path())(err))?;
        removed.push(name);
    }
    Ok(removed)
}
