//! Makes a layer tar from a directory tree (what `import DIR` stores): entries in
//! sorted order, owners, modes, mtimes, hard links, symlinks, device nodes, fifos and
//! xattrs (as PAX `SCHILY.xattr.` records). Symlinks are stored, never followed.

use super::xattr;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use tar::{Builder, EntryType, Header};

#[derive(Debug, thiserror::Error)]
#[error("packing {path}: {source}")]
pub struct PackError {
    path: String,
    #[source]
    source: io::Error,
}

fn err(path: &Path, source: io::Error) -> PackError {
    PackError {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `dir`'s contents (not `dir` itself) as a tar stream into `out`.
pub fn pack_dir<W: Write>(dir: &Path, out: W) -> Result<W, PackError> {
    pack(dir, out, false, None)
}

/// Writes an overlayfs upper directory as a layer: whiteouts (0/0 character devices)
/// become `.wh.NAME` files, opaque directories (`trusted.overlay.opaque=y`) get a
/// `.wh..wh..opq` entry, and overlayfs' own xattrs are left out.
pub fn pack_overlay_upper<W: Write>(dir: &Path, out: W) -> Result<W, PackError> {
    pack(dir, out, true, None)
}

/// [`pack_overlay_upper`] with every mtime later than `epoch` set to it
/// (SOURCE_DATE_EPOCH): with the sorted entries and no atime/ctime records, the same
/// tree gives the same bytes whenever it was made.
pub fn pack_overlay_upper_clamped<W: Write>(
    dir: &Path,
    out: W,
    epoch: Option<u64>,
) -> Result<W, PackError> {
    pack(dir, out, true, epoch)
}

fn pack<W: Write>(dir: &Path, out: W, overlay: bool, clamp: Option<u64>) -> Result<W, PackError> {
    let mut builder = Builder::new(out);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut w = Walk {
        links: &mut links,
        overlay,
        clamp,
    };
    walk(&mut builder, dir, "", &mut w)?;
    builder.into_inner().map_err(|e| err(dir, e))
}

fn empty_file<W: Write>(builder: &mut Builder<W>, path: &Path, rel: &str) -> Result<(), PackError> {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(0);
    builder
        .append_data(&mut header, rel, io::empty())
        .map_err(|e| err(path, e))
}

struct Walk<'a> {
    links: &'a mut HashMap<(u64, u64), String>,
    overlay: bool,
    clamp: Option<u64>,
}

fn walk<W: Write>(
    builder: &mut Builder<W>,
    dir: &Path,
    prefix: &str,
    w: &mut Walk<'_>,
) -> Result<(), PackError> {
    let overlay = w.overlay;
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(|e| err(dir, e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| err(dir, e))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel = format!("{prefix}{}", name.to_string_lossy());
        let meta = fs::symlink_metadata(&path).map_err(|e| err(&path, e))?;
        if overlay && meta.file_type().is_char_device() && meta.rdev() == 0 {
            let wh = format!("{prefix}.wh.{}", name.to_string_lossy());
            empty_file(builder, &path, &wh)?;
            continue;
        }
        entry(builder, &path, &rel, &meta, w)?;
    }
    Ok(())
}

/// Writes `path` itself (a directory with everything under it) as the entry `name`:
/// what `cp` of one file or folder sends. With `follow`, a symlink at `path` is
/// followed (its target is written under `name`); nothing below it ever is.
pub fn pack_entry<W: Write>(path: &Path, name: &str, follow: bool, out: W) -> Result<W, PackError> {
    let meta = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
    .map_err(|e| err(path, e))?;
    let mut builder = Builder::new(out);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut w = Walk {
        links: &mut links,
        overlay: false,
        clamp: None,
    };
    entry(&mut builder, path, name, &meta, &mut w)?;
    builder.into_inner().map_err(|e| err(path, e))
}

fn entry<W: Write>(
    builder: &mut Builder<W>,
    path: &Path,
    rel: &str,
    meta: &fs::Metadata,
    w: &mut Walk<'_>,
) -> Result<(), PackError> {
    let overlay = w.overlay;
    {
        let path = path.to_path_buf();
        let rel = rel.to_string();
        let ft = meta.file_type();
        let mut header = Header::new_gnu();
        header.set_uid(meta.uid() as u64);
        header.set_gid(meta.gid() as u64);
        header.set_mode(meta.mode() & 0o7777);
        let mtime = meta.mtime().max(0) as u64;
        header.set_mtime(w.clamp.map_or(mtime, |c| mtime.min(c)));
        header.set_size(0);
        write_xattrs(builder, &path, &rel, overlay)?;
        if ft.is_dir() {
            header.set_entry_type(EntryType::Directory);
            builder
                .append_data(&mut header, format!("{rel}/"), io::empty())
                .map_err(|e| err(&path, e))?;
            if overlay && xattr::lget(&path, "trusted.overlay.opaque").is_ok_and(|v| v == b"y") {
                empty_file(builder, &path, &format!("{rel}/.wh..wh..opq"))?;
            }
            walk(builder, &path, &format!("{rel}/"), w)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(|e| err(&path, e))?;
            header.set_entry_type(EntryType::Symlink);
            builder
                .append_link(&mut header, &rel, &target)
                .map_err(|e| err(&path, e))?;
        } else if meta.nlink() > 1 && w.links.contains_key(&(meta.dev(), meta.ino())) {
            header.set_entry_type(EntryType::Link);
            let first = w.links[&(meta.dev(), meta.ino())].clone();
            builder
                .append_link(&mut header, &rel, &first)
                .map_err(|e| err(&path, e))?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                w.links.insert((meta.dev(), meta.ino()), rel.clone());
            }
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(&path).map_err(|e| err(&path, e))?;
            builder
                .append_data(&mut header, &rel, file)
                .map_err(|e| err(&path, e))?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            header.set_entry_type(if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            });
            let rdev = meta.rdev();
            header
                .set_device_major(libc::major(rdev))
                .map_err(|e| err(&path, e))?;
            header
                .set_device_minor(libc::minor(rdev))
                .map_err(|e| err(&path, e))?;
            builder
                .append_data(&mut header, &rel, io::empty())
                .map_err(|e| err(&path, e))?;
        } else {
            // Sockets cannot be recreated from a tar; docker skips them too.
            tracing::warn!(path = %path.display(), "skipping socket");
        }
    }
    Ok(())
}

