//! oci-archive: a tar of an OCI image layout (`oci-layout`, `index.json`, `blobs/`).
//! Loading picks the host platform's manifest out of image indexes; names come from
//! `io.containerd.image.name` or `org.opencontainers.image.ref.name`.

use super::docker::append_bytes;
use super::stage::Staged;
use super::{parse_doc, scan_layer, ArchiveError, Loaded};
use crate::digest::Digest;
use crate::manifest::host_platform;
use crate::reference::Reference;
use crate::store::{BlobInfo, CommitImage, Store, Txn, MANIFEST_MEDIA_TYPE, REF_NAME_ANNOTATION};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";
const INDEX_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

impl Platform {
    fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
    fn is_host(&self) -> bool {
        let (os, arch) = host_platform();
        self.os == os && self.architecture == arch
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

fn digest_of(d: &Descriptor, field: &str) -> Result<Digest, ArchiveError> {
    d.digest.parse().map_err(|e| ArchiveError::Invalid {
        field: field.to_string(),
        message: format!("{e}"),
    })
}

/// A blob the archive holds (checked against its name) or the store already has.
fn blob(
    txn: &Txn<'_>,
    staged: &Staged,
    digest: &Digest,
    size: u64,
) -> Result<BlobInfo, ArchiveError> {
    let info = match staged.blob(digest) {
        Ok(info) => info.clone(),
        Err(ArchiveError::Missing(_)) if txn.has_blob(digest) => {
            let len = txn
                .open_blob(digest)?
                .metadata()
                .map(|m| m.len())
                .unwrap_or(0);
            BlobInfo {
                digest: digest.clone(),
                size: len,
            }
        }
        Err(e) => return Err(e),
    };
    if info.size != size {
        return Err(ArchiveError::Corrupt(format!(
            "blob {digest} is {} bytes, its descriptor says {size}",
            info.size
        )));
    }
    Ok(info)
}

pub(super) fn plan_load(
    txn: &mut Txn<'_>,
    staged: &Staged,
) -> Result<(Vec<CommitImage>, Vec<Loaded>), ArchiveError> {
    let index: Index = parse_doc("index.json", &staged.docs["index.json"])?;
    let mut commits = Vec::new();
    let mut loaded = Vec::new();
    let mut skipped = Vec::new();
    for (i, top) in index.manifests.iter().enumerate() {
        if let Some(p) = &top.platform {
            if !p.is_host() {
                skipped.push(p.label());
                continue;
            }
        }
        let field = format!("index.json manifests[{i}]");
        let digest = digest_of(top, &format!("{field}.digest"))?;
        let info = blob(txn, staged, &digest, top.size)?;
        let data = txn.read_blob(&digest)?;
        let doc: serde_json::Value = parse_doc(&field, &data)?;
        let is_index =
            INDEX_MEDIA_TYPES.contains(&top.media_type.as_str()) || doc.get("manifests").is_some();
        let (manifest, media_type) = if is_index {
            let nested: Index = parse_doc(&format!("index {digest}"), &data)?;
            let chosen = nested
                .manifests
                .iter()
                .find(|d| d.platform.as_ref().map(Platform::is_host).unwrap_or(false))
                .ok_or_else(|| {
                    let (os, arch) = host_platform();
                    ArchiveError::Platform {
                        wanted: format!("{os}/{arch}"),
                        available: nested
                            .manifests
                            .iter()
                            .map(|d| {
                                d.platform
                                    .as_ref()
                                    .map(Platform::label)
                                    .unwrap_or_else(|| "unknown".into())
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                })?;
            let d = digest_of(chosen, &format!("index {digest} manifest"))?;
            (
                blob(txn, staged, &d, chosen.size)?,
                chosen.media_type.clone(),
            )
        } else {
            (info, top.media_type.clone())
        };
        let label = manifest.digest.to_string();
        let mdata = txn.read_blob(&manifest.digest)?;
        let m: oci_spec::image::ImageManifest = parse_doc(&format!("manifest {label}"), &mdata)?;
        let config_digest: Digest =
            m.config()
                .digest()
                .to_string()
                .parse()
                .map_err(|e| ArchiveError::Invalid {
                    field: format!("manifest {label} config.digest"),
                    message: format!("{e}"),
                })?;
        let config = blob(txn, staged, &config_digest, m.config().size())?;
        let cfg_data = txn.read_blob(&config.digest)?;
        let cfg: oci_spec::image::ImageConfiguration =
            parse_doc(&format!("config {config_digest}"), &cfg_data)?;
        if !is_index && top.platform.is_none() {
            let p = Platform {
                architecture: cfg.architecture().to_string(),
                os: cfg.os().to_string(),
                variant: None,
            };
            if !p.is_host() {
                tracing::warn!(image = %label, platform = %p.label(), "image is for another platform");
            }
        }
        let diff_ids = cfg.rootfs().diff_ids();
        if diff_ids.len() != m.layers().len() {
            return Err(ArchiveError::Invalid {
                field: format!("manifest {label} layers"),
                message: format!(
                    "{} layers but the config has {} diff_ids",
                    m.layers().len(),
                    diff_ids.len()
                ),
            });
        }
        for (n, layer) in m.layers().iter().enumerate() {
            let d: Digest =
                layer
                    .digest()
                    .to_string()
                    .parse()
                    .map_err(|e| ArchiveError::Invalid {
                        field: format!("manifest {label} layers[{n}].digest"),
                        message: format!("{e}"),
                    })?;
            blob(txn, staged, &d, layer.size())?;
            let got = scan_layer(txn, &d, &label, n)?;
            if got.diff_id.to_string() != diff_ids[n] {
                return Err(ArchiveError::Layer {
                    image: label.clone(),
                    index: n,
                    source: crate::layer::LayerError::DigestMismatch {
                        what: "layer diff id",
                        expected: diff_ids[n].parse().unwrap_or_else(|_| got.diff_id.clone()),
                        actual: got.diff_id,
                    },
                });
            }
        }
        let names = names_of(top)?;
        loaded.push(Loaded {
            manifest: manifest.digest.clone(),
            id: config.digest.clone(),
            names: names.clone(),
        });
        commits.push(CommitImage {
            manifest,
            media_type: if media_type.is_empty() {
                MANIFEST_MEDIA_TYPE.to_string()
            } else {
                media_type
            },
            names,
        });
    }
    if commits.is_empty() {
        let (os, arch) = host_platform();
        return Err(ArchiveError::Platform {
            wanted: format!("{os}/{arch}"),
            available: if skipped.is_empty() {
                "no images".into()
            } else {
                skipped.join(", ")
            },
        });
    }
    Ok((commits, loaded))
}

fn names_of(d: &Descriptor) -> Result<Vec<Reference>, ArchiveError> {
    let raw = d
        .annotations
        .get(CONTAINERD_NAME_ANNOTATION)
        .or_else(|| d.annotations.get(REF_NAME_ANNOTATION));
    match raw {
        None => Ok(Vec::new()),
        Some(n) => match n.parse::<Reference>() {
            Ok(r) => Ok(vec![r.with_default_tag()]),
            Err(e) => {
                tracing::warn!(name = n.as_str(), error = %e, "image name in the archive is not a reference; loaded untagged");
                Ok(Vec::new())
            }
        },
    }
}

pub use super::docker::SaveItem;

pub fn save(store: &Store, items: &[SaveItem], out: &mut dyn Write) -> Result<(), ArchiveError> {
    let mut builder = tar::Builder::new(out);
    let werr = |e: io::Error| ArchiveError::Write {
        path: "archive".into(),
        source: e,
    };
    append_bytes(
        &mut builder,
        "oci-layout",
        b"{\"imageLayoutVersion\":\"1.0.0\"}",
    )
    .map_err(werr)?;
    let mut written = HashSet::new();
    let mut manifests = Vec::new();
    for item in items {
        let image = &item.image;
        let mut blobs = vec![(image.manifest_digest.clone()), image.config_digest.clone()];
        blobs.extend(image.layer_digests()?);
        for d in blobs {
            if written.insert(d.clone()) {
                let file = store.open_blob(&d)?;
                let size = file.metadata().map_err(werr)?.len();
                let mut header = super::docker::file_header(size);
                builder
                    .append_data(&mut header, format!("blobs/sha256/{}", d.hex()), file)
                    .map_err(werr)?;
            }
        }
        let base = Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.to_string(),
            digest: image.manifest_digest.to_string(),
            size: image.manifest_size,
            annotations: BTreeMap::new(),
            platform: None,
        };
        if item.names.is_empty() {
            manifests.push(base.clone());
        }
        for name in &item.names {
            let mut d = base.clone();
            d.annotations
                .insert(REF_NAME_ANNOTATION.into(), name.to_string());
            d.annotations
                .insert(CONTAINERD_NAME_ANNOTATION.into(), name.to_string());
            manifests.push(d);
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: Some("application/vnd.oci.image.index.v1+json".into()),
        manifests,
    };
    append_bytes(
        &mut builder,
        "index.json",
        &serde_json::to_vec(&index).expect("serialises"),
    )
    .map_err(werr)?;
    builder.into_inner().map_err(werr)?.flush().map_err(werr)
}
