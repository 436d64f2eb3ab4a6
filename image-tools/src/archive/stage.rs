//! Reads an archive stream (a file or stdin, plain or compressed) once, staging every
//! regular file as a blob in the transaction and keeping the small JSON documents in
//! memory. Symlinks inside the archive (docker uses them for repeated layers) are kept
//! as aliases. Nothing is extracted to the filesystem by name.

use super::ArchiveError;
use crate::digest::Digest;
use crate::layer::inroot::InPath;
use crate::layer::Decompressor;
use crate::store::{BlobInfo, StoreError, Txn};
use std::collections::HashMap;
use std::io::{BufReader, Read};

/// Documents read into memory rather than staged.
const SMALL_DOCS: [&str; 4] = ["manifest.json", "repositories", "index.json", "oci-layout"];
const SMALL_DOC_LIMIT: u64 = 16 << 20;

#[derive(Default)]
pub struct Staged {
    pub files: HashMap<String, BlobInfo>,
    pub docs: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
}

impl Staged {
    /// The blob at an archive path, following archive-internal symlinks.
    pub fn file(&self, path: &str) -> Result<&BlobInfo, ArchiveError> {
        let mut p = normalize(path)?;
        for _ in 0..16 {
            if let Some(info) = self.files.get(&p) {
                return Ok(info);
            }
            match self.links.get(&p) {
                Some(target) => p = target.clone(),
                None => break,
            }
        }
        Err(ArchiveError::Missing(path.to_string()))
    }

    /// The blob `digest` as an OCI layout names it, checked against its content.
    pub fn blob(&self, digest: &Digest) -> Result<&BlobInfo, ArchiveError> {
        let info = self.file(&format!("blobs/sha256/{}", digest.hex()))?;
        if info.digest != *digest {
            return Err(ArchiveError::Corrupt(format!(
                "blobs/sha256/{} hashes to {}",
                digest.hex(),
                info.digest
            )));
        }
        Ok(info)
    }
}

fn normalize(path: &str) -> Result<String, ArchiveError> {
    let p = InPath::parse(path.as_bytes())
        .map_err(|e| ArchiveError::Corrupt(format!("entry {path:?}: {e}")))?;
    Ok(p.as_relative())
}

pub fn stage<R: Read>(txn: &mut Txn<'_>, input: R) -> Result<Staged, ArchiveError> {
    let (reader, _) = Decompressor::new(BufReader::with_capacity(1 << 16, input))
        .map_err(|e| ArchiveError::Corrupt(format!("reading archive: {e}")))?;
    let mut archive = tar::Archive::new(reader);
    let mut staged = Staged::default();
    let corrupt = |e: std::io::Error| ArchiveError::Corrupt(format!("reading archive: {e}"));
    let mut any = false;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        any = true;
        let raw = entry.path_bytes().into_owned();
        let path = normalize(&String::from_utf8_lossy(&raw))?;
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if SMALL_DOCS.contains(&path.as_str()) {
                    if entry.size() > SMALL_DOC_LIMIT {
                        return Err(ArchiveError::Corrupt(format!(
                            "{path} is larger than {SMALL_DOC_LIMIT} bytes"
                        )));
                    }
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).map_err(corrupt)?;
                    staged.docs.insert(path, data);
                } else {
                    let known = named_digest(&path).filter(|d| {
                        std::fs::metadata(txn.store().blob_path(d))
                            .is_ok_and(|m| m.len() == entry.size())
                    });
                    let written = match known {
                        Some(d) => stage_known(txn, &mut entry, &d),
                        None => txn.write_blob(&mut entry, None),
                    };
                    let info = written.map_err(|e| match e {
                        crate::store::StoreError::Io { source, .. }
                            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
                        {
                            ArchiveError::Corrupt(format!("entry {path}: archive is truncated"))
                        }
                        other => other.into(),
                    })?;
                    staged.files.insert(path, info);
                }
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                // Symlink targets are relative to the link's directory; hard link targets to the archive root.
                let resolved = if entry.header().entry_type() == tar::EntryType::Symlink
                    && !target.starts_with('/')
                {
                    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    resolve_relative(dir, &target)
                } else {
                    target
                };
                if let Ok(t) = normalize(&resolved) {
                    staged.links.insert(path, t);
                }
            }
            _ => {}
        }
    }
    if !any {
        return Err(ArchiveError::Corrupt("archive is empty".into()));
    }
    Ok(staged)
}

