//! A Dockerfile as `sangja-image build` reads it: parsed, each instruction made typed with
//! variables expanded, and the words and .dockerignore patterns it holds matched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sangja_image::dockerfile::{self, ignore, instruction, words};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The same text as a .dockerignore, its patterns matched against its own lines.
    let ig = ignore::Ignore::parse(text);
    for line in text.lines().take(16) {
        let path = ignore::clean(line);
        let _ = ig.excluded(&path);
        let _ = ig.may_include_below(&path);
    }
    let Ok(df) = dockerfile::parse(text, "Dockerfile") else {
        return;
    };
    for raw in &df.instructions {
        let mut lookup = |name: &str| (name.len() % 2 == 0).then(|| format!("v-{name}"));
        let _ = instruction::resolve(raw, df.escape, &mut lookup);
        if let dockerfile::Args::Shell(text) = &raw.args {
            let _ = words::expand_words(text, df.escape, &mut lookup);
        }
    }
});
