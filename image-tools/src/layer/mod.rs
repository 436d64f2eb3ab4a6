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
///
/// Reading, decompressing and both digests run on a second thread that hands the tar
/// stream over in chunks: inflating and hashing are nearly all of an unpack's user time,
/// creating the files nearly all of its system time, and on two cores they overlap.
pub fn apply_blob<R: Read + Send>(
    root: &Root,
    blob: R,
    digest: Option<&Digest>,
    diff_id: Option<&Digest>,
) -> Result<ApplyStats, LayerError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(CHUNKS_IN_FLIGHT);
    let (stats, read) = std::thread::scope(|s| {
        let reader = s.spawn(move || read_blob(blob, |tar| send_chunks(tar, &tx)));
        let stats = extract::apply(root, Chunks::new(rx));
        // The reader drains the blob whatever the extraction made of it, so the digests
        // cover every byte; a panic there is a bug, not bad input.
        let read = reader.join().expect("layer reader thread panicked");
        (stats, read)
    });
    // The extraction's error first: it names the entry, and a read error reached it too.
    let stats = stats?;
    let ((), got) = read?;
    check(&got, digest, diff_id)?;
    Ok(stats)
}

/// Chunk size and queue depth between the reader thread and the extraction: 1 MiB at most
/// in flight.
const CHUNK: usize = 128 << 10;
const CHUNKS_IN_FLIGHT: usize = 8;

type Chunk = io::Result<Vec<u8>>;

/// The reader thread's side: the tar stream in chunks. A read error goes to the extraction
/// (which reports it against the entry it was reading) and ends the stream; once the
/// extraction has stopped listening the rest is left to [`read_blob`]'s drain.
fn send_chunks(
    tar: &mut dyn Read,
    tx: &std::sync::mpsc::SyncSender<Chunk>,
) -> Result<(), LayerError> {
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = match read_full(tar, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                let _ = tx.send(Err(e));
                return Err(LayerError::tar(copy));
            }
        };
        if n == 0 {
            return Ok(());
        }
        buf.truncate(n);
        if tx.send(Ok(buf)).is_err() {
            return Ok(());
        }
    }
}

/// Reads until `buf` is full or the stream ends; the count read (0 at the end).
pub(crate) fn read_full(from: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match from.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The extraction's side: a reader over the chunks the reader thread sends.
struct Chunks {
    rx: std::sync::mpsc::Receiver<Chunk>,
    cur: Vec<u8>,
    pos: usize,
}

impl Chunks {
    fn new(rx: std::sync::mpsc::Receiver<Chunk>) -> Self {
        Chunks {
            rx,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The sender is gone: the stream ended.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A gzip layer of `files` (name, content) as tar writes it: padded to its record size,
    /// so bytes follow the end-of-archive marker that the extraction never reads.
    fn header(size: usize, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_size(size as u64);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    fn layer(files: &[(&str, Vec<u8>)]) -> (Vec<u8>, Vec<u8>) {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = header(data.len(), tar::EntryType::Regular);
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        (tar, gz.finish().unwrap())
    }

    fn root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn digests_cover_the_whole_stream_across_chunks() {
        // Several chunks' worth, and content that is not all zeros (holes are seeked).
        let big: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let (tar, gz) = layer(&[("a/big", big.clone()), ("a/small", b"hi".to_vec())]);
        let (dir, root) = root();
        let digest = Digest::of_bytes(&gz);
        let diff_id = Digest::of_bytes(&tar);
        let stats = apply_blob(&root, &gz[..], Some(&digest), Some(&diff_id)).unwrap();
        assert_eq!(stats.entries, 2);
        assert_eq!(std::fs::read(dir.path().join("a/big")).unwrap(), big);
        assert_eq!(std::fs::read(dir.path().join("a/small")).unwrap(), b"hi");
    }

    #[test]
    fn a_wrong_diff_id_is_found() {
        let (_, gz) = layer(&[("f", b"x".to_vec())]);
        let (_dir, root) = root();
        let wrong = Digest::of_bytes(b"something else");
        match apply_blob(&root, &gz[..], None, Some(&wrong)) {
            Err(LayerError::DigestMismatch { what, .. }) => assert_eq!(what, "layer diff id"),
            other => panic!("expected a diff id mismatch, got {other:?}"),
        }
    }

    #[test]
    fn a_truncated_blob_is_an_error() {
        let big: Vec<u8> = (0..2 * CHUNK).map(|i| (i * 7 % 253) as u8).collect();
        let (_, gz) = layer(&[("f", big)]);
        let (_dir, root) = root();
        let cut = &gz[..gz.len() / 2];
        assert!(apply_blob(&root, cut, None, None).is_err());
    }

    #[test]
    fn an_early_refusal_does_not_wait_on_the_reader() {
        // The first entry is refused while far more than the queue holds is still unread:
        // the reader must not block on a listener that is gone.
        let big: Vec<u8> = (0..(CHUNKS_IN_FLIGHT + 4) * CHUNK)
            .map(|i| (i % 249) as u8)
            .collect();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(1, tar::EntryType::new(b'b'));
        b.append_data(&mut h, "odd", &b"x"[..]).unwrap();
        let mut h = header(big.len(), tar::EntryType::Regular);
        b.append_data(&mut h, "big", &big[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let (_dir, root) = root();
        match apply_blob(&root, &tar[..], None, None) {
            Err(LayerError::Unsupported { entry, .. }) => assert_eq!(entry, "odd"),
            other => panic!("expected the odd entry refused, got {other:?}"),
        }
    }
}
