//! What COPY and ADD write, as a tar stream applied onto the step's overlay (so every
//! destination path is resolved inside the rootfs by the layer extractor): context
//! entries at their destinations with owner 0:0 or `--chown`, `--chmod`, mtimes kept;
//! ADD's local archives (plain, gzip, bzip2, xz, zstd) with their entries moved under the
//! destination; ADD's URL downloads (mode 0600, mtime from `Last-Modified`). Also the
//! cache's digest of everything a step reads.

use super::context::Entry;
use crate::digest::{Digest, Hasher};
use crate::layer::compression::Decompressor;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tar::{Builder, EntryType, Header};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("archive {path}: {source}")]
    Archive {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
    move |source| CopyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Owner and mode overrides of a COPY/ADD.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    /// Keep the source's owner (`COPY --from`), not root's.
    pub keep_owner: bool,
}

/// One context entry and where it lands (a path relative to the rootfs).
pub struct Placed<'a> {
    pub dest: String,
    pub entry: &'a Entry,
}

/// Writes the placed entries as a tar stream.
pub fn write_entries<W: Write>(
    placed: &[Placed<'_>],
    ov: Overrides,
    out: W,
) -> Result<W, CopyError> {
    let mut b = Builder::new(out);
    for p in placed {
        let meta = &p.entry.meta;
        let path = &p.entry.path;
        let mut h = Header::new_gnu();
        let (uid, gid) = match ov.owner {
            Some(o) => o,
            None if ov.keep_owner => (meta.uid(), meta.gid()),
            None => (0, 0),
        };
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        h.set_mode(ov.chmod.unwrap_or(meta.mode() & 0o7777));
        h.set_mtime(meta.mtime().max(0) as u64);
        h.set_size(0);
        let ft = meta.file_type();
        let r = if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            b.append_data(&mut h, format!("{}/", p.dest), io::empty())
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err(path))?;
            h.set_entry_type(EntryType::Symlink);
            h.set_mode(meta.mode() & 0o7777);
            b.append_link(&mut h, &p.dest, &target)
        } else if ft.is_file() {
            h.set_entry_type(EntryType::Regular);
            h.set_size(meta.len());
            let f = File::open(path).map_err(io_err(path))?;
            b.append_data(&mut h, &p.dest, f)
        } else {
            tracing::warn!(path = %path.display(), "COPY skips what is not a file, directory or symlink");
            continue;
        };
        r.map_err(io_err(path))?;
    }
    b.into_inner()
        .map_err(|e| io_err(Path::new("tar stream"))(e))
}

const BZIP2_MAGIC: &[u8] = b"BZh";
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

/// The tar stream of `path` however ADD may find it compressed: gzip and zstd stream;
/// bzip2 streams; xz (whose decoder here has no streaming reader) is decompressed into
/// an unlinked temporary file first.
fn open_tar(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut f = BufReader::new(File::open(path)?);
    let head = f.fill_buf()?.to_vec();
    if head.starts_with(BZIP2_MAGIC) {
        return Ok(Box::new(bzip2::bufread::MultiBzDecoder::new(f)));
    }
    if head.starts_with(XZ_MAGIC) {
        let tmp = std::env::temp_dir().join(crate::store::unique_name("sangja-add-xz"));
        let mut out = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        // Unlinked at once: nothing stays behind whatever happens next.
        fs::remove_file(&tmp)?;
        {
            let mut w = io::BufWriter::new(&mut out);
            lzma_rs::xz_decompress(&mut f, &mut w)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("xz: {e}")))?;
            w.flush()?;
        }
        use std::io::Seek;
        out.seek(io::SeekFrom::Start(0))?;
        return Ok(Box::new(BufReader::new(out)));
    }
    let (d, _) = Decompressor::new(f)?;
    Ok(Box::new(d))
}

/// Whether ADD extracts `path`: a tar, plain or compressed (gzip, bzip2, xz, zstd).
pub fn is_archive(path: &Path) -> bool {
    let Ok(mut d) = open_tar(path) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match d.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return false,
        }
    }
    got == 512 && &head[257..262] == b"ustar" && header_checksum_ok(&head)
}

