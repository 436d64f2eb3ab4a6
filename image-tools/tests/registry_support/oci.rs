//! OCI image layouts written by hand: gzip layers, configs for a given architecture,
//! manifests, and a top index naming one entry (an image or a nested index).

use serde_json::{json, Value};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy)]
pub enum Compression {
    Gzip,
    Zstd,
}

pub struct Layout {
    pub dir: PathBuf,
}

pub fn sha256(data: &[u8]) -> String {
    sangja_image::digest::Digest::of_bytes(data).to_string()
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    /// Stores a blob; returns its descriptor (without media type).
    pub fn blob(&self, data: &[u8]) -> Value {
        let d = sha256(data);
        fs::write(self.dir.join("blobs/sha256").join(&d[7..]), data).unwrap();
        json!({"digest": d, "size": data.len()})
    }

    /// An image of `layers` (plain tars, stored gzipped) for `arch`; its manifest descriptor.
    pub fn image(&self, layers: &[Vec<u8>], arch: &str) -> Value {
        self.image_with(layers, arch, Compression::Gzip)
    }

    pub fn image_with(&self, layers: &[Vec<u8>], arch: &str, c: Compression) -> Value {
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        for l in layers {
            let (data, media) = match c {
                Compression::Gzip => {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    gz.write_all(l).unwrap();
                    (
                        gz.finish().unwrap(),
                        "application/vnd.oci.image.layer.v1.tar+gzip",
                    )
                }
                Compression::Zstd => (
                    zstd::encode_all(&l[..], 3).unwrap(),
                    "application/vnd.oci.image.layer.v1.tar+zstd",
                ),
            };
            let mut d = self.blob(&data);
            d["mediaType"] = json!(media);
            descs.push(d);
            diff_ids.push(sha256(l));
        }
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let mut c = self.blob(config.to_string().as_bytes());
        c["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": c,
            "layers": descs,
        });
        let mut m = self.blob(manifest.to_string().as_bytes());
        m["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
        m["platform"] = json!({"architecture": arch, "os": "linux"});
        m
    }

    /// An index blob listing `manifests`; its descriptor.
    pub fn index(&self, manifests: &[Value]) -> Value {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let mut d = self.blob(index.to_string().as_bytes());
        d["mediaType"] = json!("application/vnd.oci.image.index.v1+json");
        d
    }

    /// The layout's index.json: `desc` under the tag `tag`.
    pub fn tag(&self, desc: &Value, tag: &str) {
        let mut d = desc.clone();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        if let Some(o) = d.as_object_mut() {
            o.remove("platform");
        }
        let index = json!({"schemaVersion": 2, "manifests": [d]});
        fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}
