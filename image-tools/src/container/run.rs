//! `run`: a container from a stored image, in the foreground (its stdio ours, its
//! exit status returned) or detached (under a [`monitor`], its output to `log`).
//! Whatever fails on the way, up to the runtime failing to start the process, takes the
//! runtime state, the mount and the container directory (record included) with it.

use super::config::{self, RunConfig};
use super::owner::Owner;
use super::record::{self, Containers, Record};
use super::runtime::{self, Runtime, RuntimeError};
use super::{io_err, lifecycle, monitor, snapshot, ContainerError};
use crate::image::Image;
use crate::layer::inroot::InPath;
use crate::layer::Root;
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

pub struct RunOptions {
    pub name: Option<String>,
    pub detach: bool,
    pub auto_remove: bool,
    pub interactive: bool,
    /// Whether a foreground run's stdout and stderr are ours (`-a`); else discarded.
    pub output: [bool; 2],
    pub runtime: Option<PathBuf>,
    /// What the user typed, for `ps`.
    pub image_ref: String,
    /// `create`: the container is made, not started (`start` runs it under a monitor,
    /// as a detached `run`).
    pub create_only: bool,
    /// `--restart` (checked with [`record::RestartPolicy::parse`]); the monitor applies it.
    pub restart: Option<String>,
    /// `--stop-timeout`, kept in the record for `stop`.
    pub stop_timeout: Option<u64>,
    /// The resolved health check ([`super::health::resolve`]).
    pub healthcheck: Option<crate::dockerfile::instruction::Healthcheck>,
    /// The runtime's `--root` (`None`: the store's `containers/.state`).
    pub state_root: Option<PathBuf>,
}

pub enum Outcome {
    /// Foreground: the container's exit status (128+signal when killed).
    Exited(i32),
    Detached(String),
    /// `create`: made and not started.
    Created(String),
}

/// Removes a half-made container unless disarmed; owns it until dropped.
struct Guard<'a> {
    containers: &'a Containers,
    id: String,
    runtime: Option<Runtime>,
    armed: bool,
    owner: Option<Owner>,
    /// Volumes this creation made, removed with it.
    new_volumes: Vec<String>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let dir = self.containers.path(&self.id);
            if let Some(rt) = &self.runtime {
                let _ = rt.delete(&self.id);
            }
            if let Ok(rec) = self.containers.load(&self.id) {
                if let Err(e) = super::network::detach(self.containers, &rec) {
                    tracing::warn!(container = %self.id, error = %e, "detaching the network of a failed run");
                }
            }
            if let Err(e) = lifecycle::remove_dir(&dir) {
                tracing::warn!(container = %self.id, error = %e, "cleaning up a failed run");
            }
            discard_volumes(self.containers, &self.new_volumes);
        }
    }
}

/// Removes volumes a creation made, which nothing else can be using yet.
fn discard_volumes(containers: &Containers, names: &[String]) {
    let store_root = containers.dir().parent().unwrap_or(Path::new("."));
    let volumes = crate::volume::Volumes::new(store_root);
    for v in names {
        let _ = std::fs::remove_dir_all(
            volumes
                .data(v)
                .parent()
                .unwrap_or(Path::new("/nonexistent")),
        );
    }
}

/// Where a creation lists the volumes it made until its record names them, so that a
/// creation killed half-way can be undone by whoever finds it.
const NEW_VOLUMES: &str = ".new-volumes";

/// Undoes creations a crash interrupted: a container directory without a record, found
/// while holding the create lock (a live creation holds it until its record is saved),
/// is one whose creator died. Its root is unmounted, the volumes it made and the
/// directory removed. Every command that opens the store calls this.
pub fn sweep_abandoned_creations(containers: &Containers) {
    let abandoned = |containers: &Containers| -> Vec<String> {
        let Ok(items) = std::fs::read_dir(containers.dir()) else {
            return Vec::new();
        };
        items
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && containers.load(n).is_err())
            .filter(|n| containers.path(n).is_dir())
            .collect()
    };
    // The lock only when there is something to look at: the common case stays lock-free.
    if abandoned(containers).is_empty() {
        return;
    }
    let Ok(_lock) = containers.lock() else {
        return;
    };
    for id in abandoned(containers) {
        let dir = containers.path(&id);
        let made: Vec<String> = std::fs::read_to_string(dir.join(NEW_VOLUMES))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        match lifecycle::remove_dir(&dir) {
            Ok(()) => {
                discard_volumes(containers, &made);
                tracing::info!(dir = %dir.display(), "undid a container creation a crash interrupted");
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "interrupted creation: could not undo it, left for later")
            }
        }
    }
}

