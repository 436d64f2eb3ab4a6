//! Reads an archive stream (a file or stdin, plain or compressed) once, staging every
//! regular file as a blob in the transaction and keeping the small JSON documents in
//! memory. Symlinks inside the archive (docker uses them for repeated layers) are kept
//! as aliases. Nothing is extracted to the filesystem by name.

use super::ArchiveError;
use crate::digest::Digest;
use crate::layer::inroot::InPath;
use crate::layer::Decompressor;
use crate::store::{BlobInfo, Txn};
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
                    let info = txn.write_blob(&mut entry, None).map_err(|e| match e {
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
    use super::resolve_relative;

    #[test]
    fn relative_links() {
        assert_eq!(resolve_relative("abc", "../def/layer.tar"), "def/layer.tar");
        assert_eq!(resolve_relative("", "x/y"), "x/y");
        assert_eq!(resolve_relative("a/b", "../../../c"), "c");
    }
}
