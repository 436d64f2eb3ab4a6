//! An OCI image layout on disk: blobs by digest under `blobs/sha256`, `index.json`
//! naming manifests through the `org.opencontainers.image.ref.name` annotation
//! (holding full references such as `docker.io/library/busybox:latest`).
//!
//! Writes go through a [`Txn`]: blobs are streamed into a private staging directory,
//! verified against their digest, and only renamed into `blobs/` when the transaction
//! commits together with the index entries that reference them. A failed command so
//! leaves nothing behind but its staging directory, which it removes on drop.

mod fsck;
mod gc;
mod index;
mod lock;
mod txn;

pub use fsck::FsckReport;
pub use index::{add_unnamed, set_name, MANIFEST_MEDIA_TYPE};
pub use index::{IndexEntry, REF_NAME_ANNOTATION};
pub use lock::LockGuard;
pub use txn::{BlobInfo, BlobWriter, CommitImage, Txn};

use crate::digest::{Digest, Hasher};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub const DEFAULT_STORE: &str = "/var/lib/sangja/images";
const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_JSON: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
/// Manifests and configs are read into memory; anything larger is not one of them.
pub const JSON_BLOB_LIMIT: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout { path: PathBuf, reason: String },
    #[error("blob {0} is not in the store")]
    MissingBlob(Digest),
    #[error("blob digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest} is {size} bytes, more than the {limit}-byte limit for a JSON document")]
    TooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
    #[error("{path}: invalid JSON at {field}: {message}")]
    BadJson {
        path: String,
        field: String,
        message: String,
    },
}

impl StoreError {
    pub(crate) fn io(what: &'static str, path: &Path, source: io::Error) -> Self {
        StoreError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Parses JSON and names the offending field path in the error.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    what: &str,
    data: &[u8],
) -> Result<T, StoreError> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| StoreError::BadJson {
        path: what.to_string(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the layout at `root`, creating an empty one when the directory is missing or empty.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        fs::create_dir_all(root).map_err(|e| StoreError::io("create store directory", root, e))?;
        let store = Store {
            root: root.to_path_buf(),
        };
        let layout = root.join(LAYOUT_FILE);
        if !layout.exists() {
            // Concurrent first uses of a new store: one initialises it, under the index
            // lock, and the others then find a complete layout.
            let _guard = store.lock_index()?;
            if !layout.exists() {
                let foreign = fs::read_dir(root)
                    .map_err(|e| StoreError::io("read store directory", root, e))?
                    .filter_map(Result::ok)
                    .any(|e| !e.file_name().to_string_lossy().ends_with(".lock"));
                if foreign {
                    return Err(StoreError::NotALayout {
                        path: root.to_path_buf(),
                        reason: "directory is not empty and has no oci-layout file".into(),
                    });
                }
                store.init_layout()?;
            }
        }
        let data = fs::read(&layout).map_err(|e| StoreError::io("read", &layout, e))?;
        let v: serde_json::Value = parse_json(&layout.display().to_string(), &data)?;
        if v.get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none()
        {
            return Err(StoreError::NotALayout {
                path: root.to_path_buf(),
                reason: "oci-layout has no imageLayoutVersion".into(),
            });
        }
        Ok(store)
    }

    /// Creates the layout; the caller holds the index lock.
    fn init_layout(&self) -> Result<(), StoreError> {
        let blobs = self.blobs_dir();
        fs::create_dir_all(&blobs).map_err(|e| StoreError::io("create", &blobs, e))?;
        let tmp = self.tmp_dir();
        fs::create_dir_all(&tmp).map_err(|e| StoreError::io("create", &tmp, e))?;
        if !self.index_path().exists() {
            index::write(self, &[])?;
        }
        let layout = self.root.join(LAYOUT_FILE);
        atomic_write(&self.tmp_dir(), &layout, LAYOUT_JSON.as_bytes())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Shared lock: held by every command that reads or adds content.
    pub fn lock_shared(&self) -> Result<LockGuard, StoreError> {
        lock::acquire(&self.root.join("store.lock"), false)
    }

    /// Exclusive lock: held while removing blobs.
    pub fn lock_exclusive(&self) -> Result<LockGuard, StoreError> {
        lock::acquire(&self.root.join("store.lock"), true)
    }

    fn lock_index(&self) -> Result<LockGuard, StoreError> {
        lock::acquire(&self.root.join("index.lock"), true)
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::MissingBlob(digest.clone())
            } else {
                StoreError::io("open blob", &path, e)
            }
        })
    }

    /// Reads a small blob (manifest, config) whole, checking its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        read_verified(self.open_blob(digest)?, digest, &self.blob_path(digest))
    }

    pub fn begin(&self) -> Result<Txn<'_>, StoreError> {
        Txn::new(self)
    }

    /// Every name and unnamed image in the index, in index order.
    pub fn entries(&self) -> Result<Vec<IndexEntry>, StoreError> {
        index::read(self)
    }

    /// Read-modify-write of the index under the index lock, written atomically.
    pub fn update_index<T>(
        &self,
        f: impl FnOnce(&mut Vec<IndexEntry>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _guard = self.lock_index()?;
        let mut entries = index::read(self)?;
        let out = f(&mut entries)?;
        index::write(self, &entries)?;
        Ok(out)
    }

    /// Removes every blob no index entry reaches, and leftover staging directories.
    /// Needs the exclusive lock, which the caller holds.
    pub fn collect_garbage(&self, _exclusive: &LockGuard) -> Result<gc::GcReport, StoreError> {
        gc::collect(self)
    }

    pub fn fsck(&self) -> Result<FsckReport, StoreError> {
        fsck::check(self)
    }

    /// Blobs a manifest reaches (itself, config, layers), read from the store.
    pub fn manifest_children(&self, manifest: &Digest) -> Result<Vec<(Digest, u64)>, StoreError> {
        let data = self.read_blob(manifest)?;
        manifest_children(&data, manifest)
    }
}