/// Where a new container's root comes from.
enum RootFrom {
    /// An overlay over the image's shared lower dir.
    Snapshot(PathBuf),
    /// Its own copy of the layers, owned as this mapping says (rootless).
    Copy(crate::rootless::Mapping),
}

/// Creates the container: snapshot, config.json, record. Returns it with a guard that
/// removes it again if the caller fails before disarming.
fn create<'a>(
    store: &Store,
    containers: &'a Containers,
    image: &Image,
    cfg: &RunConfig,
    opts: &RunOptions,
    runtime_bin: PathBuf,
) -> Result<(Record, Guard<'a>), ContainerError> {
    config::validate(cfg)?;
    if let Some(p) = &opts.restart {
        let policy = record::RestartPolicy::parse(p).map_err(|reason| ContainerError::Flag {
            flag: "--restart",
            value: p.clone(),
            reason,
        })?;
        if policy != record::RestartPolicy::No && !opts.detach && !opts.create_only {
            return Err(ContainerError::Flag {
                flag: "--restart",
                value: p.clone(),
                reason: "needs -d (a foreground run has no monitor to restart it)".into(),
            });
        }
        if policy != record::RestartPolicy::No && opts.auto_remove {
            return Err(ContainerError::Flag {
                flag: "--restart",
                value: p.clone(),
                reason: "conflicting options: --restart and --rm".into(),
            });
        }
    }
    if config::command(image, cfg).is_empty() {
        return Err(
            config::ConfigError::Bundle(crate::bundle::BundleError::NoCommand(image.label()))
                .into(),
        );
    }
    if let Some(n) = &opts.name {
        record::valid_name(n)?;
    }
    // Rootless: the root is a private copy in a user namespace's ids, not an overlay
    // over the shared snapshot (see super::rootless). The store lock only while blobs
    // are read: a long-running container must not hold off `rm` and `prune` of images.
    let root_from = if crate::rootless::active() {
        RootFrom::Copy(crate::rootless::Mapping::for_caller())
    } else {
        let _shared = store.lock_shared()?;
        RootFrom::Snapshot(snapshot::lower_dir(store, image)?)
    };
    let mapping = match &root_from {
        RootFrom::Copy(m) => Some(m.clone()),
        RootFrom::Snapshot(_) => None,
    };
    let lock = containers.lock()?;
    let id = record::new_id();
    let name = match &opts.name {
        Some(n) => {
            containers.check_name(n)?;
            n.clone()
        }
        None => {
            let mut n = record::generated_name(&id);
            if containers.check_name(&n).is_err() {
                n = format!("{n}_{}", &id[8..12]);
            }
            n
        }
    };
    let dir = containers.path(&id);
    std::fs::create_dir(&dir).map_err(io_err(&dir))?;
    let mut guard = Guard {
        containers,
        id: id.clone(),
        runtime: None,
        armed: true,
        owner: None,
        new_volumes: Vec::new(),
    };
    guard.owner = Some(Owner::create(&dir)?);
    let rootfs = dir.join("rootfs");
    match &root_from {
        RootFrom::Snapshot(lower) => {
            snapshot::mount_overlay(lower, &dir.join("upper"), &dir.join("work"), &rootfs)?
        }
        RootFrom::Copy(m) => {
            let _shared = store.lock_shared()?;
            super::rootless::populate(store, image, &rootfs, m)?;
        }
    }
    crate::crash_point::reach("run-rootfs-mounted");
    let mut cfg = cfg.clone();
    let volume_names = attach_volumes(
        store,
        image,
        &rootfs,
        &mut cfg,
        &dir,
        &mut guard.new_volumes,
    )?;
    let net = super::network::prepare(containers, &cfg, &image.config_raw, &id)?;
    crate::crash_point::reach("run-volumes-made");
    let state = opts
        .state_root
        .clone()
        .unwrap_or_else(|| lifecycle::state_root(containers));
    std::fs::create_dir_all(&state).map_err(io_err(&state))?;
    let mut rec = Record {
        id: id.clone(),
        name,
        image: opts.image_ref.clone(),
        image_id: image.id().to_string(),
        // The args config.json gets (the image's Entrypoint and Cmd resolved).
        command: config::command(image, &cfg),
        created: record::now(),
        runtime: runtime_bin,
        detached: opts.detach || opts.create_only,
        auto_remove: opts.auto_remove,
        interactive: opts.interactive,
        started_at: None,
        finished_at: None,
        exit_code: None,
        volumes: volume_names,
        restart_policy: opts.restart.clone(),
        restart_count: 0,
        stop_requested: false,
        stop_timeout: opts.stop_timeout,
        net,
        healthcheck: opts.healthcheck.clone(),
        init: cfg.init.is_some(),
        runtime_root: opts.state_root.clone(),
        vfs: mapping.is_some(),
    };
    // Saved before the network is attached: a crash from here on leaves a record whose
    // attachment `rm` can undo.
    containers.save(&rec)?;
    // The record names the volumes now: removing the container removes them.
    let _ = std::fs::remove_file(dir.join(NEW_VOLUMES));
    drop(lock);
    crate::crash_point::reach("run-record-saved");
    // `create` leaves the network to `start`, as docker does: a created container holds
    // no address, namespace or port.
    if !opts.create_only {
        super::network::attach(containers, &mut rec)?;
        crate::crash_point::reach("container-network-attached");
    }
    cfg.joined = super::network::joined(containers, &rec)?;
    let cfg = &cfg;
    let mut spec = config::build(image, &rootfs, &id, cfg)?;
    if let Some(m) = &mapping {
        super::rootless::apply(&mut spec, m, &cfg.isolation.devices);
    }
    // The working directory is made if the image lacks it, as docker does.
    if let Some(cwd) = spec["process"]["cwd"].as_str() {
        make_dir_in(&rootfs, cwd)?;
    }
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&spec).expect("spec serialises"),
    )
    .map_err(io_err(&path))?;
    guard.runtime = Some(lifecycle::runtime_of(containers, &rec));
    Ok((rec, guard))
}

