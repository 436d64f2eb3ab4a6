//! The archive commands' edges: `save`, `load`, `import`.

use super::{find, ArchiveFormat};
use anyhow::{Context, Result};
use sangja_image::archive::{self, docker::SaveItem};
use sangja_image::import;
use sangja_image::reference::Reference;
use sangja_image::store::Store;
use std::io::Write;
use std::path::PathBuf;

pub fn save(
    store: &Store,
    output: Option<PathBuf>,
    format: ArchiveFormat,
    images: Vec<String>,
) -> Result<()> {
    let _lock = store.lock_shared()?;
    let mut items: Vec<SaveItem> = Vec::new();
    for q in &images {
        let image = find(store, q)?;
        let name = q
            .parse::<Reference>()
            .ok()
            .map(Reference::with_default_tag)
            .filter(|r| r.tag().is_some() && r.digest().is_none() && image.names.contains(r));
        match items
            .iter_mut()
            .find(|i| i.image.manifest_digest == image.manifest_digest)
        {
            Some(item) => item.names.extend(name.filter(|n| !item.names.contains(n))),
            None => items.push(SaveItem {
                image,
                names: name.into_iter().collect(),
            }),
        }
    }
    archive::write_output(output.as_deref(), |w| match format {
        ArchiveFormat::DockerArchive => archive::docker::save(store, &items, w),
        ArchiveFormat::OciArchive => archive::oci::save(store, &items, w),
    })?;
    Ok(())
}

pub fn load(
    store: &Store,
    out: &mut impl Write,
    input: Option<PathBuf>,
    quiet: bool,
) -> Result<()> {
    let loaded = match &input {
        Some(p) => {
            let f = std::fs::File::open(p)
                .with_context(|| format!("opening archive {}", p.display()))?;
            archive::load(store, f)
        }
        None => archive::load(store, std::io::stdin().lock()),
    }
    .with_context(|| {
        format!(
            "loading {}",
            input
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "stdin".into())
        )
    })?;
    if !quiet {
        for l in &loaded {
            if l.names.is_empty() {
                writeln!(out, "Loaded image ID: {}", l.id)?;
            }
            for n in &l.names {
                writeln!(out, "Loaded image: {}", n.familiar())?;
            }
        }
    }
    Ok(())
}

pub fn import(
    store: &Store,
    out: &mut impl Write,
    change: Vec<String>,
    message: Option<String>,
    source: String,
    name: Option<String>,
) -> Result<()> {
    let name = name
        .map(|n| n.parse::<Reference>().context("import name"))
        .transpose()?;
    let path = PathBuf::from(&source);
    let src = if source == "-" {
        import::Source::Stdin
    } else {
        import::Source::Path(&path)
    };
    let opts = import::Options {
        changes: change,
        message,
    };
    let loaded =
        import::import(store, src, name, &opts).with_context(|| format!("importing {source}"))?;
    writeln!(out, "{}", loaded.id)?;
    Ok(())
}
