//! The registry commands' edges: arguments to options, credentials, output.

use super::NetArgs;
use anyhow::{bail, Context, Result};
use sangja_image::credentials::{self, Credential};
use sangja_image::image;
use sangja_image::progress::Progress;
use sangja_image::reference::{Reference, DEFAULT_DOMAIN};
use sangja_image::registry::pull::{self, PullOptions};
use sangja_image::registry::push::{self, PushOptions};
use sangja_image::registry::{config, Client, ClientOptions, Platform};
use sangja_image::store::Store;
use std::io::{BufRead, Write};

fn client_options(
    registry: &str,
    net: &NetArgs,
    credential: Option<Credential>,
) -> Result<ClientOptions> {
    let mut insecure = config::load()?.insecure_registries;
    if net.insecure {
        insecure.push(registry.to_string());
    }
    let mut opts = ClientOptions {
        insecure,
        cert_dir: net.cert_dir.clone(),
        credential,
        ..ClientOptions::default()
    };
    // The first retry's delay (tests shorten it).
    if let Some(ms) = std::env::var("SANGJA_IMAGE_RETRY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        opts.retry_base = std::time::Duration::from_millis(ms);
    }
    // The token request's whole-time limit (tests shorten it to prove the bound).
    if let Some(ms) = std::env::var("SANGJA_IMAGE_TOKEN_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        opts.token_deadline = std::time::Duration::from_millis(ms);
    }
    Ok(opts)
}

pub(super) fn connect(registry: &str, net: &NetArgs) -> Result<Client> {
    let path = credentials::config_path()?;
    let credential = credentials::lookup(&path, registry)?;
    Ok(Client::connect(
        registry,
        &client_options(registry, net, credential)?,
    )?)
}

pub fn pull(
    store: &Store,
    image: &str,
    all_tags: bool,
    quiet: bool,
    platform: Option<String>,
    net: &NetArgs,
) -> Result<()> {
    let reference: Reference = image.parse().context("pull")?;
    let platform = platform.map(|p| p.parse::<Platform>()).transpose()?;
    let opts = PullOptions {
        platform,
        ..PullOptions::default()
    };
    let progress = Progress::new(quiet);
    let what = || format!("pulling {image}");
    let client = connect(reference.domain(), net).with_context(what)?;
    let pulled = if all_tags {
        if reference.tag().is_some() || reference.digest().is_some() {
            bail!("pull --all-tags {image}: name a repository without a tag or digest");
        }
        pull::pull_all_tags(store, &client, &reference, &opts, &progress).with_context(what)?
    } else {
        vec![pull::pull(store, &client, &reference, &opts, &progress).with_context(what)?]
    };
    let mut out = std::io::stdout().lock();
    for p in &pulled {
        writeln!(out, "{}", p.reference)?;
    }
    Ok(())
}

pub fn push(store: &Store, image: &str, all_tags: bool, quiet: bool, net: &NetArgs) -> Result<()> {
    let _lock = store.lock_shared()?;
    let progress = Progress::new(quiet);
    let mut jobs: Vec<(image::Image, Reference)> = Vec::new();
    if all_tags {
        let reference: Reference = image.parse().context("push")?;
        if reference.tag().is_some() || reference.digest().is_some() {
            bail!("push --all-tags {image}: name a repository without a tag or digest");
        }
        for e in store.entries()? {
            if let Some(n) = e
                .name
                .filter(|n| n.repository() == reference.repository() && n.tag().is_some())
            {
                jobs.push((image::find(store, &n.to_string())?, n));
            }
        }
        if jobs.is_empty() {
            bail!(
                "push --all-tags {image}: no tag of {} in the store",
                reference.repository()
            );
        }
    } else {
        let found = image::find(store, image)?;
        let reference: Reference = image
            .parse::<Reference>()
            .map(Reference::with_default_tag)
            .ok()
            .filter(|r| r.digest().is_none())
            .with_context(|| format!("push {image}: name the image by repository and tag"))?;
        jobs.push((found, reference));
    }
    let domain = jobs[0].1.domain().to_string();
    let client = connect(&domain, net).with_context(|| format!("pushing {image}"))?;
    for (img, reference) in jobs {
        let pushed = push::push(
            store,
            &client,
            &img,
            &reference,
            &PushOptions::default(),
            &progress,
        )
        .with_context(|| format!("pushing {reference}"))?;
        if quiet {
            writeln!(std::io::stdout(), "{}", pushed.reference)?;
        }
    }
    Ok(())
}

/// `docker login` names registries as `host[:port]`, also with a scheme or path.
fn registry_name(arg: Option<String>) -> String {
    let raw = arg.unwrap_or_else(|| DEFAULT_DOMAIN.to_string());
    let s = raw
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_DOMAIN.to_string(),
        other => other.to_string(),
    }
}

pub fn login(
    username: Option<String>,
    password: Option<String>,
    password_stdin: bool,
    net: &NetArgs,
    registry: Option<String>,
) -> Result<()> {
    let registry = registry_name(registry);
    let stdin = std::io::stdin();
    let username = match username {
        Some(u) => u,
        None if !password_stdin => {
            eprint!("Username: ");
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            line.trim().to_string()
        }
        None => bail!("login {registry}: --password-stdin needs --username"),
    };
    let password = match password {
        Some(p) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        None => {
            let mut line = String::new();
            if !password_stdin {
                eprint!("Password: ");
            }
            stdin.lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    if username.is_empty() || password.is_empty() {
        bail!("login {registry}: username and password must not be empty");
    }
    let cred = Credential { username, password };
    let client = Client::connect(
        &registry,
        &client_options(&registry, net, Some(cred.clone()))?,
    )
    .with_context(|| format!("login to {registry}"))?;
    client
        .verify_login()
        .with_context(|| format!("login to {registry} failed"))?;
    let path = credentials::config_path()?;
    credentials::store(&path, &registry, &cred)?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(registry: Option<String>) -> Result<()> {
    let registry = registry_name(registry);
    let path = credentials::config_path()?;
    if credentials::remove(&path, &registry)? {
        println!(
            "Removing login credentials for {}",
            credentials::key_for(&registry)
        );
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(())
}

/// `run`'s pull of a missing image: docker's message on stderr, no progress output
/// (stdout belongs to the container).
pub fn pull_for_run(store: &Store, image: &str) -> Result<()> {
    pull_platform(store, image, None)
}

/// [`pull_for_run`] picking `platform` from an index (`None`: this machine's).
pub fn pull_platform(
    store: &Store,
    image: &str,
    platform: Option<sangja_image::registry::platform::Platform>,
) -> Result<()> {
    eprintln!("Unable to find image '{image}' locally");
    let reference: Reference = image.parse().context("pull")?;
    let net = NetArgs {
        insecure: false,
        cert_dir: None,
    };
    let client = connect(reference.domain(), &net).with_context(|| format!("pulling {image}"))?;
    let progress = Progress::new(true);
    let pulled = pull::pull(
        store,
        &client,
        &reference,
        &PullOptions {
            platform,
            ..PullOptions::default()
        },
        &progress,
    )
    .with_context(|| format!("pulling {image}"))?;
    eprintln!("Pulled {}", pulled.reference);
    Ok(())
}
