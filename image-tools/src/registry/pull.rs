//! `pull`: a manifest (picked from an index by platform), its config and layers,
//! streamed into a store transaction and verified against their digests, then
//! committed with the name. Blobs the store has are not fetched; missing ones are
//! fetched in parallel.

use super::client::{scope, Body, Client, Request};
use super::media::{self, Kind};
use super::{Platform, RegistryError};
use crate::digest::Digest;
use crate::progress::{Counting, Progress, Task};
use crate::reference::Reference;
use crate::store::{CommitImage, Store, StoreError, Txn};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to pick from an index; `None` is this machine's.
    pub platform: Option<Platform>,
    /// Blobs fetched at once.
    pub jobs: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            jobs: 3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pulled {
    pub reference: Reference,
    pub manifest: Digest,
    pub id: Digest,
    /// Blobs fetched from the registry (manifests not counted).
    pub fetched: usize,
    /// Whether the store changed (a new image or a name moved).
    pub changed: bool,
}

struct Ctx<'a> {
    client: &'a Client,
    repository: &'a str,
    scopes: Vec<String>,
}

impl Ctx<'_> {
    fn invalid(&self, what: &str, message: impl std::fmt::Display) -> RegistryError {
        RegistryError::Invalid {
            registry: self.client.registry().to_string(),
            repository: self.repository.to_string(),
            what: what.to_string(),
            message: message.to_string(),
        }
    }

    fn blob_err(&self, digest: &Digest, source: StoreError) -> RegistryError {
        RegistryError::Blob {
            registry: self.client.registry().to_string(),
            repository: self.repository.to_string(),
            digest: digest.to_string(),
            source: Box::new(source),
        }
    }

    fn digest(&self, what: &str, s: &str) -> Result<Digest, RegistryError> {
        s.parse().map_err(|e| self.invalid(what, e))
    }
}

