//! Layers: compressed or plain tars, applied safely onto a directory, or made from one.

pub mod compression;
pub mod extract;
pub mod inroot;
pub mod pack;
pub mod xattr;

pub use compression::{Compression, Decompressor};
pub use extract::ApplyStats;
pub use inroot::Root;

use crate::digest::{Digest, Hasher};
use nix::errno::Errno;
use std::io::{self, BufReader, Read};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("reading layer tar: {0}")]
    Tar(#[source] io::Error),
    #[error("layer entry {entry:?}: {op}: {source}")]
    Entry {
        entry: String,
        op: String,
        #[source]
        source: io::Error,
    },
    #[error("layer entry {entry:?} refused: {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("layer entry {entry:?}: unsupported tar entry type {kind}")]
    Unsupported { entry: String, kind: String },
    #[error("{what} mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        what: &'static str,
        expected: Digest,
        actual: Digest,
    },
}

impl LayerError {
    pub(crate) fn tar(e: io::Error) -> Self {
        LayerError::Tar(e)
    }
    pub(crate) fn entry(entry: &str, op: &str, source: io::Error) -> Self {
        LayerError::Entry {
            entry: entry.to_string(),
            op: op.to_string(),
            source,
        }
    }
    pub(crate) fn errno(entry: &str, op: &str, e: Errno) -> Self {
        Self::entry(entry, op, io::Error::from(e))
    }
}

/// What reading a whole layer blob established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigests {
    /// Digest and size of the blob as stored (compressed or not).
    pub digest: Digest,
    pub size: u64,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    pub compression: Compression,
}

/// Streams a layer blob through decompression, handing the tar stream to `consume`,
/// then drains both streams so the digests cover every byte.
pub fn read_blob<R: Read, T>(
    blob: R,
    consume: impl FnOnce(&mut dyn Read) -> Result<T, LayerError>,
) -> Result<(T, LayerDigests), LayerError> {
    let outer = BufReader::with_capacity(1 << 16, Hasher::new(blob));
    let (decomp, compression) = Decompressor::new(outer).map_err(LayerError::Tar)?;
    let mut inner = Hasher::new(decomp);
    let out = consume(&mut inner)?;
    io::copy(&mut inner, &mut io::sink()).map_err(LayerError::Tar)?;
    let (decomp, diff_id, _) = inner.finish();
    let mut outer = decomp.into_inner();
    io::copy(&mut outer, &mut io::sink()).map_err(LayerError::Tar)?;
    let (_, digest, size) = outer.into_inner().finish();
    Ok((
        out,
        LayerDigests {
            digest,
            size,
            diff_id,
            compression,
        },
    ))
}

/// Applies a layer blob onto `root`, checking the blob digest and the diff id when given.
/// On a mismatch the caller must discard `root`: the entries were already written.
pub fn apply_blob<R: Read>(
    root: &Root,
    blob: R,
    digest: Option<&Digest>,
    diff_id: Option<&Digest>,
) -> Result<ApplyStats, LayerError> {
    let (stats, got) = read_blob(blob, |tar| extract::apply(root, tar))?;
    check(&got, digest, diff_id)?;
    Ok(stats)
}

/// Compares what was read with what the manifest and config promise.
pub fn check(
    got: &LayerDigests,
    digest: Option<&Digest>,
    diff_id: Option<&Digest>,
) -> Result<(), LayerError> {
    if let Some(want) = digest {
        if *want != got.digest {
            return Err(LayerError::DigestMismatch {
                what: "layer digest",
                expected: want.clone(),
                actual: got.digest.clone(),
            });
        }
    }
    if let Some(want) = diff_id {
        if *want != got.diff_id {
            return Err(LayerError::DigestMismatch {
                what: "layer diff id",
                expected: want.clone(),
                actual: got.diff_id.clone(),
            });
        }
    }
    Ok(())
}
