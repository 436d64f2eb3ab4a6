//! What registries answer, read as pull reads it: manifests and indexes (classified,
//! typed, their digests and platforms checked), image configs, token endpoint answers,
//! `WWW-Authenticate` challenges and `{"errors":[...]}` bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sangja_image::digest::Digest;
use sangja_image::registry::{auth, client, media, Platform};
use sangja_image::store;
use std::time::Instant;

const CONTENT_TYPES: [&str; 8] = [
    "",
    media::OCI_MANIFEST,
    media::OCI_INDEX,
    media::DOCKER_MANIFEST,
    media::DOCKER_LIST,
    media::DOCKER_SCHEMA1,
    media::DOCKER_SCHEMA1_SIGNED,
    "text/html",
];

fn descriptor(d: &media::Descriptor, host: &Platform) {
    let _ = d.digest.parse::<Digest>();
    if let Some(p) = &d.platform {
        let _ = host.matches(p);
        let shown = p.to_string();
        let _ = shown.parse::<Platform>();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let host = Platform::host();
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = media::kind(content_type, &doc);
        let _ = media::declared(&doc, content_type);
    }
    if let Ok(m) = store::parse_json::<media::Manifest>("manifest", body) {
        descriptor(&m.config, &host);
        m.layers.iter().for_each(|d| descriptor(d, &host));
    }
    if let Ok(i) = store::parse_json::<media::Index>("index", body) {
        i.manifests.iter().for_each(|d| descriptor(d, &host));
    }
    // What the store keeps of a manifest (fsck, gc, save), and the config pull checks.
    let _ = store::manifest_children(body, &Digest::of_bytes(body));
    let _ = store::parse_json::<oci_spec::image::ImageConfiguration>("config", body);
    let _ = store::parse_json::<Platform>("config", body);
    let _ = auth::parse_token_answer(body, Instant::now());
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = auth::parse_challenge(text);
        let _ = client::registry_errors(text);
    }
});