/// Every tag of `reference`'s repository, each pulled as [`pull`] does.
pub fn pull_all_tags(
    store: &Store,
    client: &Client,
    reference: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<Vec<Pulled>, RegistryError> {
    let scopes = vec![scope(reference.path(), "pull")];
    let mut tags = client.tags(reference.path(), &scopes)?;
    tags.sort();
    let mut out = Vec::new();
    for tag in tags {
        out.push(pull(
            store,
            client,
            &reference.with_tag(&tag),
            opts,
            progress,
        )?);
    }
    Ok(out)
}

/// Pulls `reference` (tag or digest) into the store. On any error the store is left
/// exactly as it was.
pub fn pull(
    store: &Store,
    client: &Client,
    reference: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<Pulled, RegistryError> {
    let reference = reference.clone().with_default_tag();
    let repository = reference.path();
    let ctx = Ctx {
        client,
        repository,
        scopes: vec![scope(repository, "pull")],
    };
    let wanted = reference
        .digest()
        .map(|d| d.to_string())
        .or_else(|| reference.tag().map(str::to_string))
        .expect("a tag or a digest");
    progress.line(&format!("{wanted}: Pulling from {repository}"));
    let mut txn = store.begin()?;

    let (mut data, mut content_type, mut digest) =
        client.get_manifest(repository, &wanted, &ctx.scopes)?;
    let mut doc = parse_value(&ctx, &format!("manifest {wanted}"), &data)?;
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    if media::kind(&content_type, &doc) == Kind::Index {
        let index: media::Index = parse_typed(&ctx, &format!("index {digest}"), &data)?;
        let chosen = index
            .manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
            .ok_or_else(|| RegistryError::Platform {
                registry: client.registry().to_string(),
                repository: repository.to_string(),
                wanted: platform.to_string(),
                index: digest.to_string(),
                available: index
                    .manifests
                    .iter()
                    .map(|d| {
                        d.platform
                            .as_ref()
                            .map(|p| p.to_string())
                            .unwrap_or_else(|| "unknown".into())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let child = ctx.digest(&format!("index {digest} entry"), &chosen.digest)?;
        (data, content_type, digest) =
            client.get_manifest(repository, &child.to_string(), &ctx.scopes)?;
        doc = parse_value(&ctx, &format!("manifest {child}"), &data)?;
        if media::kind(&content_type, &doc) == Kind::Index {
            return Err(ctx.invalid(
                &format!("manifest {child}"),
                "an index inside an index is not supported",
            ));
        }
    }
    let what = format!("manifest {digest}");
    match media::kind(&content_type, &doc) {
        Kind::Schema1 => {
            return Err(ctx.invalid(
                &what,
                "Docker schema 1 manifests are not supported (push the image again with a current client)",
            ))
        }
        Kind::Index => unreachable!("handled above"),
        Kind::Manifest => {}
    }
    let manifest: media::Manifest = parse_typed(&ctx, &what, &data)?;
    let media_type = media::declared(
        &doc,
        if content_type.is_empty() {
            media::OCI_MANIFEST
        } else {
            &content_type
        },
    );
    let config = ctx.digest(&format!("{what} config.digest"), &manifest.config.digest)?;
    let mut blobs = vec![(config.clone(), manifest.config.size)];
    for (i, l) in manifest.layers.iter().enumerate() {
        blobs.push((
            ctx.digest(&format!("{what} layers[{i}].digest"), &l.digest)?,
            l.size,
        ));
    }
    let manifest_info = txn
        .write_blob(&data[..], Some((&digest, Some(data.len() as u64))))
        .map_err(|e| ctx.blob_err(&digest, e))?;
    crate::crash_point::reach("pull-manifest-staged");

    let adopted = txn.adopt_leftovers(&blobs);
    if !adopted.is_empty() {
        tracing::info!(
            count = adopted.len(),
            "resuming from blobs of an interrupted pull"
        );
    }
    let mut missing = Vec::new();
    for (d, size) in &blobs {
        if txn.has_blob(d) || missing.iter().any(|(m, _)| m == d) {
            if d != &config {
                progress.line(&format!("{}: Already exists", d.short()));
            }
        } else {
            missing.push((d.clone(), *size));
        }
    }
    let fetched = missing.len();
    // The config first: a wrong platform or a broken config stops before the layers.
    let (first, rest): (Vec<_>, Vec<_>) = missing.into_iter().partition(|(d, _)| *d == config);
    fetch_all(&ctx, &mut txn, &first, 1, progress)?;
    check_config(&ctx, &txn, &config, opts.platform.as_ref())?;
    fetch_all(&ctx, &mut txn, &rest, opts.jobs.max(1), progress)?;

    let names = if reference.digest().is_some() {
        Vec::new()
    } else {
        vec![reference.clone()]
    };
    let before = store.entries()?;
    txn.commit(&[CommitImage {
        manifest: manifest_info,
        media_type,
        names: names.clone(),
    }])?;
    let changed = fetched > 0
        || !before.iter().any(|e| e.digest == digest)
        || names.iter().any(|n| {
            !before
                .iter()
                .any(|e| e.digest == digest && e.name.as_ref() == Some(n))
        });
    progress.line(&format!("Digest: {digest}"));
    progress.line(&if changed {
        format!(
            "Status: Downloaded newer image for {}",
            reference.familiar()
        )
    } else {
        format!("Status: Image is up to date for {}", reference.familiar())
    });
    Ok(Pulled {
        reference,
        manifest: digest,
        id: config,
        fetched,
        changed,
    })
}

fn parse_value(ctx: &Ctx<'_>, what: &str, data: &[u8]) -> Result<serde_json::Value, RegistryError> {
    serde_json::from_slice(data).map_err(|e| ctx.invalid(what, format!("not JSON: {e}")))
}

fn parse_typed<T: serde::de::DeserializeOwned>(
    ctx: &Ctx<'_>,
    what: &str,
    data: &[u8],
) -> Result<T, RegistryError> {
    crate::store::parse_json(what, data).map_err(|e| match e {
        StoreError::BadJson { field, message, .. } => {
            ctx.invalid(what, format!("invalid at {field}: {message}"))
        }
        other => other.into(),
    })
}

/// The config must be an image config; with `--platform` it must be for that platform.
fn check_config(
    ctx: &Ctx<'_>,
    txn: &Txn<'_>,
    config: &Digest,
    platform: Option<&Platform>,
) -> Result<(), RegistryError> {
    let what = format!("config {config}");
    let data = txn.read_blob(config).map_err(|e| ctx.blob_err(config, e))?;
    let _: oci_spec::image::ImageConfiguration = parse_typed(ctx, &what, &data)?;
    if let Some(want) = platform {
        let doc: Platform = parse_typed(ctx, &what, &data)?;
        // Configs often leave the variant out: compare it only when there is one.
        let same = doc.os == want.os
            && doc.architecture == want.architecture
            && (doc.variant.is_none() || want.matches(&doc));
        if !same {
            return Err(ctx.invalid(
                &what,
                format!("the image is for {doc}, not the requested {want}"),
            ));
        }
    }
    Ok(())
}

/// Fetches `blobs` into the transaction, `jobs` at a time; the first error stops the rest.
fn fetch_all(
    ctx: &Ctx<'_>,
    txn: &mut Txn<'_>,
    blobs: &[(Digest, u64)],
    jobs: usize,
    progress: &Progress,
) -> Result<(), RegistryError> {
    let txn = Mutex::new(txn);
    let stop = AtomicBool::new(false);
    super::parallel::run(blobs, jobs, &stop, |(digest, size)| {
        let task = progress.task(digest.short(), *size, "Pulling fs layer");
        match fetch_blob(ctx, &txn, digest, *size, &task, &stop) {
            Ok(()) => {
                task.finish("Pull complete");
                Ok(())
            }
            Err(e) => {
                task.fail("Failed");
                Err(e)
            }
        }
    })
}

fn fetch_blob(
    ctx: &Ctx<'_>,
    txn: &Mutex<&mut Txn<'_>>,
    digest: &Digest,
    size: u64,
    task: &Task<'_>,
    stop: &AtomicBool,
) -> Result<(), RegistryError> {
    let client = ctx.client;
    let what = format!("blob {digest}");
    let mut attempt = 0;
    loop {
        let resp = client.send(Request {
            method: "GET",
            url: client.url(ctx.repository, &format!("blobs/{digest}")),
            what: what.clone(),
            repository: ctx.repository,
            scopes: &ctx.scopes,
            headers: vec![],
            body: Body::Empty,
        })?;
        let mut writer = txn
            .lock()
            .expect("txn")
            .blob_writer()
            .map_err(|e| ctx.blob_err(digest, e))?;
        // One byte past the promised size is enough to know it is wrong.
        let mut reader = Counting {
            inner: resp.into_reader().take(size + 1),
            task,
        };
        match copy_until_stopped(&mut reader, &mut writer, stop) {
            Ok(_) => {
                txn.lock()
                    .expect("txn")
                    .finish_blob(writer, Some((digest, Some(size))))
                    .map_err(|e| ctx.blob_err(digest, e))?;
                crate::crash_point::reach("pull-blob-fetched");
                return Ok(());
            }
            Err(e) => {
                writer.discard();
                if stop.load(Ordering::Relaxed) {
                    return Err(RegistryError::Other(format!("{what}: cancelled")));
                }
                if attempt >= client.retries() {
                    return Err(RegistryError::Transport {
                        registry: client.registry().to_string(),
                        what: format!("GET {what} of {}", ctx.repository),
                        message: format!("body cut short after {attempt} retries: {e}"),
                    });
                }
                tracing::debug!(error = %e, %digest, attempt, "blob transfer failed, retrying");
                task.restart();
                client.backoff(attempt, None);
                attempt += 1;
            }
        }
    }
}

fn copy_until_stopped(
    from: &mut impl Read,
    to: &mut impl Write,
    stop: &AtomicBool,
) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}
