//! The commands on unpacked images and the store itself: `unpack`, `bundle`, `fsck`.

use super::find;
use anyhow::{bail, Context, Result};
use sangja_image::bundle;
use sangja_image::store::Store;
use sangja_image::unpack;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn unpack(store: &Store, image: &str, dir: &Path) -> Result<()> {
    let _lock = store.lock_shared()?;
    let img = find(store, image)?;
    unpack::unpack(store, &img, dir)
        .with_context(|| format!("unpacking {image} into {}", dir.display()))?;
    Ok(())
}

pub fn bundle(
    store: &Store,
    seccomp_profile: PathBuf,
    no_seccomp: bool,
    image: &str,
    dir: &Path,
    args: Vec<String>,
) -> Result<()> {
    let _lock = store.lock_shared()?;
    let img = find(store, image)?;
    let opts = bundle::Options {
        args,
        seccomp_profile: if no_seccomp {
            None
        } else {
            Some(seccomp_profile)
        },
    };
    bundle::bundle(store, &img, dir, &opts)
        .with_context(|| format!("making a bundle of {image} in {}", dir.display()))?;
    Ok(())
}

pub fn fsck(store: &Store, out: &mut impl Write) -> Result<()> {
    let _lock = store.lock_shared()?;
    let report = store.fsck()?;
    for p in &report.problems {
        writeln!(out, "{p}")?;
    }
    if !report.ok() {
        bail!(
            "{} problem(s) in {}",
            report.problems.len(),
            store.root().display()
        );
    }
    writeln!(out, "ok: {} blobs verified", report.blobs_checked)?;
    Ok(())
}
