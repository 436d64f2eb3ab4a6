//! Images in the store: finding one from what a user typed (name, digest, id prefix)
//! and loading its manifest and config.

use crate::digest::Digest;
use crate::reference::{Reference, ReferenceError};
use crate::store::{parse_json, IndexEntry, Store, StoreError};
use oci_spec::image::{ImageConfiguration, ImageManifest};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("{query:?} is ambiguous: it matches images {}", .ids.join(", "))]
    Ambiguous { query: String, ids: Vec<String> },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image {image}: {message}")]
    Invalid { image: String, message: String },
}

/// A stored image, loaded.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest_digest: Digest,
    pub manifest_size: u64,
    pub manifest: ImageManifest,
    pub config_digest: Digest,
    pub config: ImageConfiguration,
    /// The config as stored, for fields the typed form does not keep.
    pub config_raw: serde_json::Value,
    /// Every name the index gives this manifest, in index order.
    pub names: Vec<Reference>,
}

impl Image {
    /// Docker's image id: the config digest.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    pub fn layer_digests(&self) -> Result<Vec<Digest>, ImageError> {
        self.manifest
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| {
                l.digest()
                    .to_string()
                    .parse()
                    .map_err(|e: crate::digest::DigestError| ImageError::Invalid {
                        image: self.manifest_digest.to_string(),
                        message: format!("layers[{i}].digest: {e}"),
                    })
            })
            .collect()
    }

    pub fn diff_ids(&self) -> Result<Vec<Digest>, ImageError> {
        self.config
            .rootfs()
            .diff_ids()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.parse()
                    .map_err(|e: crate::digest::DigestError| ImageError::Invalid {
                        image: self.config_digest.to_string(),
                        message: format!("rootfs.diff_ids[{i}]: {e}"),
                    })
            })
            .collect()
    }

    /// Sum of the layer blobs as stored.
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum()
    }

    pub fn label(&self) -> String {
        self.names
            .first()
            .map(|n| n.familiar())
            .unwrap_or_else(|| self.config_digest.short().to_string())
    }
}

/// Loads the image whose manifest is `digest`, with the names `entries` give it.
pub fn load(store: &Store, digest: &Digest, entries: &[IndexEntry]) -> Result<Image, ImageError> {
    let data = store.read_blob(digest)?;
    let manifest: ImageManifest = parse_json(&format!("manifest {digest}"), &data)?;
    let config_digest: Digest = manifest.config().digest().to_string().parse().map_err(
        |e: crate::digest::DigestError| ImageError::Invalid {
            image: digest.to_string(),
            message: format!("config.digest: {e}"),
        },
    )?;
    let config_data = store.read_blob(&config_digest)?;
    let what = format!("config {config_digest}");
    let config: ImageConfiguration = parse_json(&what, &config_data)?;
    let config_raw: serde_json::Value = parse_json(&what, &config_data)?;
    let names = entries
        .iter()
        .filter(|e| e.digest == *digest)
        .filter_map(|e| e.name.clone())
        .collect();
    Ok(Image {
        manifest_digest: digest.clone(),
        manifest_size: data.len() as u64,
        manifest,
        config_digest,
        config,
        config_raw,
        names,
    })
}

/// Every image in the store once, in index order.
pub fn list(store: &Store) -> Result<Vec<Image>, ImageError> {
    let entries = store.entries()?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for e in &entries {
        if seen.insert(e.digest.clone()) {
            out.push(load(store, &e.digest, &entries)?);
        }
    }
    Ok(out)
}

/// Finds an image the way docker does: a name (default tag `latest`), `name@digest`,
/// a full `sha256:` manifest or image id, or a unique image id prefix.
pub fn find(store: &Store, query: &str) -> Result<Image, ImageError> {
    let entries = store.entries()?;
    if let Ok(digest) = query.parse::<Digest>() {
        for image in list(store)? {
            if image.manifest_digest == digest || image.config_digest == digest {
                return Ok(image);
            }
        }
        return Err(ImageError::NotFound(query.to_string()));
    }
    let parsed = query.parse::<Reference>();
    if let Ok(reference) = &parsed {
        let reference = reference.clone().with_default_tag();
        let hit = match reference.digest() {
            Some(d) => entries.iter().find(|e| &e.digest == d),
            None => entries.iter().find(|e| e.name.as_ref() == Some(&reference)),
        };
        if let Some(e) = hit {
            return load(store, &e.digest, &entries);
        }
    }
    let hexish = !query.is_empty()
        && query.len() <= 64
        && query
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if hexish {
        let matches: Vec<Image> = list(store)?
            .into_iter()
            .filter(|i| i.config_digest.hex().starts_with(query))
            .collect();
        match matches.len() {
            0 => {}
            1 => return Ok(matches.into_iter().next().expect("one match")),
            _ => {
                return Err(ImageError::Ambiguous {
                    query: query.to_string(),
                    ids: matches
                        .iter()
                        .map(|i| i.config_digest.short().to_string())
                        .collect(),
                })
            }
        }
    }
    match parsed {
        Err(e) if !hexish => Err(e.into()),
        _ => Err(ImageError::NotFound(query.to_string())),
    }
}