pub use gc::GcReport;

/// Digests and sizes a manifest names: its config and layers.
pub fn manifest_children(data: &[u8], digest: &Digest) -> Result<Vec<(Digest, u64)>, StoreError> {
    let m: oci_spec::image::ImageManifest = parse_json(&format!("manifest {digest}"), data)?;
    let mut out = Vec::new();
    for (i, d) in std::iter::once(m.config())
        .chain(m.layers().iter())
        .enumerate()
    {
        let parsed = d
            .digest()
            .to_string()
            .parse::<Digest>()
            .map_err(|e| StoreError::BadJson {
                path: format!("manifest {digest}"),
                field: if i == 0 {
                    "config.digest".into()
                } else {
                    format!("layers[{}].digest", i - 1)
                },
                message: e.to_string(),
            })?;
        out.push((parsed, d.size()));
    }
    Ok(out)
}

/// Reads all of `file` (bounded by [`JSON_BLOB_LIMIT`]) and checks it hashes to `digest`.
pub(crate) fn read_verified(
    file: File,
    digest: &Digest,
    path: &Path,
) -> Result<Vec<u8>, StoreError> {
    let size = file
        .metadata()
        .map_err(|e| StoreError::io("stat blob", path, e))?
        .len();
    if size > JSON_BLOB_LIMIT {
        return Err(StoreError::TooLarge {
            digest: digest.clone(),
            size,
            limit: JSON_BLOB_LIMIT,
        });
    }
    let mut h = Hasher::new(file);
    let mut data = Vec::with_capacity(size as usize);
    h.read_to_end(&mut data)
        .map_err(|e| StoreError::io("read blob", path, e))?;
    let (_, actual, _) = h.finish();
    if &actual != digest {
        return Err(StoreError::DigestMismatch {
            expected: digest.clone(),
            actual,
        });
    }
    Ok(data)
}

/// Writes `data` to a temp file in `tmp_dir`, fsyncs it and renames it over `dest`.
pub(crate) fn atomic_write(tmp_dir: &Path, dest: &Path, data: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let tmp = tmp_dir.join(unique_name("write"));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, dest)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io("write", dest, e));
    }
    sync_dir(dest.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Best effort: a rename is durable only once its directory is synced.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
