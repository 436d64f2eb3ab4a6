//! `inspect` and `history`: an image described the way `docker image inspect` and
//! `docker history` describe it.

use crate::image::Image;
use serde_json::{json, Map, Value};

/// The fields docker's container config always shows, with their zero values.
fn config_defaults() -> Map<String, Value> {
    let v = json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "ExposedPorts": null, "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

fn raw<'a>(image: &'a Image, key: &str) -> Option<&'a Value> {
    image.config_raw.get(key).filter(|v| !v.is_null())
}

fn raw_str(image: &Image, key: &str) -> String {
    raw(image, key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

pub fn container_config(image: &Image) -> Value {
    let mut out = config_defaults();
    if let Some(Value::Object(cfg)) = raw(image, "config") {
        for (k, v) in cfg {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

pub fn inspect(image: &Image) -> Value {
    let repo_tags: Vec<String> = image
        .names
        .iter()
        .filter(|n| n.tag().is_some())
        .map(|n| n.familiar())
        .collect();
    let mut repo_digests: Vec<String> = Vec::new();
    for n in &image.names {
        let d = format!("{}@{}", n.familiar_repository(), image.manifest_digest);
        if !repo_digests.contains(&d) {
            repo_digests.push(d);
        }
    }
    let history: Vec<Value> = raw(image, "history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut doc = json!({
        "Id": image.config_digest.to_string(),
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": raw_str(image, "comment"),
        "Created": raw_str(image, "created"),
        "DockerVersion": raw_str(image, "docker_version"),
        "Author": raw_str(image, "author"),
        "Config": container_config(image),
        "Architecture": raw_str(image, "architecture"),
        "Os": raw_str(image, "os"),
        "Size": image.size(),
        "RootFS": {
            "Type": "layers",
            "Layers": raw(image, "rootfs").and_then(|r| r.get("diff_ids")).cloned().unwrap_or(json!([])),
        },
        "History": history,
        "Manifest": {
            "Digest": image.manifest_digest.to_string(),
            "Size": image.manifest_size,
        },
    });
    if let Some(v) = raw(image, "variant") {
        doc["Variant"] = v.clone();
    }
    doc
}

/// One row of `history`: newest first like docker, with layer sizes matched to the
/// history entries that are not `empty_layer`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryRow {
    pub id: String,
    pub created: String,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
}

pub fn history(image: &Image) -> Vec<HistoryRow> {
    let sizes: Vec<u64> = image.manifest.layers().iter().map(|l| l.size()).collect();
    let entries = raw(image, "history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rows = Vec::new();
    let mut layer = 0;
    if entries.is_empty() {
        // No history: one row per layer, as docker shows for such images.
        for size in &sizes {
            rows.push(HistoryRow {
                id: "<missing>".into(),
                created: raw_str(image, "created"),
                created_by: String::new(),
                size: *size,
                comment: String::new(),
            });
        }
    }
    for e in entries {
        let empty = e
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let size = if empty {
            0
        } else {
            let s = sizes.get(layer).copied().unwrap_or(0);
            layer += 1;
            s
        };
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        rows.push(HistoryRow {
            id: "<missing>".into(),
            created: text("created"),
            created_by: text("created_by"),
            size,
            comment: text("comment"),
        });
    }
    rows.reverse();
    if let Some(first) = rows.first_mut() {
        first.id = image.config_digest.to_string();
    }
    rows
}
