//! Verifies every blob against its digest and every index entry against its blobs.

use super::{Store, StoreError};
use crate::digest::{Digest, Hasher};
use std::fs::{self, File};
use std::io;

#[derive(Debug, Default)]
pub struct FsckReport {
    pub blobs_checked: usize,
    pub problems: Vec<String>,
}

impl FsckReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

pub(super) fn check(store: &Store) -> Result<FsckReport, StoreError> {
    let mut report = FsckReport::default();
    let dir = store.blobs_dir();
    for item in fs::read_dir(&dir).map_err(|e| StoreError::io("read", &dir, e))? {
        let item = item.map_err(|e| StoreError::io("read", &dir, e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let Ok(expected) = Digest::from_hex(&name) else {
            report
                .problems
                .push(format!("blobs/sha256/{name}: not a sha256 digest name"));
            continue;
        };
        let path = item.path();
        let file = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
        let mut h = Hasher::new(file);
        io::copy(&mut h, &mut io::sink()).map_err(|e| StoreError::io("read", &path, e))?;
        let (_, actual, _) = h.finish();
        report.blobs_checked += 1;
        if actual != expected {
            report
                .problems
                .push(format!("blobs/sha256/{name}: content hashes to {actual}"));
        }
    }
    for entry in store.entries()? {
        let label = match &entry.name {
            Some(n) => n.to_string(),
            None => entry.digest.to_string(),
        };
        match blob_size(store, &entry.digest) {
            None => {
                report
                    .problems
                    .push(format!("{label}: manifest {} is missing", entry.digest));
                continue;
            }
            Some(size) if size != entry.size => report.problems.push(format!(
                "{label}: manifest {} is {size} bytes, index says {}",
                entry.digest, entry.size
            )),
            Some(_) => {}
        }
        match store.manifest_children(&entry.digest) {
            Err(e) => report.problems.push(format!("{label}: {e}")),
            Ok(children) => {
                for (digest, size) in children {
                    match blob_size(store, &digest) {
                        None => report
                            .problems
                            .push(format!("{label}: blob {digest} is missing")),
                        Some(actual) if actual != size => report.problems.push(format!(
                            "{label}: blob {digest} is {actual} bytes, manifest says {size}"
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    Ok(report)
}

fn blob_size(store: &Store, digest: &Digest) -> Option<u64> {
    fs::metadata(store.blob_path(digest)).ok().map(|m| m.len())
}