/// The container's volumes made real: the image's VOLUMEs that no flag covers become
/// anonymous volumes, anonymous ones get a name, named ones are made on first use and
/// seeded from the image's content at their path while empty (docker's rules); each
/// gets its data directory as the bind source. Returns the volume names; those made now
/// go into `made` (the caller's cleanup removes them if creation fails).
fn attach_volumes(
    store: &Store,
    image: &Image,
    rootfs: &Path,
    cfg: &mut RunConfig,
    dir: &Path,
    made: &mut Vec<String>,
) -> Result<Vec<String>, ContainerError> {
    use config::VolumeKind;
    let volumes = crate::volume::Volumes::new(store.root());
    if let Some(serde_json::Value::Object(image_vols)) = image
        .config_raw
        .get("config")
        .and_then(|c| c.get("Volumes"))
    {
        for target in image_vols.keys() {
            if !cfg.volumes.iter().any(|v| v.target == *target) {
                cfg.volumes.push(config::Volume {
                    kind: VolumeKind::Anonymous,
                    source: PathBuf::new(),
                    target: target.clone(),
                    readonly: false,
                });
            }
        }
    }
    let mut names = Vec::new();
    for v in &mut cfg.volumes {
        let (name, anonymous) = match &v.kind {
            VolumeKind::Named(n) => (n.clone(), false),
            VolumeKind::Anonymous => (crate::volume::anonymous_name(), true),
            VolumeKind::Bind | VolumeKind::Tmpfs(_) => continue,
        };
        let (_, new) = volumes.ensure(&name, &[], anonymous)?;
        if new {
            made.push(name.clone());
            let list = dir.join(NEW_VOLUMES);
            std::fs::write(&list, made.join("\n")).map_err(io_err(&list))?;
        }
        let data = volumes.data(&name);
        crate::volume::seed(&name, &data, rootfs, &v.target)?;
        v.kind = VolumeKind::Named(name.clone());
        v.source = data;
        names.push(name);
    }
    Ok(names)
}

