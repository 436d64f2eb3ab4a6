//! `push`: an image's config and layers uploaded (or found already there, or mounted
//! from another repository of the same registry that the store knows holds them),
//! then its manifest exactly as stored, so the registry's digest is the store's.

use super::client::{scope, Body, Client, Request};
use super::RegistryError;
use crate::digest::Digest;
use crate::image::Image;
use crate::progress::{Progress, Task};
use crate::reference::Reference;
use crate::store::{IndexEntry, Store};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs uploaded at once.
    pub jobs: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions { jobs: 3 }
    }
}

#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: Reference,
    pub manifest: Digest,
    pub size: u64,
    pub uploaded: usize,
    pub mounted: usize,
    pub existing: usize,
}

/// Pushes `image` as `target` (its tag names the manifest; default `latest`).
pub fn push(
    store: &Store,
    client: &Client,
    image: &Image,
    target: &Reference,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<Pushed, RegistryError> {
    let target = target.clone().with_default_tag();
    let repository = target.path();
    let entries = store.entries()?;
    let media_type = entries
        .iter()
        .find(|e| e.digest == image.manifest_digest)
        .map(|e| e.media_type.clone())
        .unwrap_or_else(|| crate::store::MANIFEST_MEDIA_TYPE.to_string());
    let manifest = store.read_blob(&image.manifest_digest)?;
    // What the manifest says it is wins over the index entry.
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
        .map(|doc| super::media::declared(&doc, &media_type))
        .unwrap_or(media_type);
    let mut blobs: Vec<(Digest, u64, Option<String>)> = Vec::new();
    for (d, size) in store.manifest_children(&image.manifest_digest)? {
        if blobs.iter().any(|(b, _, _)| *b == d) {
            continue;
        }
        let from = mount_source(store, &entries, target.domain(), repository, &d);
        blobs.push((d, size, from));
    }
    let mut scopes = vec![scope(repository, "pull,push")];
    let sources: BTreeSet<&String> = blobs.iter().filter_map(|(_, _, f)| f.as_ref()).collect();
    scopes.extend(sources.into_iter().map(|s| scope(s, "pull")));
    let tag = target
        .tag()
        .map(str::to_string)
        .or_else(|| target.digest().map(|d| d.to_string()))
        .expect("a tag or digest");
    progress.line(&format!(
        "The push refers to repository [{}]",
        target.repository()
    ));

    let uploaded = AtomicUsize::new(0);
    let mounted = AtomicUsize::new(0);
    let existing = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let items: Vec<_> = blobs.iter().rev().collect();
    super::parallel::run(&items, opts.jobs, &stop, |(digest, size, from)| {
        let task = progress.task(digest.short(), *size, "Preparing");
        let result = push_blob(
            store,
            client,
            repository,
            &scopes,
            (digest, *size),
            from.as_deref(),
            &task,
        );
        match result {
            Ok(Outcome::Existed) => {
                existing.fetch_add(1, Ordering::Relaxed);
                task.finish("Layer already exists");
                Ok(())
            }
            Ok(Outcome::Mounted) => {
                mounted.fetch_add(1, Ordering::Relaxed);
                task.finish(&format!("Mounted from {}", from.as_deref().unwrap_or("?")));
                Ok(())
            }
            Ok(Outcome::Uploaded) => {
                uploaded.fetch_add(1, Ordering::Relaxed);
                task.finish("Pushed");
                crate::crash_point::reach("push-blob-uploaded");
                Ok(())
            }
            Err(e) => {
                task.fail("Failed");
                Err(e)
            }
        }
    })?;

    let resp = client.send(Request {
        method: "PUT",
        url: client.url(repository, &format!("manifests/{tag}")),
        what: format!("manifest {tag}"),
        repository,
        scopes: &scopes,
        headers: vec![],
        body: Body::Bytes(&manifest, &media_type),
    })?;
    if let Some(d) = resp
        .header("Docker-Content-Digest")
        .and_then(|h| h.parse::<Digest>().ok())
    {
        if d != image.manifest_digest {
            return Err(RegistryError::Invalid {
                registry: client.registry().to_string(),
                repository: repository.to_string(),
                what: format!("manifest {tag}"),
                message: format!(
                    "the registry stored it as {d}, not {}",
                    image.manifest_digest
                ),
            });
        }
    }
    progress.line(&format!(
        "{tag}: digest: {} size: {}",
        image.manifest_digest,
        manifest.len()
    ));
    Ok(Pushed {
        reference: target.clone(),
        manifest: image.manifest_digest.clone(),
        size: manifest.len() as u64,
        uploaded: uploaded.into_inner(),
        mounted: mounted.into_inner(),
        existing: existing.into_inner(),
    })
}

/// Another repository of the same registry that, as far as the store knows (an image
/// named there reaches the blob), holds `digest`.
fn mount_source(
    store: &Store,
    entries: &[IndexEntry],
    domain: &str,
    repository: &str,
    digest: &Digest,
) -> Option<String> {
    entries.iter().find_map(|e| {
        let name = e.name.as_ref()?;
        if name.domain() != domain || name.path() == repository {
            return None;
        }
        let children = store.manifest_children(&e.digest).ok()?;
        children
            .iter()
            .any(|(d, _)| d == digest)
            .then(|| name.path().to_string())
    })
}

enum Outcome {
    Existed,
    Mounted,
    Uploaded,
}

fn push_blob(
    store: &Store,
    client: &Client,
    repository: &str,
    scopes: &[String],
    (digest, size): (&Digest, u64),
    from: Option<&str>,
    task: &Task<'_>,
) -> Result<Outcome, RegistryError> {
    let what = format!("blob {digest}");
    match client.send(Request {
        method: "HEAD",
        url: client.url(repository, &format!("blobs/{digest}")),
        what: what.clone(),
        repository,
        scopes,
        headers: vec![],
        body: Body::Empty,
    }) {
        Ok(_) => return Ok(Outcome::Existed),
        Err(e) if e.status() == Some(404) => {}
        Err(e) => return Err(e),
    }
    let start = match from {
        Some(src) => format!("blobs/uploads/?mount={digest}&from={src}"),
        None => "blobs/uploads/".to_string(),
    };
    let resp = client.send(Request {
        method: "POST",
        url: client.url(repository, &start),
        what: format!("upload of {what}"),
        repository,
        scopes,
        headers: vec![("Content-Length", "0".into())],
        body: Body::Empty,
    })?;
    if resp.status() == 201 && from.is_some() {
        return Ok(Outcome::Mounted);
    }
    let location = resp
        .header("Location")
        .ok_or_else(|| RegistryError::Invalid {
            registry: client.registry().to_string(),
            repository: repository.to_string(),
            what: format!("upload of {what}"),
            message: format!("answer {} has no Location", resp.status()),
        })?;
    let mut url = client.resolve(location);
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={digest}"));
    let path = store.blob_path(digest);
    client.send(Request {
        method: "PUT",
        url,
        what,
        repository,
        scopes,
        headers: vec![],
        body: Body::File(&path, size, Some(task)),
    })?;
    Ok(Outcome::Uploaded)
}
