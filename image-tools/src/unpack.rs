//! An image's layers applied in order onto a fresh directory. The directory must be
//! missing or empty; on any error whatever was written is removed again.

use crate::image::{Image, ImageError};
use crate::layer::{self, LayerError, Root};
use crate::store::{Store, StoreError};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("unpack target {path}: {reason}")]
    Target { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer {index} ({digest}) of {image}: {source}")]
    Layer {
        image: String,
        index: usize,
        digest: String,
        #[source]
        source: LayerError,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Removes what an operation created in a target when dropped without `keep()`.
pub struct Cleanup {
    path: PathBuf,
    created: bool,
    armed: bool,
}

impl Cleanup {
    /// Claims `path`: it must not exist or be an empty directory.
    pub fn claim(path: &Path) -> Result<Cleanup, UnpackError> {
        let created = match fs::read_dir(path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(UnpackError::Target {
                        path: path.to_path_buf(),
                        reason: "directory is not empty".into(),
                    });
                }
                false
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(path).map_err(|source| UnpackError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                true
            }
            Err(e) => {
                return Err(UnpackError::Target {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
            }
        };
        Ok(Cleanup {
            path: path.to_path_buf(),
            created,
            armed: true,
        })
    }

    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // remove_dir_all does not follow symlinks, whatever the layers put there.
        let result = if self.created {
            fs::remove_dir_all(&self.path)
        } else {
            fs::read_dir(&self.path).and_then(|entries| {
                for e in entries {
                    let e = e?;
                    if e.file_type()?.is_dir() {
                        fs::remove_dir_all(e.path())?;
                    } else {
                        fs::remove_file(e.path())?;
                    }
                }
                Ok(())
            })
        };
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "could not clean up after a failed unpack");
        }
    }
}

/// Applies `image`'s layers onto `dir` (created if missing), verifying each layer's
/// digest and diff id on the way.
pub fn unpack(store: &Store, image: &Image, dir: &Path) -> Result<(), UnpackError> {
    let cleanup = Cleanup::claim(dir)?;
    unpack_into(store, image, dir)?;
    cleanup.keep();
    Ok(())
}

/// [`unpack`] without claiming the directory (callers that claimed a parent).
pub fn unpack_into(store: &Store, image: &Image, dir: &Path) -> Result<(), UnpackError> {
    let root = Root::open(dir).map_err(|e| UnpackError::Io {
        path: dir.to_path_buf(),
        source: e.into(),
    })?;
    let layers = image.layer_digests()?;
    let diff_ids = image.diff_ids()?;
    if layers.len() != diff_ids.len() {
        return Err(ImageError::Invalid {
            image: image.label(),
            message: format!("{} layers but {} diff_ids", layers.len(), diff_ids.len()),
        }
        .into());
    }
    for (index, (digest, diff_id)) in layers.iter().zip(&diff_ids).enumerate() {
        let blob = store.open_blob(digest)?;
        layer::apply_blob(&root, blob, Some(digest), Some(diff_id)).map_err(|source| {
            UnpackError::Layer {
                image: image.label(),
                index,
                digest: digest.to_string(),
                source,
            }
        })?;
    }
    Ok(())
}
