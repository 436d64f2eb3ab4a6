//! docker-archive, as `docker save` writes it: `manifest.json` listing each image's
//! config (`<id>.json`), `RepoTags` and uncompressed `<layer>/layer.tar` files, plus the
//! legacy `repositories` map.

use super::stage::Staged;
use super::{parse_doc, scan_layer, ArchiveError, Loaded};
use crate::digest::Digest;
use crate::image::Image;
use crate::layer::{Compression, Decompressor};
use crate::manifest::{self, LayerRef};
use crate::reference::Reference;
use crate::store::{CommitImage, Store, Txn, MANIFEST_MEDIA_TYPE};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufReader, Read, Write};

#[derive(Serialize, Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

pub(super) fn plan_load(
    txn: &mut Txn<'_>,
    staged: &Staged,
) -> Result<(Vec<CommitImage>, Vec<Loaded>), ArchiveError> {
    let items: Vec<ManifestItem> = parse_doc("manifest.json", &staged.docs["manifest.json"])?;
    if items.is_empty() {
        return Err(ArchiveError::Invalid {
            field: "manifest.json".into(),
            message: "lists no image".into(),
        });
    }
    let mut commits = Vec::new();
    let mut loaded = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let config = staged.file(&item.config)?.clone();
        let config_data = txn.read_blob(&config.digest)?;
        let cfg: oci_spec::image::ImageConfiguration = parse_doc(&item.config, &config_data)?;
        let diff_ids = cfg.rootfs().diff_ids();
        if diff_ids.len() != item.layers.len() {
            return Err(ArchiveError::Invalid {
                field: format!("manifest.json [{i}].Layers"),
                message: format!(
                    "lists {} layers but config {} has {} diff_ids",
                    item.layers.len(),
                    item.config,
                    diff_ids.len()
                ),
            });
        }
        let mut layers = Vec::new();
        for (n, path) in item.layers.iter().enumerate() {
            let blob = staged.file(path)?.clone();
            let got = scan_layer(txn, &blob.digest, &item.config, n)?;
            let want: Digest = diff_ids[n].parse().map_err(|e| ArchiveError::Invalid {
                field: format!("{} rootfs.diff_ids[{n}]", item.config),
                message: format!("{e}"),
            })?;
            if got.diff_id != want {
                return Err(ArchiveError::Layer {
                    image: item.config.clone(),
                    index: n,
                    source: crate::layer::LayerError::DigestMismatch {
                        what: "layer diff id",
                        expected: want,
                        actual: got.diff_id,
                    },
                });
            }
            layers.push(LayerRef {
                blob,
                compression: got.compression,
            });
        }
        let manifest = manifest::write(txn, &config, &layers)?;
        let names = item
            .repo_tags
            .iter()
            .flatten()
            .map(|t| {
                t.parse::<Reference>()
                    .map(Reference::with_default_tag)
                    .map_err(|e| ArchiveError::Invalid {
                        field: format!("manifest.json [{i}].RepoTags"),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        loaded.push(Loaded {
            manifest: manifest.digest.clone(),
            id: config.digest.clone(),
            names: names.clone(),
        });
        commits.push(CommitImage {
            manifest,
            media_type: MANIFEST_MEDIA_TYPE.to_string(),
            names,
        });
    }
    Ok((commits, loaded))
}

/// One image to save and the names it is saved under.
pub struct SaveItem {
    pub image: Image,
    pub names: Vec<Reference>,
}

pub fn save(store: &Store, items: &[SaveItem], out: &mut dyn Write) -> Result<(), ArchiveError> {
    let mut builder = tar::Builder::new(out);
    let werr = |e: io::Error| ArchiveError::Write {
        path: "archive".into(),
        source: e,
    };
    let mut written: HashSet<String> = HashSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in items {
        let image = &item.image;
        let layers = image.layer_digests()?;
        let diff_ids = image.diff_ids()?;
        if layers.len() != diff_ids.len() {
            return Err(ArchiveError::Invalid {
                field: format!("image {}", image.label()),
                message: "manifest and config disagree on the number of layers".into(),
            });
        }
        let mut layer_paths = Vec::new();
        for (layer, diff_id) in layers.iter().zip(&diff_ids) {
            let path = format!("{}/layer.tar", diff_id.hex());
            if written.insert(path.clone()) {
                append_uncompressed(&mut builder, store, layer, &path)?;
            }
            layer_paths.push(path);
        }
        let config_path = format!("{}.json", image.config_digest.hex());
        if written.insert(config_path.clone()) {
            let data = store.read_blob(&image.config_digest)?;
            append_bytes(&mut builder, &config_path, &data).map_err(werr)?;
        }
        let tags: Vec<String> = item.names.iter().map(|n| n.familiar()).collect();
        for name in &item.names {
            if let (Some(tag), Some(top)) = (name.tag(), diff_ids.last()) {
                repositories
                    .entry(name.familiar_repository())
                    .or_default()
                    .insert(tag.to_string(), top.hex().to_string());
            }
        }
        manifest.push(ManifestItem {
            config: config_path,
            repo_tags: if tags.is_empty() { None } else { Some(tags) },
            layers: layer_paths,
        });
    }
    append_bytes(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("serialises"),
    )
    .map_err(werr)?;
    if !repositories.is_empty() {
        append_bytes(
            &mut builder,
            "repositories",
            &serde_json::to_vec(&repositories).expect("serialises"),
        )
        .map_err(werr)?;
    }
    builder.into_inner().map_err(werr)?.flush().map_err(werr)
}

pub(super) fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
) -> io::Result<()> {
    let mut header = file_header(data.len() as u64);
    builder.append_data(&mut header, path, data)
}

pub(super) fn file_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header
}

/// docker archives hold uncompressed layers; a compressed stored layer is measured in a
/// first pass (tar headers need the size) and decompressed again while written.
fn append_uncompressed<W: Write>(
    builder: &mut tar::Builder<W>,
    store: &Store,
    layer: &Digest,
    path: &str,
) -> Result<(), ArchiveError> {
    let werr = |e: io::Error| ArchiveError::Write {
        path: path.to_string(),
        source: e,
    };
    let open = || -> Result<(Decompressor<BufReader<std::fs::File>>, Compression), ArchiveError> {
        let file = store.open_blob(layer)?;
        Decompressor::new(BufReader::with_capacity(1 << 16, file)).map_err(werr)
    };
    let (mut reader, _) = open()?;
    let size = io::copy(&mut reader, &mut io::sink()).map_err(werr)?;
    let (reader, _) = open()?;
    let mut header = file_header(size);
    builder
        .append_data(&mut header, path, reader.take(size))
        .map_err(werr)
}
