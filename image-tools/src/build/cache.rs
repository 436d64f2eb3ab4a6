//! The layer cache: `build-cache/<key>.json` in the store, one file per step that
//! changed the filesystem, naming the layer it made (or none, for a step whose upper
//! dir stayed empty). The key is the digest of the parent's key (the base image id at
//! the bottom), the instruction after substitution, the environment, user, working dir
//! and network it ran with (build args included), and for COPY/ADD the content and
//! metadata of every source. An entry whose layer blob is gone is a miss; `prune`
//! drops those.

use crate::digest::Digest;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub media_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub layer: Option<Layer>,
    /// When the step first ran (its history entry keeps that time).
    pub created: String,
}

pub fn dir(store: &Store) -> PathBuf {
    store.root().join("build-cache")
}

/// The key of a step: the digest of its description.
pub fn key(parts: &serde_json::Value) -> String {
    Digest::of_bytes(&serde_json::to_vec(parts).expect("json serialises"))
        .hex()
        .to_string()
}

fn layer_present(store: &Store, layer: &Option<Layer>) -> bool {
    match layer {
        None => true,
        Some(l) => l.digest.parse::<Digest>().is_ok_and(|d| store.has_blob(&d)),
    }
}

pub fn get(store: &Store, key: &str) -> Option<Entry> {
    let data = fs::read(dir(store).join(format!("{key}.json"))).ok()?;
    let entry: Entry = serde_json::from_slice(&data).ok()?;
    layer_present(store, &entry.layer).then_some(entry)
}

/// Records a step (after the image naming its layer was committed).
pub fn put(store: &Store, key: &str, entry: &Entry) -> std::io::Result<()> {
    let d = dir(store);
    fs::create_dir_all(&d)?;
    let tmp = d.join(format!(".{}", crate::store::unique_name("entry")));
    fs::write(&tmp, serde_json::to_vec(entry).expect("entry serialises"))?;
    fs::rename(&tmp, d.join(format!("{key}.json")))
}

/// Removes entries whose layer is no longer in the store (after garbage collection)
/// and half-written ones. Returns how many went.
pub fn prune(store: &Store) -> std::io::Result<usize> {
    let d = dir(store);
    let entries = match fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let keep = fs::read(e.path())
            .ok()
            .and_then(|data| serde_json::from_slice::<Entry>(&data).ok())
            .is_some_and(|entry| layer_present(store, &entry.layer));
        if !keep {
            fs::remove_file(e.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