/// A PAX header carrying the xattrs of the entry that follows.
fn write_xattrs<W: Write>(
    builder: &mut Builder<W>,
    path: &Path,
    rel: &str,
    overlay: bool,
) -> Result<(), PackError> {
    let mut names = xattr::llist(path).map_err(|e| err(path, e))?;
    if overlay {
        names.retain(|n| !n.starts_with("trusted.overlay."));
    }
    if names.is_empty() {
        return Ok(());
    }
    let mut records = Vec::new();
    for name in names {
        let value = xattr::lget(path, &name).map_err(|e| err(path, e))?;
        pax_record(&mut records, &format!("SCHILY.xattr.{name}"), &value);
    }
    let mut header = Header::new_ustar();
    header.set_entry_type(EntryType::XHeader);
    header.set_size(records.len() as u64);
    header.set_mode(0o644);
    let short: String = rel
        .chars()
        .rev()
        .take(80)
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    header
        .set_path(format!("PaxHeaders/{}", short.trim_start_matches('/')))
        .map_err(|e| err(path, e))?;
    header.set_cksum();
    builder
        .append(&header, &records[..])
        .map_err(|e| err(path, e))
}

/// `"<len> <key>=<value>\n"` where len counts the whole record, its own digits included.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + body.to_string().len();
    if len.to_string().len() != body.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths() {
        let mut v = Vec::new();
        pax_record(&mut v, "k", b"v");
        assert_eq!(v, b"6 k=v\n");
        let mut v = Vec::new();
        let value = vec![b'x'; 95];
        pax_record(&mut v, "k", &value);
        assert_eq!(
            v.len().to_string(),
            String::from_utf8_lossy(&v[..v.iter().position(|b| *b == b' ').unwrap()])
        );
    }
}
