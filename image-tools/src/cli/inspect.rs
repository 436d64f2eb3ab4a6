//! `inspect`: containers and images in docker's JSON, a name resolved as docker does
//! (a container first, then an image, unless `--type` says which).

use super::{InspectArgs, InspectType};
use anyhow::{bail, Result};
use sangja_image::container::record::Containers;
use sangja_image::container::{inspect as container_inspect, ContainerError};
use sangja_image::image::{self, ImageError};
use sangja_image::inspect as image_inspect;
use sangja_image::store::Store;
use sangja_image::template::Template;
use serde_json::Value;
use std::io::Write;

/// One name's document, or docker's "No such object" message.
fn resolve(
    store: &Store,
    containers: &Containers,
    kind: Option<InspectType>,
    name: &str,
) -> Result<Value> {
    if kind != Some(InspectType::Image) {
        match containers.find(name) {
            Ok(r) => return Ok(container_inspect::inspect(containers, &r)),
            Err(ContainerError::NotFound(_)) if kind.is_none() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let _lock = store.lock_shared()?;
    match image::find(store, name) {
        Ok(i) => Ok(image_inspect::inspect(&i)),
        Err(ImageError::NotFound(_)) if kind.is_none() => bail!("No such object: {name}"),
        Err(e) => Err(e.into()),
    }
}

/// Prints what it found (docker: everything found is printed, then exit 1 if a name was
/// not); returns the exit status.
pub fn inspect(store: &Store, kind: Option<InspectType>, a: InspectArgs) -> Result<i32> {
    let template = match a.format.as_deref() {
        None | Some("json") => None,
        Some(f) => Some(Template::parse(f)?),
    };
    let containers = Containers::new(store.root());
    let mut docs = Vec::new();
    let mut failed = false;
    for name in &a.names {
        match resolve(store, &containers, kind, name) {
            Ok(d) => docs.push(d),
            Err(e) => {
                super::containers::report(&e);
                failed = true;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match template {
        Some(t) => {
            for d in &docs {
                writeln!(out, "{}", t.render(d)?)?;
            }
        }
        None => writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?,
    }
    Ok(i32::from(failed))
}
