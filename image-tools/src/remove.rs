//! `rm` and `prune`: untagging, deleting images, and collecting the blobs no image uses.

use crate::digest::Digest;
use crate::image::{self, ImageError};
use crate::reference::Reference;
use crate::store::{GcReport, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories")]
    Conflict { id: String },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default)]
pub struct RemoveReport {
    pub untagged: Vec<Reference>,
    pub deleted: Vec<Digest>,
    pub gc: GcReport,
}

/// Removes `query`: a name is untagged (the image goes with its last name); an image id
/// or digest deletes the image, which needs `force` when several names share it.
pub fn remove(store: &Store, query: &str, force: bool) -> Result<RemoveReport, RemoveError> {
    let lock = store.lock_exclusive()?;
    let mut report = RemoveReport::default();
    let by_name = query
        .parse::<Reference>()
        .ok()
        .map(Reference::with_default_tag)
        .filter(|r| r.digest().is_none())
        .filter(|r| {
            store
                .entries()
                .map(|es| es.iter().any(|e| e.name.as_ref() == Some(r)))
                .unwrap_or(false)
        });
    let image = match &by_name {
        Some(name) => {
            let entries = store.entries()?;
            let digest = entries
                .iter()
                .find(|e| e.name.as_ref() == Some(name))
                .map(|e| e.digest.clone())
                .expect("name is in the index");
            image::load(store, &digest, &entries)?
        }
        None => image::find(store, query)?,
    };
    let manifest = image.manifest_digest.clone();
    let untag_only = by_name.is_some() && image.names.len() > 1;
    if by_name.is_none() && image.names.len() > 1 && !force {
        return Err(RemoveError::Conflict {
            id: image.config_digest.short().to_string(),
        });
    }
    store.update_index(|entries| {
        if untag_only {
            let name = by_name.as_ref().expect("untag by name");
            entries.retain(|e| e.name.as_ref() != Some(name));
            report.untagged.push(name.clone());
        } else {
            report.untagged.extend(
                entries
                    .iter()
                    .filter(|e| e.digest == manifest)
                    .filter_map(|e| e.name.clone()),
            );
            entries.retain(|e| e.digest != manifest);
            report.deleted.push(image.config_digest.clone());
        }
        Ok(())
    })?;
    crate::crash_point::reach("rm-index-updated");
    report.gc = store.collect_garbage(&lock)?;
    Ok(report)
}

/// Every blob no image uses, and the build cache entries whose layers went with them.
pub fn prune(store: &Store) -> Result<GcReport, StoreError> {
    let lock = store.lock_exclusive()?;
    let report = store.collect_garbage(&lock)?;
    let cache = crate::build::cache::dir(store);
    crate::build::cache::prune(store)
        .map_err(|e| StoreError::io("prune build cache", &cache, e))?;
    Ok(report)
}