fn header_checksum_ok(h: &[u8; 512]) -> bool {
    let stored = std::str::from_utf8(&h[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    stored == Some(sum)
}

/// The archive's entries moved under `dest` (relative to the rootfs), owners and modes
/// as the archive has them.
pub fn write_archive<W: Write>(archive: &Path, dest: &str, out: W) -> Result<W, CopyError> {
    let aerr = |source| CopyError::Archive {
        path: archive.to_path_buf(),
        source,
    };
    let d = open_tar(archive).map_err(aerr)?;
    let mut a = tar::Archive::new(d);
    let mut b = Builder::new(out);
    let under = |p: &[u8]| -> String {
        let s = String::from_utf8_lossy(p);
        let s = s.trim_start_matches("./").trim_start_matches('/');
        if dest.is_empty() {
            s.to_string()
        } else if s.is_empty() {
            dest.to_string()
        } else {
            format!("{dest}/{s}")
        }
    };
    for e in a.entries().map_err(aerr)? {
        let mut e = e.map_err(aerr)?;
        let kind = e.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        let path = under(&e.path_bytes());
        let mut h = e.header().clone();
        let r = match kind {
            EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                b.append_link(&mut h, &path, Path::new(&*String::from_utf8_lossy(&target)))
            }
            EntryType::Link => {
                let target = e.link_name_bytes().map(|l| under(&l)).unwrap_or_default();
                b.append_link(&mut h, &path, &target)
            }
            _ => b.append_data(&mut h, &path, &mut e),
        };
        r.map_err(aerr)?;
    }
    b.into_inner().map_err(aerr)
}

/// A downloaded ADD source.
pub struct Fetched {
    pub file: PathBuf,
    /// The URL's last path segment (the name when the destination is a directory).
    pub name: String,
    pub mtime: Option<i64>,
    pub digest: Digest,
}

/// Downloads `url` into `into` (a file path).
pub fn fetch(url: &str, into: &Path) -> Result<Fetched, CopyError> {
    let ferr = |message: String| CopyError::Fetch {
        url: url.to_string(),
        message,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(15))
        .timeout_read(std::time::Duration::from_secs(60))
        .build();
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(ferr(format!("HTTP {code} {}", r.status_text())))
        }
        Err(e) => return Err(ferr(e.to_string())),
    };
    let mtime = resp
        .header("Last-Modified")
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.timestamp());
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    let file = File::create(into).map_err(io_err(into))?;
    let mut w = Hasher::new(io::BufWriter::new(file));
    io::copy(&mut resp.into_reader(), &mut w).map_err(|e| ferr(e.to_string()))?;
    let (w, digest, _) = w.finish();
    w.into_inner()
        .map_err(|e| io_err(into)(e.into_error()))?
        .sync_all()
        .map_err(io_err(into))?;
    Ok(Fetched {
        file: into.to_path_buf(),
        name,
        mtime,
        digest,
    })
}

/// Digest of a file's contents.
pub fn file_digest(path: &Path) -> Result<Digest, CopyError> {
    let f = File::open(path).map_err(io_err(path))?;
    let mut h = Hasher::new(BufReader::with_capacity(1 << 16, f));
    io::copy(&mut h, &mut io::sink()).map_err(io_err(path))?;
    Ok(h.finish().1)
}

/// What the cache keys a COPY/ADD on: each entry's destination, type, mode, size,
/// content and link target; not mtimes (as buildkit: touching a file keeps the cache)
/// nor the context's owners (the copy replaces them).
pub fn content_key(placed: &[Placed<'_>]) -> Result<String, CopyError> {
    let mut h = Hasher::new(io::sink());
    for p in placed {
        let m = &p.entry.meta;
        let ft = m.file_type();
        let what = if ft.is_dir() {
            "d".to_string()
        } else if ft.is_symlink() {
            format!(
                "l:{}",
                fs::read_link(&p.entry.path)
                    .map_err(io_err(&p.entry.path))?
                    .display()
            )
        } else if ft.is_file() {
            format!("f:{}:{}", m.len(), file_digest(&p.entry.path)?)
        } else {
            "o".to_string()
        };
        writeln!(h, "{}\0{:o}\0{what}", p.dest, m.mode() & 0o7777).expect("sink");
    }
    Ok(h.finish().1.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_recognised_and_moved() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("x")).unwrap();
        fs::write(src.join("x/f"), "hi").unwrap();
        let plain = d.path().join("a.tar");
        crate::layer::pack::pack_dir(&src, File::create(&plain).unwrap()).unwrap();
        let gz = d.path().join("a.tar.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
        io::copy(&mut File::open(&plain).unwrap(), &mut enc).unwrap();
        enc.finish().unwrap();
        let not = d.path().join("n.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&not).unwrap(), Default::default());
        enc.write_all(&[b'x'; 2000]).unwrap();
        enc.finish().unwrap();
        for (tool, ext) in [("bzip2", "bz2"), ("xz", "xz")] {
            let out = d.path().join(format!("a.tar.{ext}"));
            let st = std::process::Command::new(tool)
                .arg("-kc")
                .arg(&plain)
                .stdout(File::create(&out).unwrap())
                .status();
            if st.is_ok_and(|s| s.success()) {
                assert!(is_archive(&out), "{ext}");
                let tar = write_archive(&out, "x", Vec::new()).unwrap();
                assert!(tar.len() >= 1024, "{ext}");
            }
        }
        assert!(is_archive(&plain));
        assert!(is_archive(&gz));
        assert!(!is_archive(&not));
        assert!(!is_archive(&src.join("x/f")));

        let out = write_archive(&gz, "opt/app", Vec::new()).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["opt/app/x/", "opt/app/x/f"]);
    }
}
