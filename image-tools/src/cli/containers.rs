//! The container commands' edges: `run`, `ps`, `logs`, `stop`, `kill`, `start`,
//! `container rm`, `commit`: arguments to options, output.

use anyhow::{bail, Context, Result};
use sangja_image::bundle;
use sangja_image::container::config::{Network, RunConfig, Volume};
use sangja_image::container::record::{Containers, Record};
use sangja_image::container::run::{self, Outcome, RunOptions};
use sangja_image::container::runtime::{self, RuntimeError};
use sangja_image::container::{lifecycle, logs, ContainerError};
use sangja_image::image::{self, Image, ImageError};
use sangja_image::store::Store;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Run in the background and print the container id.
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open (the container reads ours).
    #[arg(short, long)]
    interactive: bool,
    /// Give the container a terminal.
    #[arg(short, long)]
    tty: bool,
    /// An environment variable (KEY=VALUE, or KEY to take ours).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// A file of KEY=VALUE lines.
    #[arg(long)]
    env_file: Vec<PathBuf>,
    /// A bind mount HOST:CONTAINER[:ro].
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// The working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// USER[:GROUP] or UID[:GID].
    #[arg(short, long)]
    user: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// The container's hostname.
    #[arg(long)]
    hostname: Option<String>,
    /// Overrides the image's Entrypoint ('' clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// none (loopback only) or host.
    #[arg(long, default_value = "none")]
    network: String,
    /// Mount the container's root read-only.
    #[arg(long)]
    read_only: bool,
    /// Memory limit (e.g. 64m, 1g).
    #[arg(short, long)]
    memory: Option<String>,
    /// CPUs (e.g. 0.5).
    #[arg(long)]
    cpus: Option<String>,
    #[arg(long)]
    pids_limit: Option<i64>,
    #[arg(long)]
    cap_add: Vec<String>,
    #[arg(long)]
    cap_drop: Vec<String>,
    /// seccomp=unconfined or seccomp=PROFILE.json (default: the podman/docker profile).
    #[arg(long)]
    security_opt: Vec<String>,
    /// Publishing ports is not supported.
    #[arg(short, long)]
    publish: Vec<String>,
    /// Another OCI runtime binary (runc-compatible).
    #[arg(long, env = "SANGJA_IMAGE_RUNTIME")]
    runtime: Option<PathBuf>,
    image: String,
    /// The command (after the image), replacing the image's Cmd.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// The image, pulled first if the store lacks it.