fn make_dir_in(rootfs: &Path, dir: &str) -> Result<(), ContainerError> {
    let err = |e: nix::Error| ContainerError::Io {
        path: rootfs.join(dir.trim_start_matches('/')),
        source: e.into(),
    };
    let p = InPath::parse(dir.as_bytes()).map_err(|e| ContainerError::Io {
        path: PathBuf::from(dir),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
    })?;
    let root = Root::open(rootfs).map_err(err)?;
    root.open_dir_create(&p).map_err(err)?;
    Ok(())
}

static CHILD: AtomicI32 = AtomicI32::new(0);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Forwards the signal to the runtime; the third one kills the runtime outright (as
/// docker's third Ctrl-C does): the container is then killed by the cleanup's
/// `delete --force`.
extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    let n = SIGNALS.fetch_add(1, Ordering::SeqCst) + 1;
    if pid > 0 {
        let sig = if n >= 3 { libc::SIGKILL } else { sig };
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// While the runtime runs in the foreground, SIGINT/SIGTERM/SIGHUP reach it (the
/// terminal's Ctrl-C reaches it anyway) and this process stays to clean up. Handlers,
/// not SIG_IGN, so the runtime starts with default dispositions.
fn install_forwarding() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: a plain handler that only calls kill.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn run(
    store: &Store,
    image: &Image,
    cfg: &RunConfig,
    opts: &RunOptions,
) -> Result<Outcome, ContainerError> {
    let runtime_bin = runtime::locate(opts.runtime.as_deref())?;
    let containers = Containers::new(store.root());
    let (mut rec, mut guard) = create(store, &containers, image, cfg, opts, runtime_bin)?;
    let dir = containers.path(&rec.id);
    let rt = lifecycle::runtime_of(&containers, &rec);
    if opts.create_only {
        // Stopped containers keep their root unmounted; `start` mounts it again.
        snapshot::unmount(&dir.join("rootfs"))?;
        guard.armed = false;
        return Ok(Outcome::Created(rec.id));
    }
    if opts.detach {
        let owner = guard.owner.as_ref().expect("create takes the owner lock");
        monitor::spawn(&containers, &rec, owner)?;
        crate::crash_point::reach("run-monitor-spawned");
        guard.armed = false;
        return Ok(Outcome::Detached(rec.id));
    }
    rec.started_at = Some(record::now());
    containers.save(&rec)?;
    install_forwarding();
    let rt_log = dir.join("runtime.log");
    let mut child = rt.run_foreground(&dir, &rec.id, opts.interactive, opts.output, &rt_log)?;
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    crate::crash_point::reach("run-runtime-spawned");
    // Probes fail (uncounted in a start period) until the runtime has started it.
    let checker = super::health::spawn(&containers, &rec).unwrap_or_else(|e| {
        tracing::warn!(container = %rec.id, error = %e, "starting the health checker");
        None
    });
    let status = child.wait().map_err(io_err(&rt.bin));
    CHILD.store(0, Ordering::SeqCst);
    drop(checker);
    let status = status?;
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    // A runtime that failed (the process never started, or the runtime gave up on it)
    // says so in its log; the guard then removes everything.
    if code != 0 {
        if let Some(message) = runtime::start_error(&rt_log) {
            return Err(RuntimeError::Start {
                runtime: rt.bin.clone(),
                message,
            }
            .into());
        }
    }
    guard.armed = false;
    lifecycle::exited(&containers, &rec, Some(code))?;
    drop(guard);
    Ok(Outcome::Exited(code))
}
