//! Layer tar extraction into a scratch root: whatever the entries say (`..`, absolute
//! paths, symlinks and hard links pointing out, whiteouts, devices), nothing may be
//! created, changed or linked outside the root.
//!
//! The scratch tree is `top/{outside/keep, mid/{outside/keep, root/}}`: an escape of one
//! or two levels lands beside a sentinel, and a hard link to a sentinel raises its link count.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sangja_image::layer::{extract, Root};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Arbitrary, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    HardLink(String),
    Fifo,
    CharDevice(u8, u8),
}

#[derive(Arbitrary, Debug)]
struct Entry {
    path: String,
    kind: Kind,
    mode: u16,
    uid: u8,
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// The bytes as they come (headers libFuzzer invents).
    Raw(Vec<u8>),
    /// Entries with chosen names, written as raw ustar headers (the tar crate's builder
    /// would refuse `..` itself).
    Entries(Vec<Entry>),
}

const KEEP: &[u8] = b"fuzz-27 sentinel";

struct Scratch {
    top: PathBuf,
    mid: PathBuf,
    root: PathBuf,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let top = tempfile::Builder::new()
            .prefix("fuzz-27-layer-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let mid = top.join("mid");
        for dir in [&top, &mid] {
            fs::create_dir_all(dir.join("outside")).expect("outside dir");
            fs::write(dir.join("outside/keep"), KEEP).expect("sentinel");
        }
        Scratch {
            root: mid.join("root"),
            top,
            mid,
        }
    })
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read scratch dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// Nothing beside the root, the sentinels untouched and not linked to.
fn check_contained(s: &Scratch, what: &str) {
    assert_eq!(
        names(&s.top),
        ["mid", "outside"],
        "{what}: top level changed"
    );
    assert_eq!(
        names(&s.mid),
        ["outside", "root"],
        "{what}: next to the root changed"
    );
    for dir in [&s.top, &s.mid] {
        let outside = dir.join("outside");
        assert_eq!(
            names(&outside),
            ["keep"],
            "{what}: {} changed",
            outside.display()
        );
        let keep = outside.join("keep");
        let meta = fs::symlink_metadata(&keep).expect("sentinel");
        assert!(meta.is_file(), "{what}: {} replaced", keep.display());
        assert_eq!(meta.nlink(), 1, "{what}: {} hard-linked", keep.display());
        assert_eq!(
            meta.mode() & 0o7777,
            0o644,
            "{what}: {} mode changed",
            keep.display()
        );
        assert_eq!(
            fs::read(&keep).expect("sentinel"),
            KEEP,
            "{what}: {} written",
            keep.display()
        );
    }
}

fn header(path: &[u8], kind: tar::EntryType, size: u64, mode: u16, uid: u8) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    let name = &mut h.as_old_mut().name;
    let n = path.len().min(name.len());
    name[..n].copy_from_slice(&path[..n]);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(u32::from(mode & 0o7777));
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(uid));
    h.set_mtime(1);
    h
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries.iter().take(64) {
        let p = e.path.as_bytes();
        let (kind, data, link): (_, &[u8], Option<&str>) = match &e.kind {
            Kind::File(d) => (tar::EntryType::Regular, d, None),
            Kind::Dir => (tar::EntryType::Directory, &[], None),
            Kind::Symlink(t) => (tar::EntryType::Symlink, &[], Some(t)),
            Kind::HardLink(t) => (tar::EntryType::Link, &[], Some(t)),
            Kind::Fifo => (tar::EntryType::Fifo, &[], None),
            Kind::CharDevice(..) => (tar::EntryType::Char, &[], None),
        };
        let mut h = header(p, kind, data.len() as u64, e.mode, e.uid);
        if let Some(t) = link {
            let field = &mut h.as_old_mut().linkname;
            let n = t.len().min(field.len());
            field[..n].copy_from_slice(&t.as_bytes()[..n]);
        }
        if let Kind::CharDevice(major, minor) = e.kind {
            let _ = h.set_device_major(u32::from(major));
            let _ = h.set_device_minor(u32::from(minor));
        }
        h.set_cksum();
        b.append(&h, data).expect("append to a Vec");
    }
    b.into_inner().expect("finish tar")
}

fuzz_target!(|input: Input| {
    let s = scratch();
    let bytes = match &input {
        Input::Raw(b) => b.clone(),
        Input::Entries(e) => tar_of(e),
    };
    fs::create_dir(&s.root).expect("fresh root");
    let root = Root::open(&s.root).expect("open root");
    let result = extract::apply(&root, &bytes[..]);
    drop(root);
    if let Err(e) = &result {
        let _ = e.to_string();
    }
    check_contained(s, &format!("{result:?}"));
    fs::remove_dir_all(&s.root).expect("clear root");
});
