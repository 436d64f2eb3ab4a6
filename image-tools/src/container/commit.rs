//! `commit`: a container's writable layer (its overlay upper dir, whiteouts turned into
//! `.wh.` entries) becomes a new layer on top of its image (docker `container commit`).

use super::record::{Containers, Record};
use super::ContainerError;
use crate::digest::{Digest, Hasher};
use crate::image;
use crate::layer::pack;
use crate::reference::Reference;
use crate::store::{CommitImage, Store, MANIFEST_MEDIA_TYPE};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the image {image} of container {container} is no longer in the store")]
    ImageGone { container: String, image: String },
    #[error("packing the writable layer of container {container}: {source}")]
    Pack {
        container: String,
        #[source]
        source: pack::PackError,
    },
    #[error("container {0} has a rootless copy of its image for a root, no overlay writable layer to commit")]
    NoLayer(String),
    #[error("image config of {0} has no rootfs.diff_ids")]
    Config(String),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub struct Committed {
    pub id: Digest,
}

pub fn commit(
    store: &Store,
    containers: &Containers,
    rec: &Record,
    name: Option<Reference>,
    message: Option<&str>,
) -> Result<Committed, CommitError> {
    if rec.vfs {
        return Err(CommitError::NoLayer(rec.name.clone()));
    }
    let _lock = store.lock_shared()?;
    let base = image::find(store, &rec.image_id).map_err(|_| CommitError::ImageGone {
        container: rec.name.clone(),
        image: rec.image.clone(),
    })?;
    let upper = containers.path(&rec.id).join("upper");
    let mut txn = store.begin()?;
    let writer = txn.blob_writer()?;
    let hashed = pack::pack_overlay_upper(&upper, Hasher::new(writer)).map_err(|source| {
        CommitError::Pack {
            container: rec.name.clone(),
            source,
        }
    })?;
    let (writer, _, _) = hashed.finish();
    let blob = txn.finish_blob(writer, None)?;

    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut config = base.config_raw.clone();
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array_mut()
        .ok_or_else(|| CommitError::Config(base.label()))?;
    diff_ids.push(Value::from(blob.digest.to_string()));
    config["created"] = Value::from(now.clone());
    let mut entry = json!({
        "created": now,
        "created_by": rec.command.join(" "),
    });
    if let Some(m) = message {
        entry["comment"] = Value::from(m);
        config["comment"] = Value::from(m);
    }
    match config["history"].as_array_mut() {
        Some(h) => h.push(entry),
        None => config["history"] = json!([entry]),
    }
    let config_blob = txn.write_bytes(&serde_json::to_vec(&config).expect("config serialises"))?;

    // The base layers keep their descriptors (media types as stored); the new one is a
    // plain tar.
    let mut layers: Vec<Value> = base
        .manifest
        .layers()
        .iter()
        .map(|l| serde_json::to_value(l).expect("descriptor serialises"))
        .collect();
    layers.push(json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": blob.digest.to_string(),
        "size": blob.size,
    }));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": crate::manifest::CONFIG_MEDIA_TYPE,
            "digest": config_blob.digest.to_string(),
            "size": config_blob.size,
        },
        "layers": layers,
    });
    let manifest = txn.write_bytes(&serde_json::to_vec(&manifest).expect("manifest serialises"))?;
    txn.commit(&[CommitImage {
        manifest,
        media_type: MANIFEST_MEDIA_TYPE.to_string(),
        names: name.into_iter().map(Reference::with_default_tag).collect(),
    }])?;
    Ok(Committed {
        id: config_blob.digest,
    })
}
