//! `sangja-image load` of a docker-archive (or oci-archive) stream into a fresh store:
//! whatever the archive holds, the load either adds whole images or nothing, and the store
//! passes fsck after it with no staging debris left.
//!
//! Besides raw bytes, inputs describe a well-formed archive (configs and layers named by
//! their digests, a manifest.json listing them) that is then damaged by a few byte edits,
//! extra entries and links: random bytes alone almost never get past the digest checks.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sangja_image::digest::Digest;
use sangja_image::store::Store;
use serde_json::json;
use std::fs;

#[derive(Arbitrary, Debug)]
struct Image {
    layers: Vec<Vec<u8>>,
    tags: Vec<String>,
    os: bool,
}

#[derive(Arbitrary, Debug)]
enum Extra {
    File(String, Vec<u8>),
    Symlink(String, String),
    HardLink(String, String),
}

#[derive(Arbitrary, Debug)]
struct Edit {
    entry: u8,
    offset: u16,
    byte: u8,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(Vec<u8>),
    Built {
        images: Vec<Image>,
        extras: Vec<Extra>,
        edits: Vec<Edit>,
    },
}

fn build(images: &[Image], extras: &[Extra], edits: &[Edit]) -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = Vec::new();
    for img in images.iter().take(3) {
        let mut diff_ids = Vec::new();
        let mut layer_paths = Vec::new();
        for layer in img.layers.iter().take(3) {
            let d = Digest::of_bytes(layer);
            let path = format!("{}/layer.tar", d.hex());
            diff_ids.push(d.to_string());
            layer_paths.push(path.clone());
            files.push((path, layer.clone()));
        }
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": if img.os { "linux" } else { "" },
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("config JSON");
        let config_path = format!("{}.json", Digest::of_bytes(&config).hex());
        files.push((config_path.clone(), config));
        manifest.push(json!({"Config": config_path, "RepoTags": img.tags, "Layers": layer_paths}));
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).expect("manifest JSON"),
    ));
    for e in edits.iter().take(4) {
        let n = files.len();
        let data = &mut files[usize::from(e.entry) % n].1;
        if !data.is_empty() {
            let i = usize::from(e.offset) % data.len();
            data[i] = e.byte;
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut raw_entry = |path: &str, kind: tar::EntryType, link: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        let name = &mut h.as_old_mut().name;
        let n = path.len().min(name.len());
        name[..n].copy_from_slice(&path.as_bytes()[..n]);
        let field = &mut h.as_old_mut().linkname;
        let n = link.len().min(field.len());
        field[..n].copy_from_slice(&link.as_bytes()[..n]);
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).expect("append to a Vec");
    };
    for (path, data) in &files {
        raw_entry(path, tar::EntryType::Regular, "", data);
    }
    for x in extras.iter().take(4) {
        match x {
            Extra::File(p, d) => raw_entry(p, tar::EntryType::Regular, "", d),
            Extra::Symlink(p, t) => raw_entry(p, tar::EntryType::Symlink, t, &[]),
            Extra::HardLink(p, t) => raw_entry(p, tar::EntryType::Link, t, &[]),
        }
    }
    b.into_inner().expect("finish tar")
}

fuzz_target!(|input: Input| {
    let bytes = match &input {
        Input::Raw(b) => b.clone(),
        Input::Built {
            images,
            extras,
            edits,
        } => build(images, extras, edits),
    };
    let dir = tempfile::Builder::new()
        .prefix("fuzz-27-archive-")
        .tempdir()
        .expect("temp dir");
    let store = Store::open(&dir.path().join("store")).expect("fresh store");
    let result = sangja_image::archive::load(&store, &bytes[..]);
    let report = store.fsck().expect("fsck runs");
    assert!(report.ok(), "after {result:?}: fsck: {:?}", report.problems);
    let entries = store.entries().expect("index");
    match &result {
        Ok(loaded) => assert!(!loaded.is_empty(), "a load that added nothing succeeded"),
        Err(e) => {
            let _ = e.to_string();
            assert!(
                entries.is_empty(),
                "failed load {e} left index entries {entries:?}"
            );
            let blobs = fs::read_dir(dir.path().join("store/blobs/sha256"))
                .expect("blobs dir")
                .count();
            assert_eq!(blobs, 0, "failed load {e} left {blobs} blobs");
        }
    }
    // Staging happens under tmp/: a finished load, good or bad, leaves nothing there.
    let staging: Vec<_> = fs::read_dir(dir.path().join("store/tmp"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(
        staging.is_empty(),
        "after {result:?}: left behind {staging:?}"
    );
});
