//! The container commands' edges: `run`, `create`, `start`, `ps`, `logs`, `stop`,
//! `kill`, `rm`, `exec`, `pause`, `unpause`, `rename`, `top`, `wait`, `cp`, `export`,
//! `commit`: arguments to options, output, docker's exit statuses.

use anyhow::{bail, Context, Result};
use sangja_image::bundle;
use sangja_image::container::config::{Network, RunConfig, Volume};
use sangja_image::container::record::{Containers, Record};
use sangja_image::container::run::{self, Outcome, RunOptions};
use sangja_image::container::runtime::{self, RuntimeError, Status};
use sangja_image::container::{
    attach, copy, exec, health, isolation, lifecycle, logs, ContainerError,
};
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
    /// STDIN, STDOUT or STDERR: only these streams of a foreground run are ours (may
    /// repeat; default all three).
    #[arg(short = 'a', long = "attach", value_name = "STREAM")]
    attach: Vec<String>,
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
    /// bridge (the default, as docker's), NAME (a `network create`d one), none (loopback
    /// only), host, or container:NAME (another container's namespace).
    #[arg(long, visible_alias = "net")]
    network: Option<String>,
    /// NAME:IP, an extra /etc/hosts line.
    #[arg(long)]
    add_host: Vec<String>,
    /// A nameserver for /etc/resolv.conf (default: the host's).
    #[arg(long)]
    dns: Vec<String>,
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
    /// [IP:][HOST:]CONTAINER[/tcp|udp]: a host port forwarded to the container (no HOST:
    /// a free one).
    #[arg(short, long)]
    publish: Vec<String>,
    /// Every port the image EXPOSEs, each to a free host port.
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Another OCI runtime binary (runc-compatible).
    #[arg(long, env = "SANGJA_IMAGE_RUNTIME")]
    runtime: Option<PathBuf>,
    /// type=bind|volume|tmpfs,source=...,target=...[,readonly].
    #[arg(long)]
    mount: Vec<String>,
    /// A tmpfs at PATH[:size=64m,mode=1777,...].
    #[arg(long)]
    tmpfs: Vec<String>,
    /// no, on-failure[:N], always, unless-stopped (the monitor restarts it).
    #[arg(long)]
    restart: Option<String>,
    /// Every capability, no seccomp filter, nothing masked, every host device.
    #[arg(long)]
    privileged: bool,
    /// NAME=SOFT[:HARD] (nofile, nproc, core, ...; -1 for unlimited).
    #[arg(long)]
    ulimit: Vec<String>,
    /// HOST[:CONTAINER][:PERMISSIONS]: a host device node in the container.
    #[arg(long)]
    device: Vec<String>,
    /// host, or container:NAME (another container's PID namespace).
    #[arg(long)]
    pid: Option<String>,
    /// private, shareable, host, or container:NAME.
    #[arg(long)]
    ipc: Option<String>,
    /// host: the host's hostname namespace.
    #[arg(long)]
    uts: Option<String>,
    /// The signal `stop` sends first (default the image's STOPSIGNAL, else SIGTERM).
    #[arg(long)]
    stop_signal: Option<String>,
    /// KEY=VALUE (or KEY, empty): a label on the container; may repeat.
    #[arg(short, long)]
    label: Vec<String>,
    /// A file of KEY=VALUE label lines.
    #[arg(long)]
    label_file: Vec<PathBuf>,
    /// Seconds `stop` waits after the stop signal before SIGKILL (default 10).
    #[arg(long)]
    stop_timeout: Option<u64>,
    /// The health probe, run with /bin/sh -c in the container (overrides HEALTHCHECK).
    #[arg(long)]
    health_cmd: Option<String>,
    /// Time between probes (Go duration: 30s, 1m30s; default 30s).
    #[arg(long)]
    health_interval: Option<String>,
    /// How long a probe may run before it fails (default 30s).
    #[arg(long)]
    health_timeout: Option<String>,
    /// Failures in a row that make it unhealthy (default 3).
    #[arg(long, allow_negative_numbers = true)]
    health_retries: Option<i64>,
    /// Time to start in, when failures are not counted (default 0s).
    #[arg(long)]
    health_start_period: Option<String>,
    /// Time between probes during the start period (default 5s).
    #[arg(long)]
    health_start_interval: Option<String>,
    /// No health check, whatever the image says.
    #[arg(long)]
    no_healthcheck: bool,
    /// Run an init (sangja-init, docker's tini) as PID 1: it forwards signals and
    /// reaps zombies.
    #[arg(long)]
    init: bool,
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

