//! `index.json`: one descriptor per name (several names may share a manifest), and
//! one unnamed descriptor per image that has lost all its names (docker's `<none>`).

use super::{atomic_write, parse_json, Store, StoreError};
use crate::digest::Digest;
use crate::reference::Reference;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;

pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub name: Option<Reference>,
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexFile {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<DescriptorJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorJson {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

pub(super) fn read(store: &Store) -> Result<Vec<IndexEntry>, StoreError> {
    let path = store.index_path();
    let data = fs::read(&path).map_err(|e| StoreError::io("read", &path, e))?;
    let what = path.display().to_string();
    let file: IndexFile = parse_json(&what, &data)?;
    file.manifests
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let bad = |field: &str, message: String| StoreError::BadJson {
                path: what.clone(),
                field: format!("manifests[{i}].{field}"),
                message,
            };
            let digest = d
                .digest
                .parse::<Digest>()
                .map_err(|e| bad("digest", e.to_string()))?;
            let name = match d.annotations.get(REF_NAME_ANNOTATION) {
                Some(n) => Some(n.parse::<Reference>().map_err(|e| {
                    bad(
                        &format!("annotations[{REF_NAME_ANNOTATION:?}]"),
                        e.to_string(),
                    )
                })?),
                None => None,
            };
            Ok(IndexEntry {
                name,
                digest,
                size: d.size,
                media_type: d.media_type,
            })
        })
        .collect()
}

pub(super) fn write(store: &Store, entries: &[IndexEntry]) -> Result<(), StoreError> {
    let file = IndexFile {
        schema_version: 2,
        media_type: Some(INDEX_MEDIA_TYPE.to_string()),
        manifests: entries
            .iter()
            .map(|e| DescriptorJson {
                media_type: e.media_type.clone(),
                digest: e.digest.to_string(),
                size: e.size,
                annotations: e
                    .name
                    .iter()
                    .map(|n| (REF_NAME_ANNOTATION.to_string(), n.to_string()))
                    .collect(),
            })
            .collect(),
    };
    let data = serde_json::to_vec_pretty(&file).expect("index serialises");
    atomic_write(&store.tmp_dir(), &store.index_path(), &data)
}

/// Points `name` at a manifest. An image that loses its last name stays as an unnamed
/// entry (docker's dangling image) until `rm` or `prune`.
pub fn set_name(
    entries: &mut Vec<IndexEntry>,
    name: &Reference,
    digest: &Digest,
    size: u64,
    media_type: &str,
) {
    if let Some(pos) = entries.iter().position(|e| e.name.as_ref() == Some(name)) {
        let old = entries.remove(pos);
        if old.digest != *digest && !entries.iter().any(|e| e.digest == old.digest) {
            entries.push(IndexEntry { name: None, ..old });
        }
    }
    entries.retain(|e| !(e.name.is_none() && e.digest == *digest));
    entries.push(IndexEntry {
        name: Some(name.clone()),
        digest: digest.clone(),
        size,
        media_type: media_type.to_string(),
    });
}

/// Records an image without a name unless the index already holds it.
pub fn add_unnamed(entries: &mut Vec<IndexEntry>, digest: &Digest, size: u64, media_type: &str) {
    if !entries.iter().any(|e| e.digest == *digest) {
        entries.push(IndexEntry {
            name: None,
            digest: digest.clone(),
            size,
            media_type: media_type.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::from_hex(&c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn retag_leaves_old_image_dangling() {
        let name: Reference = "docker.io/library/a:latest".parse().unwrap();
        let mut v = Vec::new();
        set_name(&mut v, &name, &d('1'), 1, MANIFEST_MEDIA_TYPE);
        set_name(&mut v, &name, &d('2'), 1, MANIFEST_MEDIA_TYPE);
        assert_eq!(v.len(), 2);
        assert!(v.iter().any(|e| e.name.is_none() && e.digest == d('1')));
        assert!(v
            .iter()
            .any(|e| e.name.as_ref() == Some(&name) && e.digest == d('2')));
        // Naming the dangling image again replaces its unnamed entry.
        let other: Reference = "docker.io/library/b:latest".parse().unwrap();
        set_name(&mut v, &other, &d('1'), 1, MANIFEST_MEDIA_TYPE);
        assert_eq!(v.len(), 2);
        add_unnamed(&mut v, &d('1'), 1, MANIFEST_MEDIA_TYPE);
        assert_eq!(v.len(), 2);
    }
}
