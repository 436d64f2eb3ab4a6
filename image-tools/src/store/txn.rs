//! A write transaction: blobs staged and verified in a private directory, made visible
//! all at once with the index entries that name them.

use super::index;
use super::{read_verified, sync_dir, unique_name, LockGuard, Store, StoreError};
use crate::digest::{Digest, Hasher};
use crate::reference::Reference;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// An image to record on commit: its manifest (staged or already stored) and its names.
#[derive(Debug, Clone)]
pub struct CommitImage {
    pub manifest: BlobInfo,
    pub media_type: String,
    pub names: Vec<Reference>,
}

pub struct Txn<'a> {
    store: &'a Store,
    dir: PathBuf,
    staged: HashMap<Digest, PathBuf>,
    _lock: LockGuard,
}

/// A blob being streamed to disk; hand it back to [`Txn::finish_blob`].
pub struct BlobWriter {
    inner: Hasher<BufWriter<File>>,
    path: PathBuf,
    /// Bytes written when writeback was last started.
    kicked: u64,
}

/// How often a blob being written has its writeback started (see [`BlobWriter::write`]).
const WRITEBACK_EVERY: u64 = 1 << 20;

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.inner.count() - self.kicked >= WRITEBACK_EVERY {
            self.kicked = self.inner.count();
            // The disk starts on what has arrived while the rest is still on the wire, so
            // the sync that makes the blob durable (finish_blob) finds little left to wait
            // for: a pull's fsyncs were 80 of its 134 ms here. Only a hint: errors show up
            // in that sync.
            let fd = self.inner.inner_mut().get_ref().as_raw_fd();
            // SAFETY: sync_file_range on a descriptor we own; it reads no memory of ours.
            unsafe { libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter {
    /// Drops a blob that will not be finished (a failed transfer), removing its file.
    pub fn discard(self) {
        let BlobWriter { inner, path, .. } = self;
        drop(inner);
        let _ = fs::remove_file(&path);
    }
}

impl<'a> Txn<'a> {
    pub(super) fn new(store: &'a Store) -> Result<Self, StoreError> {
        let lock = store.lock_shared()?;
        let dir = store.tmp_dir().join(unique_name("txn"));
        fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io("create staging directory", &dir, e))?;
        Ok(Txn {
            store,
            dir,
            staged: HashMap::new(),
            _lock: lock,
        })
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    pub fn blob_writer(&mut self) -> Result<BlobWriter, StoreError> {
        let path = self.dir.join(unique_name("blob"));
        let file = File::create(&path).map_err(|e| StoreError::io("create", &path, e))?;
        Ok(BlobWriter {
            inner: Hasher::new(BufWriter::with_capacity(1 << 16, file)),
            path,
            kicked: 0,
        })
    }

    /// Closes a streamed blob: checks it against `expected` (digest and size) when given,
    /// and stages it under its digest.
    pub fn finish_blob(
        &mut self,
        writer: BlobWriter,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<BlobInfo, StoreError> {
        let BlobWriter { inner, path, .. } = writer;
        let (buf, digest, size) = inner.finish();
        let file = buf
            .into_inner()
            .map_err(|e| StoreError::io("write", &path, e.into_error()))?;
        let check = || -> Result<(), StoreError> {
            if let Some((want, want_size)) = expected {
                if *want != digest {
                    return Err(StoreError::DigestMismatch {
                        expected: want.clone(),
                        actual: digest.clone(),
                    });
                }
                if let Some(want_size) = want_size {
                    if want_size != size {
                        return Err(StoreError::SizeMismatch {
                            digest: digest.clone(),
                            expected: want_size,
                            actual: size,
                        });
                    }
                }
            }
            // Data and size are what a reader needs; the rename and the directory sync at
            // commit make the name durable.
            file.sync_data()
                .map_err(|e| StoreError::io("sync", &path, e))
        };
        if let Err(e) = check() {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        let dest = self.dir.join(digest.hex());
        fs::rename(&path, &dest).map_err(|e| StoreError::io("rename", &path, e))?;
        self.staged.insert(digest.clone(), dest);
        Ok(BlobInfo { digest, size })
    }

    /// Streams `reader` into a staged blob.
    pub fn write_blob(
        &mut self,
        mut reader: impl Read,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<BlobInfo, StoreError> {
        let mut w = self.blob_writer()?;
        if let Err(e) = io::copy(&mut reader, &mut w) {
            let path = w.path.clone();
            drop(w);
            let _ = fs::remove_file(&path);
            return Err(StoreError::io("write blob from", &path, e));
        }
        self.finish_blob(w, expected)
    }

    /// Takes over blobs that an earlier command verified and staged but never committed
    /// because it was killed (its staging directory names a process that is gone), so an
    /// interrupted pull resumes from them. Each is hashed again before it is taken.
    pub fn adopt_leftovers(&mut self, wanted: &[(Digest, u64)]) -> Vec<Digest> {
        let mut adopted = Vec::new();
        let Ok(dirs) = fs::read_dir(self.store.tmp_dir()) else {
            return adopted;
        };
        let own = std::process::id().to_string();
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().to_string();
            let Some(pid) = name.strip_prefix("txn-").and_then(|r| r.split('-').next()) else {
                continue;
            };
            if pid == own || pid.is_empty() || std::path::Path::new("/proc").join(pid).exists() {
                continue;
            }
            for (digest, size) in wanted {
                if self.has_blob(digest) {
                    continue;
                }
                let path = dir.path().join(digest.hex());
                let Ok(file) = File::open(&path) else {
                    continue;
                };
                let mut h = Hasher::new(file);
                if io::copy(&mut h, &mut io::sink()).is_err() {
                    continue;
                }
                let (_, actual, len) = h.finish();
                if actual != *digest || len != *size {
                    continue;
                }
                let dest = self.dir.join(digest.hex());
                if fs::rename(&path, &dest).is_ok() {
                    self.staged.insert(digest.clone(), dest);
                    adopted.push(digest.clone());
                }
            }
            // A transfer cut off mid-blob cannot be resumed, and copies of blobs this
            // transaction already has are of no use: drop both.
            if let Ok(files) = fs::read_dir(dir.path()) {
                for f in files.flatten() {
                    let name = f.file_name().to_string_lossy().to_string();
                    let redundant = Digest::from_hex(&name).is_ok_and(|d| self.has_blob(&d));
                    if name.starts_with("blob-") || redundant {
                        let _ = fs::remove_file(f.path());
                    }
                }
            }
            let _ = fs::remove_dir(dir.path());
        }
        adopted
    }

    pub fn write_bytes(&mut self, data: &[u8]) -> Result<BlobInfo, StoreError> {
        self.write_blob(data, None)
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.staged.contains_key(digest) || self.store.has_blob(digest)
    }

    fn path_of(&self, digest: &Digest) -> PathBuf {
        self.staged
            .get(digest)
            .cloned()
            .unwrap_or_else(|| self.store.blob_path(digest))
    }

    /// Opens a blob staged here or already in the store.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.path_of(digest);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::MissingBlob(digest.clone())
            } else {
                StoreError::io("open blob", &path, e)
            }
        })
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        read_verified(self.open_blob(digest)?, digest, &self.path_of(digest))
    }

    /// Moves the blobs the given images reach into the store and names the images.
    /// Staged blobs no image reaches are dropped with the staging directory.
    pub fn commit(self, images: &[CommitImage]) -> Result<(), StoreError> {
        let mut needed = Vec::new();
        let mut configs = Vec::new();
        for image in images {
            let data = self.read_blob(&image.manifest.digest)?;
            needed.push((image.manifest.digest.clone(), image.manifest.size));
            let children = super::manifest_children(&data, &image.manifest.digest)?;
            configs.push(children[0].0.clone());
            needed.extend(children);
        }
        for (digest, size) in &needed {
            let path = self.path_of(digest);
            let actual = fs::metadata(&path)
                .map_err(|_| StoreError::MissingBlob(digest.clone()))?
                .len();
            if actual != *size {
                return Err(StoreError::SizeMismatch {
                    digest: digest.clone(),
                    expected: *size,
                    actual,
                });
            }
        }
        for (digest, _) in &needed {
            if let Some(path) = self.staged.get(digest) {
                let dest = self.store.blob_path(digest);
                if !dest.exists() {
                    fs::rename(path, &dest)
                        .map_err(|e| StoreError::io("rename blob into", &dest, e))?;
                }
            }
        }
        sync_dir(&self.store.blobs_dir());
        crate::crash_point::reach("commit-blobs-moved");
        let store = self.store;
        self.store.update_index(|entries| {
            for (image, config) in images.iter().zip(&configs) {
                let m = &image.manifest;
                if image.names.is_empty() {
                    index::add_unnamed(entries, &m.digest, m.size, &image.media_type);
                }
                for name in &image.names {
                    index::set_name(entries, name, &m.digest, m.size, &image.media_type);
                }
                // Another manifest of the same image (same config, e.g. recompressed
                // layers) left without a name is the same image to a user: drop it.
                entries.retain(|e| {
                    e.name.is_some()
                        || e.digest == m.digest
                        || store
                            .manifest_children(&e.digest)
                            .map(|c| c[0].0 != *config)
                            .unwrap_or(true)
                });
            }
            Ok(())
        })?;
        crate::crash_point::reach("commit-index-written");
        Ok(())
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove staging directory");
        }
    }
}
