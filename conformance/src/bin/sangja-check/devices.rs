//! Every node under /dev: type, device numbers, mode, owner, link target.

use serde_json::{json, Map, Value};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Major and minor from a `dev_t` (glibc's gnu_dev_major/minor encoding).
pub fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// One node described from lstat, never following a symlink.
pub fn describe(path: &Path) -> Value {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return json!({ "error": e.to_string(), "errno": e.raw_os_error() }),
    };
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        "l"
    } else if ft.is_dir() {
        "d"
    } else if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else if ft.is_fifo() {
        "p"
    } else if ft.is_socket() {
        "s"
    } else {
        "f"
    };
    let (major, minor) = split_dev(meta.rdev());
    let mut v = json!({
        "type": kind,
        "mode": meta.mode() & 0o7777,
        "uid": meta.uid(),
        "gid": meta.gid(),
        "size": meta.size(),
    });
    if kind == "c" || kind == "b" {
        v["major"] = major.into();
        v["minor"] = minor.into();
    }
    if kind == "l" {
        if let Ok(t) = fs::read_link(path) {
            v["target"] = Value::String(t.to_string_lossy().into_owned());
        }
    }
    v
}

/// Walks `root` (not following symlinks), keyed by absolute path.
pub fn walk(root: &str) -> Value {
    let mut out = Map::new();
    let mut stack = vec![root.to_string()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let v = describe(&path);
            if v["type"] == "d" {
                stack.push(path.to_string_lossy().into_owned());
            }
            out.insert(path.to_string_lossy().into_owned(), v);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::split_dev;

    #[test]
    fn splits_small_and_large_device_numbers() {
        // /dev/null is 1:3.
        assert_eq!(split_dev(0x103), (1, 3));
        // 259:65536 needs the high bits of both halves.
        let (major, minor) = (259u64, 65536u64);
        let dev = ((major & 0xfff) << 8)
            | (minor & 0xff)
            | ((minor & !0xff) << 12)
            | ((major & !0xfff) << 32);
        assert_eq!(split_dev(dev), (259, 65536));
    }
}