fn find_or_pull(store: &Store, query: &str) -> Result<Image> {
    {
        let _lock = store.lock_shared()?;
        match image::find(store, query) {
            Ok(i) => return Ok(i),
            Err(ImageError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    super::remote::pull_for_run(store, query)?;
    let _lock = store.lock_shared()?;
    Ok(image::find(store, query)?)
}

/// Runs; returns the exit status for the process.
pub fn run(store: &Store, a: RunArgs) -> Result<i32> {
    if !a.publish.is_empty() {
        bail!("-p/--publish {:?}: publishing ports is not supported yet (only --network none or host)", a.publish[0]);
    }
    let mut seccomp = Some(PathBuf::from(bundle::DEFAULT_SECCOMP_PROFILE));
    for o in &a.security_opt {
        match o.split_once('=') {
            Some(("seccomp", "unconfined")) => seccomp = None,
            Some(("seccomp", p)) => seccomp = Some(PathBuf::from(p)),
            _ => bail!("--security-opt {o:?}: only seccomp=unconfined|PROFILE is supported"),
        }
    }
    let volumes = a
        .volume
        .iter()
        .map(|v| v.parse::<Volume>())
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = RunConfig {
        args: a.command,
        entrypoint: a.entrypoint,
        env: a.env,
        env_files: a.env_file,
        workdir: a.workdir,
        user: a.user,
        hostname: a.hostname,
        network: a.network.parse::<Network>()?,
        read_only: a.read_only,
        volumes,
        tty: a.tty,
        memory: a.memory,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        cap_add: a.cap_add,
        cap_drop: a.cap_drop,
        seccomp_profile: seccomp,
    };
    // Bad flags are refused before any pull.
    sangja_image::container::config::validate(&cfg)?;
    let img = find_or_pull(store, &a.image)?;
    let opts = RunOptions {
        name: a.name,
        detach: a.detach,
        auto_remove: a.rm,
        interactive: a.interactive,
        runtime: a.runtime,
        image_ref: a.image.clone(),
    };
    match run::run(store, &img, &cfg, &opts) {
        Ok(Outcome::Exited(code)) => Ok(code),
        Ok(Outcome::Detached(id)) => {
            println!("{id}");
            Ok(0)
        }
        // As docker: 127 when the program is not there, 126 when it cannot run, 125.
        Err(ContainerError::Runtime(e @ RuntimeError::Start { .. })) => {
            eprintln!("sangja-image: running {}: {e}", a.image);
            let RuntimeError::Start { message, .. } = &e else {
                unreachable!()
            };
            Ok(runtime::start_exit_code(message))
        }
        Err(e) => Err(anyhow::Error::from(e).context(format!("running {}", a.image))),
    }
}

fn containers(store: &Store) -> Containers {
    Containers::new(store.root())
}

fn find(c: &Containers, q: &str) -> Result<Record> {
    Ok(c.find(q)?)
}

pub fn ps(store: &Store, all: bool, quiet: bool, no_trunc: bool) -> Result<()> {
    let c = containers(store);
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    for r in c.list()? {
        let status = lifecycle::describe(&c, &r);
        if !all && !status.starts_with("Up") {
            continue;
        }
        rows.push((r, status));
    }
    if quiet {
        for (r, _) in &rows {
            writeln!(out, "{}", if no_trunc { &r.id[..] } else { &r.id[..12] })?;
        }
        return Ok(());
    }
    let mut table = vec![[
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "NAMES".into(),
    ]];
    for (r, status) in rows {
        let mut cmd = format!("\"{}\"", r.command.join(" "));
        if !no_trunc && cmd.len() > 22 {
            cmd = format!("{}…\"", &cmd[..cmd.floor_char_boundary(19)]);
        }
        let id = if no_trunc { &r.id[..] } else { &r.id[..12] };
        table.push([
            id.to_string(),
            r.image.clone(),
            cmd,
            sangja_image::humanize::since(&r.created),
            status,
            r.name.clone(),
        ]);
    }
    // Columns as wide as their widest cell plus three spaces (docker's tabwriter).
    let mut widths = [0usize; 6];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count() + 3);
        }
    }
    for row in &table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

pub fn logs(store: &Store, follow: bool, container: &str) -> Result<()> {
    let c = containers(store);
    let r = find(&c, container)?;
    logs::logs(&c, &r, follow, &mut std::io::stdout().lock())
        .with_context(|| format!("logs of container {container}"))?;
    Ok(())
}

/// Applies `f` to each container, printing what the user typed on success (docker).
fn each(
    store: &Store,
    list: &[String],
    verb: &str,
    f: impl Fn(&Containers, &Record) -> Result<(), sangja_image::container::ContainerError>,
) -> Result<()> {
    let c = containers(store);
    let mut failed = 0;
    for q in list {
        match find(&c, q).and_then(|r| f(&c, &r).with_context(|| format!("{verb} container {q}"))) {
            Ok(()) => println!("{q}"),
            Err(e) => {
                eprintln!("sangja-image: {e:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{verb}: {failed} of {} container(s) failed", list.len());
    }
    Ok(())
}

pub fn stop(store: &Store, time: u64, list: &[String]) -> Result<()> {
    each(store, list, "stop", |c, r| lifecycle::stop(c, r, time))
}

pub fn kill(store: &Store, signal: &str, list: &[String]) -> Result<()> {
    each(store, list, "kill", |c, r| lifecycle::kill(c, r, signal))
}

pub fn start(store: &Store, list: &[String]) -> Result<()> {
    each(store, list, "start", lifecycle::start)
}

pub fn rm(store: &Store, force: bool, list: &[String]) -> Result<()> {
    each(store, list, "rm", |c, r| lifecycle::remove(c, r, force))
}

pub fn commit(
    store: &Store,
    container: &str,
    name: Option<&str>,
    message: Option<&str>,
) -> Result<()> {
    let c = containers(store);
    let r = find(&c, container)?;
    let name = name
        .map(|n| n.parse::<sangja_image::reference::Reference>())
        .transpose()
        .context("commit name")?;
    let done = sangja_image::container::commit::commit(store, &c, &r, name, message)
        .with_context(|| format!("committing container {container}"))?;
    println!("{}", done.id);
    Ok(())
}
