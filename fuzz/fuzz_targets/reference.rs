//! Image references as every command reads them (`pull NAME`, `tag`, `rm`, archive names):
//! parsed, and what a parsed one prints parses back to the same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sangja_image::digest::Digest;
use sangja_image::reference::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = text.parse::<Digest>();
    let Ok(r) = text.parse::<Reference>() else {
        return;
    };
    let full = r.to_string();
    let again: Reference = full
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} printed as {full:?}, which does not parse: {e}"));
    assert_eq!(again, r, "{text:?} printed as {full:?}");
    let familiar = r.familiar();
    let again: Reference = familiar
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} familiar {familiar:?} does not parse: {e}"));
    assert_eq!(again, r, "{text:?} familiar {familiar:?}");
    let _ = r.familiar_repository();
    let tagged = r.clone().with_default_tag();
    let _ = tagged
        .with_tag("fuzz-27")
        .to_string()
        .parse::<Reference>()
        .expect("tagged");
});