/// The digest an archive path names its content by: `blobs/sha256/<hex>` (OCI layout,
/// docker 25+), `<hex>.json` (a docker-archive config) or `<hex>/layer.tar` (a layer
/// named by its diff id, as `save` writes). Only a hint: [`stage_known`] compares.
fn named_digest(path: &str) -> Option<Digest> {
    let hex = path
        .strip_prefix("blobs/sha256/")
        .or_else(|| path.strip_suffix(".json"))
        .or_else(|| path.strip_suffix("/layer.tar"))?;
    Digest::from_hex(hex).ok()
}

/// An entry that the store may hold already as blob `digest` (same name, same size):
/// compared with the stored blob as it streams by and written nowhere while they agree.
/// Where they differ, the agreeing prefix (from the stored blob) and the rest of the
/// entry are staged as a new blob under its own digest.
fn stage_known(
    txn: &mut Txn<'_>,
    entry: &mut impl Read,
    digest: &Digest,
) -> Result<BlobInfo, StoreError> {
    let path = txn.store().blob_path(digest);
    let mut stored = txn.store().open_blob(digest)?;
    let mut ours = vec![0u8; 64 << 10];
    let mut theirs = vec![0u8; 64 << 10];
    let mut offset = 0u64;
    let read_err = |e: std::io::Error| StoreError::io("read archive entry", &path, e);
    let diverged_at = loop {
        let n = read_full(entry, &mut ours).map_err(read_err)?;
        let m = read_full(&mut stored, &mut theirs[..n.max(1)])
            .map_err(|e| StoreError::io("read blob", &path, e))?;
        if n == 0 && m == 0 {
            return Ok(BlobInfo {
                digest: digest.clone(),
                size: offset,
            });
        }
        if n != m || ours[..n] != theirs[..n] {
            break n;
        }
        offset += n as u64;
    };
    let mut w = txn.blob_writer()?;
    let copied = std::io::copy(&mut txn.store().open_blob(digest)?.take(offset), &mut w)
        .and_then(|_| std::io::Write::write_all(&mut w, &ours[..diverged_at]))
        .and_then(|_| std::io::copy(entry, &mut w));
    if let Err(e) = copied {
        return Err(StoreError::io("write blob from", &path, e));
    }
    txn.finish_blob(w, None)
}

/// Reads until `buf` is full or the end; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn resolve_relative(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Files in the store's staging area (every transaction's directory).
    fn staged_files(store: &Store) -> usize {
        let Ok(dirs) = std::fs::read_dir(store.tmp_dir()) else {
            return 0;
        };
        dirs.flatten()
            .filter_map(|d| std::fs::read_dir(d.path()).ok())
            .map(|f| f.count())
            .sum()
    }

    #[test]
    fn blobs_already_stored_are_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let known = b"a layer the store has".repeat(5000);
        let digest = Digest::of_bytes(&known);
        // The store holds `known` (put where a commit puts it).
        let dest = store.blob_path(&digest);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, &known).unwrap();
        // Same size, other bytes, under the known digest's name: staged as what it is.
        let mut liar = known.clone();
        let last = liar.len() - 1;
        liar[last] ^= 1;
        let other_name = format!("{}/layer.tar", digest.hex());
        let blob_name = format!("blobs/sha256/{}", digest.hex());
        let input = tar_of(&[
            (&blob_name, &known),
            (&other_name, &liar),
            ("x.bin", b"new"),
        ]);
        let mut txn = store.begin().unwrap();
        let staged = stage(&mut txn, &input[..]).unwrap();
        let same = staged.file(&blob_name).unwrap();
        assert_eq!(same.digest, digest);
        assert_eq!(same.size, known.len() as u64);
        let differs = staged.file(&other_name).unwrap();
        assert_eq!(differs.digest, Digest::of_bytes(&liar));
        assert_eq!(txn.read_blob(&differs.digest).unwrap(), liar);
        // Written: the liar and x.bin, not the known blob.
        assert_eq!(staged_files(&store), 2);
    }

    #[test]
    fn relative_links() {
        assert_eq!(resolve_relative("abc", "../def/layer.tar"), "def/layer.tar");
        assert_eq!(resolve_relative("", "x/y"), "x/y");
        assert_eq!(resolve_relative("a/b", "../../../c"), "c");
    }
}
