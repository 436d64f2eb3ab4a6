//! `import`: a rootfs tarball (plain or compressed) or a directory as a one-layer image.

use crate::archive::Loaded;
use crate::changes::{self, ChangeError};
use crate::digest::Hasher;
use crate::layer::{self, pack, Compression, LayerError};
use crate::manifest::{self, host_platform, LayerRef};
use crate::reference::Reference;
use crate::store::{BlobWriter, CommitImage, Store, StoreError, MANIFEST_MEDIA_TYPE};
use serde_json::{json, Map, Value};
use std::io::{self, Read, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("import source {path}: {source}")]
    Source {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("import source {path} is not a tar archive: {source}")]
    NotATar {
        path: String,
        #[source]
        source: LayerError,
    },
    #[error(transparent)]
    Pack(#[from] pack::PackError),
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub enum Source<'a> {
    Path(&'a Path),
    Stdin,
}

#[derive(Default)]
pub struct Options {
    pub changes: Vec<String>,
    pub message: Option<String>,
}

/// Copies what it reads into a blob being written.
struct Tee<'w, R> {
    inner: R,
    out: &'w mut BlobWriter,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

pub fn import(
    store: &Store,
    source: Source<'_>,
    name: Option<Reference>,
    opts: &Options,
) -> Result<Loaded, ImportError> {
    // Check the changes before writing anything.
    let mut config = Map::new();
    for change in &opts.changes {
        changes::apply(&mut config, change)?;
    }
    let mut txn = store.begin()?;
    let (label, layer, diff_id) = match source {
        Source::Path(path) if path.is_dir() => {
            let label = path.display().to_string();
            let writer = txn.blob_writer()?;
            let hashed = pack::pack_dir(path, Hasher::new(writer))?;
            let (writer, _, _) = hashed.finish();
            let blob = txn.finish_blob(writer, None)?;
            let diff_id = blob.digest.clone();
            (
                label,
                LayerRef {
                    blob,
                    compression: Compression::None,
                },
                diff_id,
            )
        }
        other => {
            let (label, input): (String, Box<dyn Read>) = match other {
                Source::Path(path) => (
                    path.display().to_string(),
                    Box::new(
                        std::fs::File::open(path).map_err(|source| ImportError::Source {
                            path: path.display().to_string(),
                            source,
                        })?,
                    ),
                ),
                Source::Stdin => ("-".to_string(), Box::new(io::stdin().lock())),
            };
            let mut writer = txn.blob_writer()?;
            let mut tee = Tee {
                inner: input,
                out: &mut writer,
            };
            let (_, got) = layer::read_blob(&mut tee, |tar| {
                let mut archive = tar::Archive::new(tar);
                for entry in archive.entries().map_err(LayerError::Tar)? {
                    entry.map_err(LayerError::Tar)?;
                }
                Ok(())
            })
            .map_err(|source| ImportError::NotATar {
                path: label.clone(),
                source,
            })?;
            let blob = txn.finish_blob(writer, Some((&got.digest, Some(got.size))))?;
            (
                label,
                LayerRef {
                    blob,
                    compression: got.compression,
                },
                got.diff_id,
            )
        }
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let (os, arch) = host_platform();
    let mut history = Map::new();
    history.insert("created".into(), Value::from(now.clone()));
    history.insert(
        "created_by".into(),
        Value::from(format!("sangja-image import {label}")),
    );
    if let Some(m) = &opts.message {
        history.insert("comment".into(), Value::from(m.clone()));
    }
    let mut doc = json!({
        "created": now,
        "architecture": arch,
        "os": os,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [history],
    });
    if let Some(m) = &opts.message {
        doc["comment"] = Value::from(m.clone());
    }
    let config_blob = txn.write_bytes(&serde_json::to_vec(&doc).expect("config serialises"))?;
    let manifest = manifest::write(&mut txn, &config_blob, &[layer])?;
    let names: Vec<Reference> = name.into_iter().map(Reference::with_default_tag).collect();
    txn.commit(&[CommitImage {
        manifest: manifest.clone(),
        media_type: MANIFEST_MEDIA_TYPE.to_string(),
        names: names.clone(),
    }])?;
    Ok(Loaded {
        manifest: manifest.digest,
        id: config_blob.digest,
        names,
    })
}
