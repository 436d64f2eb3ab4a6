//! The image commands' edges: `images`, `tag`, `rm`, `prune`, `inspect`, `history`.

use super::{find, prune_snapshots, ListFormat};
use anyhow::{bail, Context, Result};
use sangja_image::image;
use sangja_image::inspect;
use sangja_image::listing;
use sangja_image::reference::Reference;
use sangja_image::remove;
use sangja_image::store::{self, Store};
use sangja_image::template::Template;
use std::io::Write;

pub fn images(
    store: &Store,
    out: &mut impl Write,
    format: ListFormat,
    quiet: bool,
    no_trunc: bool,
) -> Result<()> {
    let _lock = store.lock_shared()?;
    let rows = listing::image_rows(&image::list(store)?);
    if quiet {
        let mut seen = std::collections::HashSet::new();
        for r in rows.iter().filter(|r| seen.insert(r.id.clone())) {
            writeln!(
                out,
                "{}",
                if no_trunc {
                    r.id.clone()
                } else {
                    r.id[7..19].to_string()
                }
            )?;
        }
    } else {
        match format {
            ListFormat::Table => write!(out, "{}", listing::images_table(&rows, no_trunc))?,
            ListFormat::Json => {
                for r in &rows {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                }
            }
        }
    }
    Ok(())
}

pub fn tag(store: &Store, source: &str, target: &str) -> Result<()> {
    let image = find(store, source)?;
    let name: Reference = target
        .parse::<Reference>()
        .context("tag target")?
        .with_default_tag();
    if name.digest().is_some() {
        bail!("tag target {target:?}: a tag cannot name a digest");
    }
    let _lock = store.lock_shared()?;
    store.update_index(|entries| {
        // The new name keeps the manifest's media type (a pulled Docker manifest
        // stays one).
        let media_type = entries
            .iter()
            .find(|e| e.digest == image.manifest_digest)
            .map(|e| e.media_type.clone())
            .unwrap_or_else(|| store::MANIFEST_MEDIA_TYPE.to_string());
        store::set_name(
            entries,
            &name,
            &image.manifest_digest,
            image.manifest_size,
            &media_type,
        );
        Ok(())
    })?;
    Ok(())
}

pub fn rm(store: &Store, out: &mut impl Write, force: bool, images: Vec<String>) -> Result<()> {
    for q in images {
        let report = remove::remove(store, &q, force).with_context(|| format!("removing {q}"))?;
        for n in &report.untagged {
            writeln!(out, "Untagged: {}", n.familiar())?;
        }
        for d in &report.deleted {
            writeln!(out, "Deleted: {d}")?;
        }
    }
    prune_snapshots(store)?;
    Ok(())
}

pub fn prune(store: &Store, out: &mut impl Write) -> Result<()> {
    let report = remove::prune(store)?;
    prune_snapshots(store)?;
    for d in &report.removed {
        writeln!(out, "deleted: {d}")?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        sangja_image::humanize::size(report.bytes)
    )?;
    Ok(())
}

pub fn inspect(
    store: &Store,
    out: &mut impl Write,
    format: Option<String>,
    images: Vec<String>,
) -> Result<()> {
    let _lock = store.lock_shared()?;
    let template = format.as_deref().map(Template::parse).transpose()?;
    let mut docs = Vec::new();
    for q in &images {
        docs.push(inspect::inspect(&find(store, q)?));
    }
    match template {
        Some(t) => {
            for d in &docs {
                writeln!(out, "{}", t.render(d)?)?;
            }
        }
        None => writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?,
    }
    Ok(())
}

pub fn history(
    store: &Store,
    out: &mut impl Write,
    format: ListFormat,
    no_trunc: bool,
    image: &str,
) -> Result<()> {
    let _lock = store.lock_shared()?;
    let rows = inspect::history(&find(store, image)?);
    match format {
        ListFormat::Table => write!(out, "{}", listing::history_table(&rows, no_trunc))?,
        ListFormat::Json => {
            for r in &rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
        }
    }
    Ok(())
}