/// docker's default, the `bridge` network, where it can work (root and the CNI plugins
/// installed); else loopback only, saying why (rootless, that is simply the default).
fn default_network() -> Network {
    let root = nix::unistd::geteuid().is_root();
    if root && sangja_image::network::cni::available() {
        return Network::Bridge(sangja_image::network::store::DEFAULT_NETWORK.into());
    }
    if !root {
        tracing::info!("rootless: --network none (a bridge network needs root)");
        return Network::None;
    }
    tracing::warn!(
        root,
        "no bridge network (needs root and the CNI plugins of containernetworking-plugins): --network none"
    );
    Network::None
}

/// `--label` values, after the `--label-file` lines (docker's order: files first).
fn labels(flags: &[String], files: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut lines: Vec<(String, String)> = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("--label-file {}", f.display()))?;
        for l in text.lines().map(str::trim) {
            if !l.is_empty() && !l.starts_with('#') {
                lines.push(("--label-file".into(), l.to_string()));
            }
        }
    }
    lines.extend(flags.iter().map(|l| ("--label".into(), l.clone())));
    let mut out: Vec<(String, String)> = Vec::new();
    for (flag, l) in lines {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        if k.is_empty() {
            bail!("{flag} {l:?}: want KEY=VALUE");
        }
        out.retain(|(x, _)| x != k);
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `--pid`, `--ipc`, `--uts`: whose namespace, `container:NAME` resolved to the running
/// container's namespace file.
fn share_flag(
    store: &Store,
    flag: &str,
    value: Option<&str>,
    kind: &str,
) -> Result<isolation::Share> {
    let Some(v) = value else {
        return Ok(isolation::Share::Private);
    };
    let modes = match kind {
        "uts" => "host",
        "ipc" => "private, shareable, host or container:NAME",
        _ => "host or container:NAME",
    };
    match v.split_once(':') {
        None if v == "host" => Ok(isolation::Share::Host),
        None if kind == "ipc" && (v == "private" || v == "shareable") => {
            Ok(isolation::Share::Private)
        }
        Some(("container", name)) if kind != "uts" && !name.is_empty() => {
            let path = isolation::namespace_of(&containers(store), name, kind)
                .with_context(|| format!("{flag} {v}"))?;
            Ok(isolation::Share::Path(path))
        }
        _ => bail!("{flag} {v:?}: want {modes}"),
    }
}

fn isolation_flags(store: &Store, a: &RunArgs) -> Result<isolation::Isolation> {
    if a.uts.is_some() && a.hostname.is_some() {
        bail!(
            "--uts {:?}: conflicting options: --hostname and --uts host",
            a.uts.as_deref().unwrap_or("")
        );
    }
    if let Some(sig) = a
        .stop_signal
        .as_ref()
        .filter(|s| !sangja_image::build::valid_signal(s))
    {
        bail!("--stop-signal {sig:?}: not a signal name or number");
    }
    Ok(isolation::Isolation {
        privileged: a.privileged,
        no_new_privileges: false,
        ulimits: a
            .ulimit
            .iter()
            .map(|u| isolation::parse_ulimit(u))
            .collect::<Result<_, _>>()?,
        devices: a
            .device
            .iter()
            .map(|d| isolation::parse_device(d))
            .collect::<Result<_, _>>()?,
        pid: share_flag(store, "--pid", a.pid.as_deref(), "pid")?,
        ipc: share_flag(store, "--ipc", a.ipc.as_deref(), "ipc")?,
        uts: share_flag(store, "--uts", a.uts.as_deref(), "uts")?,
        stop_signal: a.stop_signal.clone(),
    })
}

/// `-a` as docker takes it: which of stdin, stdout and stderr are attached (all three
/// without `-a`); refused with `-d`.
fn attached_streams(list: &[String], detach: bool) -> Result<[bool; 3]> {
    if list.is_empty() {
        return Ok([true; 3]);
    }
    if detach {
        bail!("Conflicting options: -a and -d");
    }
    let mut on = [false; 3];
    for s in list {
        match s.to_ascii_lowercase().as_str() {
            "stdin" => on[0] = true,
            "stdout" => on[1] = true,
            "stderr" => on[2] = true,
            _ => bail!(
                "invalid argument {s:?} for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
            ),
        }
    }
    Ok(on)
}

/// Runs (or with `create_only` creates); returns the exit status for the process.
pub fn run(store: &Store, a: RunArgs, create_only: bool) -> Result<i32> {
    let publish = a
        .publish
        .iter()
        .map(|p| sangja_image::network::ports::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let network = match &a.network {
        Some(n) => n.parse::<Network>()?,
        None => default_network(),
    };
    // An unknown network is refused before any pull.
    if let Network::Bridge(n) = &network {
        sangja_image::network::store::Networks::new(store.root()).get(n)?;
    }
    let streams = attached_streams(&a.attach, a.detach)?;
    let mut seccomp = Some(PathBuf::from(bundle::DEFAULT_SECCOMP_PROFILE));
    let mut isolation = isolation_flags(store, &a)?;
    for o in &a.security_opt {
        if let Some(nnp) = isolation::parse_no_new_privileges(o) {
            isolation.no_new_privileges = nnp?;
            continue;
        }
        match o.split_once('=') {
            Some(("seccomp", "unconfined")) => seccomp = None,
            Some(("seccomp", p)) => seccomp = Some(PathBuf::from(p)),
            _ => bail!(
                "--security-opt {o:?}: only seccomp=unconfined|PROFILE and no-new-privileges are supported"
            ),
        }
    }
    if isolation.privileged {
        seccomp = None;
    }
    let mut volumes = a
        .volume
        .iter()
        .map(|v| v.parse::<Volume>())
        .collect::<Result<Vec<_>, _>>()?;
    for m in &a.mount {
        volumes.push(sangja_image::container::config::parse_mount(m)?);
    }
    for t in &a.tmpfs {
        volumes.push(sangja_image::container::config::parse_tmpfs(t)?);
    }
    let cfg = RunConfig {
        args: a.command,
        entrypoint: a.entrypoint,
        env: a.env,
        env_files: a.env_file,
        workdir: a.workdir,
        user: a.user,
        hostname: a.hostname,
        network,
        publish,
        publish_all: a.publish_all,
        add_hosts: a.add_host,
        dns: a.dns,
        joined: None,
        read_only: a.read_only,
        volumes,
        tty: a.tty,
        memory: a.memory,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        cap_add: a.cap_add,
        cap_drop: a.cap_drop,
        seccomp_profile: seccomp,
        isolation,
        labels: labels(&a.label, &a.label_file)?,
        init: a
            .init
            .then(sangja_image::container::init::locate)
            .transpose()?,
    };
    let health_flags = health::HealthFlags {
        cmd: a.health_cmd,
        interval: a.health_interval,
        timeout: a.health_timeout,
        start_period: a.health_start_period,
        start_interval: a.health_start_interval,
        retries: a.health_retries,
        none: a.no_healthcheck,
    };
    // Bad flags are refused before any pull.
    sangja_image::container::config::validate(&cfg)?;
    health::resolve(None, &health_flags)?;
    let state_root = super::state_root()?;
    let img = find_or_pull(store, &a.image)?;
    let healthcheck = health::resolve(health::of_image(&img.config_raw).as_ref(), &health_flags)?;
    let opts = RunOptions {
        name: a.name,
        detach: a.detach,
        auto_remove: a.rm,
        interactive: a.interactive && streams[0],
        output: [streams[1], streams[2]],
        runtime: a.runtime,
        image_ref: a.image.clone(),
        create_only,
        restart: a.restart.clone(),
        stop_timeout: a.stop_timeout,
        healthcheck,
        state_root,
    };
    match run::run(store, &img, &cfg, &opts) {
        Ok(Outcome::Exited(code)) => Ok(code),
        Ok(Outcome::Detached(id) | Outcome::Created(id)) => {
            println!("{id}");
            Ok(0)
        }
        // As docker: 127 when the program is not there, 126 when it cannot run, 125.
        Err(ContainerError::Runtime(e @ RuntimeError::Start { .. })) => {
            eprintln!("Error: running {}: {e}", a.image);
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

/// The verbs with the same name at the top level and in the `container` group.
#[derive(clap::Subcommand)]
pub enum ContainerVerb {
    /// Run a command in a new container of an image (pulled if missing).
    Run(Box<RunArgs>),
    /// Create a container of an image (pulled if missing) without starting it.
    Create(Box<RunArgs>),
    /// Start created or stopped containers (detached, same writable layer).
    Start {
        /// Show the container's output until it exits, and exit with its status.
        #[arg(short, long)]
        attach: bool,
        /// Attach stdin too (with -a).
        #[arg(short, long)]
        interactive: bool,
        /// The keys that detach (docker's syntax: "ctrl-p,ctrl-q", "ctrl-a,x").
        #[arg(long)]
        detach_keys: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Attach our stdin, stdout and stderr to a running detached container.
    Attach(AttachArgs),
    /// Show a detached container's output.
    Logs {
        #[arg(short, long)]
        follow: bool,
        container: String,
    },
    /// Stop containers: the stop signal, then SIGKILL after --time seconds.
    Stop {
        /// Seconds before SIGKILL (default: the container's --stop-timeout, else 10).
        #[arg(short, long)]
        time: Option<u64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to containers.
    Kill {
        #[arg(short, long, default_value = "SIGKILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Run a command in a running container (through the OCI runtime's exec).
    Exec(ExecArgs),
    /// Freeze every process of containers.
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Thaw paused containers.
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Give a container a new name.
    Rename { container: String, new_name: String },
    /// Show a container's processes (the host's `ps`, default `-ef`).
    Top {
        container: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Block until containers stop; print their exit statuses.
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Copy between a container and the host: CONTAINER:SRC DEST or SRC CONTAINER:DEST
    /// ('-' for a tar stream on stdin or stdout).
    Cp {
        /// Follow a symlink at SRC (inside the container: never out of it).
        #[arg(short = 'L', long)]
        follow_link: bool,
        /// Keep owners (always done).
        #[arg(short, long)]
        archive: bool,
        src: String,
        dest: String,
    },
    /// Write a container's filesystem as a tar archive (stdout without -o).
    Export {
        #[arg(short, long)]
        output: Option<PathBuf>,
        container: String,
    },
    /// Live CPU, memory, network, block I/O and pids of containers.
    Stats(super::stats::StatsArgs),
    /// Make an image of a container's changes on top of its image.
    Commit {
        #[arg(short, long)]
        message: Option<String>,
        container: String,
        name: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct AttachArgs {
    /// Do not attach stdin.
    #[arg(long)]
    no_stdin: bool,
    /// Pass the signals we receive on to the container (not with a tty).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sig_proxy: bool,
    /// The keys that detach (docker's syntax: "ctrl-p,ctrl-q", "ctrl-a,x").
    #[arg(long)]
    detach_keys: Option<String>,
    container: String,
}

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Leave the process running in the background.
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open (the process reads ours).
    #[arg(short, long)]
    interactive: bool,
    /// Give the process a terminal.
    #[arg(short, long)]
    tty: bool,
    /// USER[:GROUP] or UID[:GID].
    #[arg(short, long)]
    user: Option<String>,
    /// The working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// An environment variable (KEY=VALUE, or KEY to take ours).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Every capability.
    #[arg(long)]
    privileged: bool,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(clap::Args)]
pub struct PsArgs {
    /// Every container, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Only container ids.
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long)]
    pub no_trunc: bool,
    /// KEY=VALUE: id, name, status, label, ancestor, exited, before, since.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// table, json, a Go template ('{{.ID}} {{.Status}}') or 'table TEMPLATE'.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Kill a running container first.
    #[arg(short, long)]
    pub force: bool,
    /// Remove its anonymous volumes too.
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// docker's report of a failure the exit status then tells.
pub(super) fn report(e: &anyhow::Error) {
    eprintln!("Error: {e:#}");
}

pub fn verb(store: &Store, v: ContainerVerb) -> Result<i32> {
    match v {
        // docker: 125 when the container could not be made or started at all.
        ContainerVerb::Run(a) => run(store, *a, false).or_else(|e| {
            report(&e);
            Ok(125)
        }),
        ContainerVerb::Create(a) => run(store, *a, true).or_else(|e| {
            report(&e);
            Ok(125)
        }),
        ContainerVerb::Start {
            attach,
            interactive,
            detach_keys,
            containers,
        } => start(
            store,
            attach,
            interactive,
            detach_keys.as_deref(),
            &containers,
        ),
        ContainerVerb::Attach(a) => attach_verb(store, &a),
        ContainerVerb::Logs { follow, container } => logs(store, follow, &container).map(|_| 0),
        ContainerVerb::Stop { time, containers } => each(store, &containers, "stop", |c, r| {
            lifecycle::stop(c, r, time.or(r.stop_timeout).unwrap_or(10))
        }),
        ContainerVerb::Kill { signal, containers } => each(store, &containers, "kill", |c, r| {
            lifecycle::kill(c, r, &signal)
        }),
        ContainerVerb::Exec(a) => exec(store, a),
        ContainerVerb::Pause { containers } => each(store, &containers, "pause", lifecycle::pause),
        ContainerVerb::Unpause { containers } => {
            each(store, &containers, "unpause", lifecycle::unpause)
        }
        ContainerVerb::Rename {
            container,
            new_name,
        } => {
            let c = containers(store);
            let r = find(&c, &container)?;
            lifecycle::rename(&c, &r, &new_name)
                .with_context(|| format!("renaming container {container}"))?;
            Ok(0)
        }
        ContainerVerb::Top { container, ps_args } => {
            let c = containers(store);
            let r = find(&c, &container)?;
            print!("{}", lifecycle::top(&c, &r, &ps_args)?);
            Ok(0)
        }
        ContainerVerb::Wait { containers: list } => {
            let c = containers(store);
            let mut failed = false;
            for q in &list {
                match find(&c, q).and_then(|r| Ok(lifecycle::wait(&c, &r)?)) {
                    Ok(code) => println!("{code}"),
                    Err(e) => {
                        report(&e);
                        failed = true;
                    }
                }
            }
            Ok(i32::from(failed))
        }
        ContainerVerb::Cp {
            follow_link,
            archive: _,
            src,
            dest,
        } => cp(store, follow_link, &src, &dest).map(|_| 0),
        ContainerVerb::Stats(a) => super::stats::stats(store, &a),
        ContainerVerb::Export { output, container } => export(store, output, &container).map(|_| 0),
        ContainerVerb::Commit {
            message,
            container,
            name,
        } => commit(store, &container, name.as_deref(), message.as_deref()).map(|_| 0),
    }
}

/// One `ps` row as docker's `--format` fields.
fn ps_row(c: &Containers, r: &Record, status: &str, no_trunc: bool) -> serde_json::Value {
    let mut cmd = format!("\"{}\"", r.command.join(" "));
    if !no_trunc && cmd.len() > 22 {
        cmd = format!("{}…\"", &cmd[..cmd.floor_char_boundary(19)]);
    }
    let doc = sangja_image::container::inspect::inspect(c, r);
    let labels = doc["Config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    serde_json::json!({
        "ID": if no_trunc { &r.id[..] } else { &r.id[..12] },
        "Image": r.image,
        "Command": cmd,
        "CreatedAt": r.created,
        "RunningFor": sangja_image::humanize::since(&r.created),
        "Ports": sangja_image::container::network::ports_text(r),
        "Status": status,
        "State": doc["State"]["Status"],
        "Names": r.name,
        "Labels": labels,
        "Mounts": doc["Mounts"].as_array().map(|m| m.iter().filter_map(|x| x["Destination"].as_str()).collect::<Vec<_>>().join(",")).unwrap_or_default(),
        "Networks": r.net.as_ref().and_then(|n| n.network.clone()).unwrap_or_default(),
    })
}

const PS_FILTERS: [&str; 9] = [
    "id", "name", "status", "label", "ancestor", "exited", "before", "since", "health",
];

pub fn ps(store: &Store, a: &PsArgs) -> Result<()> {
    let (quiet, no_trunc) = (a.quiet, a.no_trunc);
    let filters = super::output::filters(&a.filter, &PS_FILTERS)?;
    // A status filter shows stopped containers too (docker).
    let all = a.all || filters.iter().any(|(k, _)| k == "status" || k == "exited");
    let format = super::output::Format::parse(a.format.as_deref())?;
    let c = containers(store);
    let list = c.list()?;
    let created_of = |q: &str| -> Result<String> { Ok(find(&c, q)?.created) };
    let mut bounds = Vec::new();
    for (k, v) in &filters {
        if k == "before" || k == "since" {
            bounds.push((k.clone(), v.clone(), created_of(v)?));
        }
    }
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    for r in list {
        let status = lifecycle::describe(&c, &r);
        if !all && !status.starts_with("Up") {
            continue;
        }
        let ok = super::output::all_hold(&filters, |k, v| match k {
            "id" => r.id.starts_with(v),
            "name" => r.name.contains(v.trim_start_matches('/')),
            "status" => lifecycle::state_name(&c, &r) == v,
            "ancestor" => {
                r.image == v
                    || r.image_id
                        .trim_start_matches("sha256:")
                        .starts_with(v.trim_start_matches("sha256:"))
                    || r.image.split(':').next() == Some(v)
            }
            "exited" => {
                !status.starts_with("Up")
                    && r.exit_code.map(|e| e.to_string()).as_deref() == Some(v)
            }
            "health" => {
                let now = r
                    .healthcheck
                    .as_ref()
                    .and(health::load(&c, &r.id))
                    .map(|h| h.status);
                now.as_deref().unwrap_or("none") == v
            }
            "label" => super::output::label_matches(
                &sangja_image::container::inspect::inspect(&c, &r)["Config"]["Labels"],
                v,
            ),
            "before" | "since" => {
                bounds
                    .iter()
                    .filter(|(bk, bv, _)| bk == k && bv == v)
                    .all(|(_, _, t)| {
                        if k == "before" {
                            r.created < *t
                        } else {
                            r.created > *t
                        }
                    })
            }
            _ => false,
        });
        if ok {
            rows.push((r, status));
        }
    }
    if !quiet {
        let values: Vec<serde_json::Value> = rows
            .iter()
            .map(|(r, s)| ps_row(&c, r, s, no_trunc))
            .collect();
        let headers = serde_json::json!({
            "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
            "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
            "Status": "STATUS", "State": "STATE", "Names": "NAMES", "Labels": "LABELS",
            "Mounts": "MOUNTS", "Networks": "NETWORKS",
        });
        if format.write(&mut out, &values, &headers)? {
            return Ok(());
        }
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
        "PORTS".into(),
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
            sangja_image::container::network::ports_text(&r),
            r.name.clone(),
        ]);
    }
    // Columns as wide as their widest cell plus three spaces (docker's tabwriter).
    let mut widths = [0usize; 7];
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

/// Applies `f` to each container, printing what the user typed on success (docker);
/// 1 when any failed.
fn each(
    store: &Store,
    list: &[String],
    verb: &str,
    f: impl Fn(&Containers, &Record) -> Result<(), ContainerError>,
) -> Result<i32> {
    let c = containers(store);
    let mut failed = false;
    for q in list {
        let done = match c.find(q) {
            Ok(r) => f(&c, &r).map_err(|e| match e {
                e @ (ContainerError::NotRunning(_)
                | ContainerError::Paused(_)
                | ContainerError::NotPaused(_)
                | ContainerError::Running(_)) => anyhow::Error::from(e),
                e => anyhow::Error::from(e).context(format!("{verb} container {q}")),
            }),
            Err(e) => Err(e.into()),
        };
        match done {
            Ok(()) => println!("{q}"),
            Err(e) => {
                report(&e);
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

pub fn rm(store: &Store, a: &RmArgs) -> Result<i32> {
    each(store, &a.containers, "rm", |c, r| {
        lifecycle::remove(c, r, a.force, a.volumes)
    })
}

/// `container prune`: every container that is not running goes.
pub fn prune(store: &Store, force: bool) -> Result<()> {
    if !force {
        eprint!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(());
        }
    }
    let c = containers(store);
    let mut out = std::io::stdout().lock();
    writeln!(out, "Deleted Containers:")?;
    for r in c.list()? {
        if matches!(lifecycle::status(&c, &r), Status::Running | Status::Paused) {
            continue;
        }
        match lifecycle::remove(&c, &r, false, false) {
            Ok(()) => writeln!(out, "{}", r.id)?,
            // Started meanwhile: it stays, as docker leaves it.
            Err(ContainerError::Running(_)) => {}
            Err(e) => return Err(anyhow::Error::from(e).context(format!("removing {}", r.name))),
        }
    }
    writeln!(out, "\nTotal reclaimed space: 0B")?;
    Ok(())
}

pub fn start(
    store: &Store,
    attach: bool,
    interactive: bool,
    detach_keys: Option<&str>,
    list: &[String],
) -> Result<i32> {
    // docker: -i implies attaching.
    let attach = attach || interactive;
    if !attach {
        return each(store, list, "start", lifecycle::start);
    }
    if list.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let c = containers(store);
    let r = find(&c, &list[0])?;
    // Only what this run writes: the log keeps earlier runs' output.
    let from = std::fs::metadata(c.path(&r.id).join("log"))
        .map(|m| m.len())
        .unwrap_or(0);
    lifecycle::start(&c, &r).with_context(|| format!("start container {}", list[0]))?;
    if interactive {
        let opts = attach::AttachOptions {
            stdin: true,
            sig_proxy: true,
            detach_keys: attach::parse_detach_keys(
                detach_keys.unwrap_or(attach::DEFAULT_DETACH_KEYS),
            )?,
            replay_from: Some(from),
        };
        // Gone already (a short command): its output is in the log.
        if let Some(conn) = attach::connect(&c, &r) {
            let r = c.load(&r.id).unwrap_or(r);
            match attach::attach(&c, &r, conn, &opts)? {
                attach::Attached::Exited(code) => return Ok(code),
                attach::Attached::Detached => return Ok(0),
                attach::Attached::Lost => return Ok(lifecycle::wait(&c, &r)?),
            }
        }
    }
    logs::logs_from(&c, &r, from, true, &mut std::io::stdout().lock())
        .with_context(|| format!("output of container {}", list[0]))?;
    Ok(lifecycle::wait(&c, &r)?)
}

/// `attach`: docker's errors for a stopped or paused container (exit 1), then the
/// container's exit status, or 0 when detached.
fn attach_verb(store: &Store, a: &AttachArgs) -> Result<i32> {
    let c = containers(store);
    let r = find(&c, &a.container)?;
    let opts = attach::AttachOptions {
        stdin: !a.no_stdin,
        sig_proxy: a.sig_proxy,
        detach_keys: attach::parse_detach_keys(
            a.detach_keys
                .as_deref()
                .unwrap_or(attach::DEFAULT_DETACH_KEYS),
        )?,
        replay_from: None,
    };
    attach::check_attachable(&c, &r)?;
    let Some(conn) = attach::connect(&c, &r) else {
        if !r.detached {
            bail!(
                "container {} runs in the foreground of its `run`: there is no monitor to attach to",
                a.container
            );
        }
        // It ended between the check and now.
        attach::check_attachable(&c, &r)?;
        bail!(
            "container {}: its monitor does not answer on {}",
            a.container,
            c.path(&r.id).join(attach::SOCKET).display()
        );
    };
    match attach::attach(&c, &r, conn, &opts)
        .with_context(|| format!("attaching to container {}", a.container))?
    {
        attach::Attached::Exited(code) => Ok(code),
        attach::Attached::Detached => Ok(0),
        attach::Attached::Lost => Ok(lifecycle::wait(&c, &r)?),
    }
}

fn exec(store: &Store, a: ExecArgs) -> Result<i32> {
    let c = containers(store);
    let r = find(&c, &a.container)?;
    let opts = exec::ExecOptions {
        args: a.command,
        detach: a.detach,
        interactive: a.interactive,
        tty: a.tty,
        user: a.user,
        workdir: a.workdir,
        env: a.env,
        privileged: a.privileged,
    };
    match exec::exec(&c, &r, &opts) {
        Ok(exec::ExecOutcome::Exited(code)) => Ok(code),
        // The runtime has said why on stderr already.
        Ok(exec::ExecOutcome::NotStarted { code, message }) => {
            tracing::debug!(%message, code, "exec did not start");
            Ok(code)
        }
        Err(e @ (ContainerError::NotRunning(_) | ContainerError::Paused(_))) => {
            report(&e.into());
            Ok(1)
        }
        // docker: 126 when the exec could not be made.
        Err(e) => {
            report(&anyhow::Error::from(e).context(format!("exec in container {}", a.container)));
            Ok(126)
        }
    }
}

/// `NAME:PATH` names a container's path; a local path starts with `/` or `.` or has no
/// colon (docker's rule).
fn split_container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

fn cp(store: &Store, follow: bool, src: &str, dest: &str) -> Result<()> {
    let c = containers(store);
    match (split_container_path(src), split_container_path(dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((name, path)), None) => {
            let r = find(&c, name)?;
            copy::copy_out(&c, &r, path, follow, dest, &mut std::io::stdout().lock())
                .with_context(|| format!("copying {src} to {dest}"))?;
        }
        (None, Some((name, path))) => {
            let r = find(&c, name)?;
            copy::copy_in(&c, &r, src, path, &mut std::io::stdin().lock())
                .with_context(|| format!("copying {src} to {dest}"))?;
        }
    }
    Ok(())
}

fn export(store: &Store, output: Option<PathBuf>, container: &str) -> Result<()> {
    let c = containers(store);
    let r = find(&c, container)?;
    let result = match &output {
        Some(p) => {
            let mut f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            copy::export(&c, &r, &mut f)
        }
        None => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            copy::export(&c, &r, &mut std::io::stdout().lock())
        }
    };
    if result.is_err() {
        if let Some(p) = &output {
            let _ = std::fs::remove_file(p);
        }
    }
    result.with_context(|| format!("exporting container {container}"))?;
    Ok(())
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
