//! config.json as `sangja create` reads it: parsed (unknown capabilities dropped, every
//! other misfit an error naming its field), then validated against a real bundle.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One bundle (with a rootfs directory) for the whole run: validation stats the rootfs.
fn bundle() -> &'static PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("fuzz-27-config-")
            .tempdir()
            .expect("temp dir")
            .keep();
        std::fs::create_dir(dir.join("rootfs")).expect("rootfs dir");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    // The runtime reads config.json with read_to_string: non-UTF-8 is refused before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let bundle = bundle();
    let path = bundle.join(sangja::spec::CONFIG_NAME);
    let Ok(spec) = sangja::spec::parse(&path, text) else {
        return;
    };
    for need_process in [true, false] {
        if let Err(e) = sangja::spec::validate(&spec, bundle, need_process) {
            // Every refusal is a message a person can read: formatting must not panic.
            let _ = e.to_string();
        }
    }
});
