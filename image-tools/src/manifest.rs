//! Writing OCI image manifests for images this tool assembles (docker archives, imports).

use crate::layer::Compression;
use crate::store::{BlobInfo, StoreError, Txn};
use serde_json::json;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub use crate::store::MANIFEST_MEDIA_TYPE;

/// A layer as it will be listed in a manifest.
#[derive(Debug, Clone)]
pub struct LayerRef {
    pub blob: BlobInfo,
    pub compression: Compression,
}

/// Stages the manifest for `config` and `layers`, returning its blob.
pub fn write(
    txn: &mut Txn<'_>,
    config: &BlobInfo,
    layers: &[LayerRef],
) -> Result<BlobInfo, StoreError> {
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config.digest.to_string(),
            "size": config.size,
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.compression.oci_media_type(),
            "digest": l.blob.digest.to_string(),
            "size": l.blob.size,
        })).collect::<Vec<_>>(),
    });
    let data = serde_json::to_vec(&doc).expect("manifest serialises");
    txn.write_bytes(&data)
}

/// The host platform in OCI (Go) names.
pub fn host_platform() -> (&'static str, &'static str) {
    ("linux", sangja_seccomp::docker_profile::native_arch())
}
