//! Garbage collection: blobs that no index entry reaches, and staging leftovers.

use super::{Store, StoreError};
use crate::digest::Digest;
use std::collections::HashSet;
use std::fs;

#[derive(Debug, Default)]
pub struct GcReport {
    pub removed: Vec<Digest>,
    pub bytes: u64,
}

pub(super) fn collect(store: &Store) -> Result<GcReport, StoreError> {
    let mut live = HashSet::new();
    for entry in store.entries()? {
        live.insert(entry.digest.clone());
        // A manifest that cannot be read keeps only itself alive; fsck reports it.
        if let Ok(children) = store.manifest_children(&entry.digest) {
            live.extend(children.into_iter().map(|(d, _)| d));
        }
    }
    let mut report = GcReport::default();
    let dir = store.blobs_dir();
    for item in fs::read_dir(&dir).map_err(|e| StoreError::io("read", &dir, e))? {
        let item = item.map_err(|e| StoreError::io("read", &dir, e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let keep = Digest::from_hex(&name)
            .map(|d| live.contains(&d))
            .unwrap_or(false);
        if !keep {
            let size = item.metadata().map(|m| m.len()).unwrap_or(0);
            let path = item.path();
            fs::remove_file(&path).map_err(|e| StoreError::io("remove blob", &path, e))?;
            crate::crash_point::reach("gc-blob-removed");
            tracing::debug!(blob = %name, "removed unreferenced blob");
            if let Ok(d) = Digest::from_hex(&name) {
                report.removed.push(d);
            }
            report.bytes += size;
        }
    }
    // Staging directories belong to transactions, which hold the shared lock: under the
    // exclusive lock any that remain were left by a crashed command.
    let tmp = store.tmp_dir();
    for item in fs::read_dir(&tmp).map_err(|e| StoreError::io("read", &tmp, e))? {
        let item = item.map_err(|e| StoreError::io("read", &tmp, e))?;
        let path = item.path();
        let result = if item.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        result.map_err(|e| StoreError::io("remove leftover", &path, e))?;
    }
    super::sync_dir(&dir);
    Ok(report)
}
