//! docker-archive and oci-archive: `save` writes them, `load` reads either.

pub mod docker;
pub mod oci;
mod stage;

use crate::digest::Digest;
use crate::image::ImageError;
use crate::layer::LayerError;
use crate::reference::Reference;
use crate::store::{Store, StoreError};
use std::io::Read;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error("archive is missing {0}")]
    Missing(String),
    #[error("archive is neither a docker-archive (manifest.json) nor an oci-archive (index.json)")]
    UnknownFormat,
    #[error("archive {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("no image for platform {wanted} in the archive (it has: {available})")]
    Platform { wanted: String, available: String },
    #[error("layer {index} of {image}: {source}")]
    Layer {
        image: String,
        index: usize,
        #[source]
        source: LayerError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("writing archive {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Docker,
    Oci,
}

/// What a load added: each image's manifest digest, image id and names.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Digest,
    pub id: Digest,
    pub names: Vec<Reference>,
}

/// Loads every image of a docker-archive or oci-archive stream. Either all of them
/// land in the store or, on any error, none does.
pub fn load<R: Read>(store: &Store, input: R) -> Result<Vec<Loaded>, ArchiveError> {
    let mut txn = store.begin()?;
    let staged = stage::stage(&mut txn, input)?;
    let (commits, loaded) = if staged.docs.contains_key("manifest.json") {
        docker::plan_load(&mut txn, &staged)?
    } else if staged.docs.contains_key("index.json") {
        oci::plan_load(&mut txn, &staged)?
    } else {
        return Err(ArchiveError::UnknownFormat);
    };
    txn.commit(&commits)?;
    Ok(loaded)
}

pub(crate) fn parse_doc<T: serde::de::DeserializeOwned>(
    name: &str,
    data: &[u8],
) -> Result<T, ArchiveError> {
    crate::store::parse_json(name, data).map_err(|e| match e {
        StoreError::BadJson {
            path,
            field,
            message,
        } => ArchiveError::Invalid {
            field: format!("{path} {field}"),
            message,
        },
        other => other.into(),
    })
}

/// Scans a staged layer: its compressed digest, its diff id (the uncompressed digest)
/// and that it is a readable tar.
pub(crate) fn scan_layer(
    txn: &crate::store::Txn<'_>,
    digest: &Digest,
    image: &str,
    index: usize,
) -> Result<crate::layer::LayerDigests, ArchiveError> {
    let file = txn.open_blob(digest)?;
    let (_, got) = crate::layer::read_blob(file, |tar| {
        let mut archive = tar::Archive::new(tar);
        for entry in archive.entries().map_err(LayerError::Tar)? {
            entry.map_err(LayerError::Tar)?;
        }
        Ok(())
    })
    .map_err(|source| ArchiveError::Layer {
        image: image.to_string(),
        index,
        source,
    })?;
    Ok(got)
}

/// Writes to `dest` through a temp file renamed on success, or to stdout for `None`.
pub fn write_output(
    dest: Option<&std::path::Path>,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    use std::io::Write;
    match dest {
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            write(&mut lock)?;
            lock.flush().map_err(|e| ArchiveError::Write {
                path: "stdout".into(),
                source: e,
            })
        }
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.{}", crate::store::unique_name("partial")));
            let werr = |e: std::io::Error| ArchiveError::Write {
                path: path.display().to_string(),
                source: e,
            };
            let result = (|| {
                let file = std::fs::File::create(&tmp).map_err(werr)?;
                let mut out = std::io::BufWriter::new(file);
                write(&mut out)?;
                let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
                file.sync_all().map_err(werr)?;
                std::fs::rename(&tmp, path).map_err(werr)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        }
    }
}
