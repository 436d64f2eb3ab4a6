//! The image commands' edges: `images`, `tag`, `rmi`, `prune`, `inspect`, `history`,
//! and the dispatch of the verbs shared by the top level and the `image` group.

use super::{archives, find, output, prune_snapshots, remote, ImageVerb, ImagesArgs, ListFormat};
use anyhow::{bail, Context, Result};
use sangja_image::image;
use sangja_image::inspect;
use sangja_image::listing;
use sangja_image::reference::Reference;
use sangja_image::remove;
use sangja_image::store::{self, Store};
use sangja_image::template::Template;
use std::io::Write;

pub fn verb(store: &Store, v: ImageVerb) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match v {
        ImageVerb::Tag { source, target } => tag(store, &source, &target),
        ImageVerb::History {
            format,
            no_trunc,
            image,
        } => history(store, &mut out, format, no_trunc, &image),
        ImageVerb::Save {
            output,
            format,
            images,
        } => {
            drop(out);
            archives::save(store, output, format, images)
        }
        ImageVerb::Load { input, quiet } => archives::load(store, &mut out, input, quiet),
        ImageVerb::Import {
            change,
            message,
            source,
            name,
        } => archives::import(store, &mut out, change, message, source, name),
        ImageVerb::Pull {
            all_tags,
            quiet,
            platform,
            net,
            image,
        } => {
            drop(out);
            remote::pull(store, &image, all_tags, quiet, platform, &net)
        }
        ImageVerb::Push {
            all_tags,
            quiet,
            net,
            image,
        } => {
            drop(out);
            remote::push(store, &image, all_tags, quiet, &net)
        }
    }
}

const IMAGE_FILTERS: [&str; 5] = ["dangling", "reference", "label", "before", "since"];

pub fn images(store: &Store, out: &mut impl Write, a: &ImagesArgs) -> Result<()> {
    let _lock = store.lock_shared()?;
    let all = image::list(store)?;
    let mut filters = output::filters(&a.filter, &IMAGE_FILTERS)?;
    if let Some(r) = &a.reference {
        filters.push(("reference".into(), r.clone()));
    }
    let format = output::Format::parse(a.format.as_deref())?;
    let created_of = |q: &str| -> Result<String> {
        Ok(find(store, q)?
            .config_raw
            .get("created")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string())
    };
    let mut bounds = Vec::new();
    for (k, v) in &filters {
        if k == "before" || k == "since" {
            bounds.push((k.clone(), v.clone(), created_of(v)?));
        }
    }
    let labels = |id: &str| -> serde_json::Value {
        all.iter()
            .find(|i| i.config_digest.to_string() == id)
            .and_then(|i| i.config_raw.get("config"))
            .and_then(|c| c.get("Labels"))
            .cloned()
            .unwrap_or_default()
    };
    let rows: Vec<_> =
        listing::image_rows(&all)
            .into_iter()
            .filter(|r| {
                output::all_hold(&filters, |k, v| match k {
                    "dangling" => (r.repository == "<none>") == (v == "true" || v == "1"),
                    "reference" => {
                        r.repository != "<none>"
                            && (output::glob(v, &format!("{}:{}", r.repository, r.tag))
                                || output::glob(v, &r.repository))
                    }
                    "label" => output::label_matches(&labels(&r.id), v),
                    "before" | "since" => bounds
                        .iter()
                        .filter(|(bk, bv, _)| bk == k && bv == v)
                        .all(|(_, _, t)| {
                            let (mine, theirs) = (
                                chrono::DateTime::parse_from_rfc3339(&r.created_at).ok(),
                                chrono::DateTime::parse_from_rfc3339(t).ok(),
                            );
                            if k == "before" {
                                mine < theirs
                            } else {
                                mine > theirs
                            }
                        }),
                    _ => false,
                })
            })
            .collect();
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in rows.iter().filter(|r| seen.insert(r.id.clone())) {
            writeln!(
                out,
                "{}",
                if a.no_trunc {
                    r.id.clone()
                } else {
                    r.id[7..19].to_string()
                }
            )?;
        }
        return Ok(());
    }
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).expect("row serialises");
            if !a.no_trunc {
                v["ID"] = r.id[7..19].into();
            }
            v
        })
        .collect();
    let headers = serde_json::json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
        "CreatedAt": "CREATED AT", "CreatedSince": "CREATED", "Size": "SIZE",
    });
    if !format.write(out, &values, &headers)? {
        write!(
            out,
            "{}",
            listing::images_table(&rows, a.no_trunc, a.digests)
        )?;
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
        let report = match remove::remove(store, &q, force) {
            Ok(r) => r,
            // docker's own words, nothing to add.
            Err(e @ remove::RemoveError::Image(sangja_image::image::ImageError::NotFound(_))) => {
                return Err(e.into())
            }
            Err(e) => return Err(anyhow::Error::from(e).context(format!("removing {q}"))),
        };
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
