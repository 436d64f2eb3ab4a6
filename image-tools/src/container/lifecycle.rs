//! Container lifecycle after `run`: status, `stop`, `kill`, `start`, `rm`.
//!
//! A live container has an owner (see [`owner`](super::owner)): the foreground `run`
//! or the detached container's monitor, which records the exit and cleans up. `stop`
//! and `rm` signal the container through the runtime and then wait for the owner to let
//! go; they clean up themselves only what an owner that died left behind.

use super::owner::{self, Owner, Try};
use super::record::{self, Containers, Record};
use super::runtime::{Runtime, Status};
use super::{monitor, snapshot, ContainerError};
use std::path::Path;
use std::time::{Duration, Instant};

/// The runtime's `--root`, one for the store's containers. Outside every container
/// directory: runc makes its root when asked about a container, and must not bring
/// back the directory of one just removed.
pub fn state_root(containers: &Containers) -> std::path::PathBuf {
    containers.dir().join(".state")
}

pub fn runtime_of(containers: &Containers, rec: &Record) -> Runtime {
    Runtime {
        bin: rec.runtime.clone(),
        root: rec
            .runtime_root
            .clone()
            .unwrap_or_else(|| state_root(containers)),
    }
}

/// Unmounts the container's root and removes its directory (upper layer included).
/// The directory is first renamed out of sight, so the container is gone at once for
/// everyone else rather than half-removed.
pub fn remove_dir(dir: &Path) -> Result<(), ContainerError> {
    snapshot::unmount(&dir.join("rootfs"))?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let doomed = dir.with_file_name(format!("{REMOVING_PREFIX}{name}"));
    let dir = match std::fs::rename(dir, &doomed) {
        Ok(()) => {
            crate::crash_point::reach("container-remove-renamed");
            doomed.as_path()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => dir,
    };
    super::rootless::remove_all(dir)
}

/// The prefix [`remove_dir`] renames a container directory to before deleting it.
const REMOVING_PREFIX: &str = ".removing-";

/// Finishes removals a crash interrupted: `.removing-*` directories, renamed out of sight
/// by [`remove_dir`] and never reached by name again. Every command that opens the store
/// calls this; what cannot be removed now is left for the next one, with a warning.
pub fn sweep_interrupted_removals(containers: &Containers) {
    let Ok(items) = std::fs::read_dir(containers.dir()) else {
        return;
    };
    for item in items.flatten() {
        if !item
            .file_name()
            .to_string_lossy()
            .starts_with(REMOVING_PREFIX)
        {
            continue;
        }
        let path = item.path();
        // remove_dir unmounts before it renames: a root still mounted here is not ours to cut.
        let rootfs = path.join("rootfs");
        if snapshot::is_mounted(&rootfs) {
            if let Err(e) = snapshot::unmount(&rootfs) {
                tracing::warn!(dir = %path.display(), error = %e, "interrupted removal: root still mounted, left for later");
                continue;
            }
        }
        match super::rootless::remove_all(&path) {
            Ok(()) => {
                tracing::info!(dir = %path.display(), "finished an interrupted container removal")
            }
            Err(e) => {
                tracing::warn!(dir = %path.display(), error = %e, "interrupted removal: could not finish it")
            }
        }
    }
}

/// Mounts the snapshot again if needed (a stopped container's root is unmounted).
pub fn ensure_mounted(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let dir = containers.path(&rec.id);
    let rootfs = dir.join("rootfs");
    // A private copy (rootless) stays in place while the container exists.
    if rec.vfs || snapshot::is_mounted(&rootfs) {
        return Ok(());
    }
    let hex = rec.image_id.trim_start_matches("sha256:");
    let lower = containers
        .dir()
        .parent()
        .expect("containers dir has a parent")
        .join("snapshots")
        .join(hex);
    if !lower.is_dir() {
        return Err(ContainerError::Io {
            path: lower,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the image snapshot of container {} is gone", rec.name),
            ),
        });
    }
    snapshot::mount_overlay(&lower, &dir.join("upper"), &dir.join("work"), &rootfs)?;
    Ok(())
}

/// After the process exited: the runtime state deleted, then the exit kept for `ps`
/// and the root unmounted, or everything removed for `--rm`. The owner calls this.
pub fn exited(
    containers: &Containers,
    rec: &Record,
    code: Option<i32>,
) -> Result<(), ContainerError> {
    let dir = containers.path(&rec.id);
    let rt = runtime_of(containers, rec);
    let _ = rt.delete(&rec.id);
    // As docker: a stopped container holds no address; `start` attaches again.
    if let Err(e) = super::network::detach(containers, rec) {
        tracing::warn!(container = %rec.id, error = %e, "detaching the network");
    }
    if rec.auto_remove {
        let _lock = containers.lock()?;
        remove_dir(&dir)?;
        volumes_of(containers).remove_anonymous(rec, containers);
        return Ok(());
    }
    let mut now = containers.load(&rec.id)?;
    now.exit_code = code;
    now.finished_at = Some(record::now());
    containers.save(&now)?;
    snapshot::unmount(&dir.join("rootfs"))?;
    Ok(())
}

/// The runtime's view, except that a container whose owner has not yet recorded its
/// exit still counts as running.
pub fn status(containers: &Containers, rec: &Record) -> Status {
    let s = runtime_of(containers, rec).status(&rec.id);
    if !is_live(s) && owner::held(&containers.path(&rec.id)) {
        return Status::Running;
    }
    s
}

/// `ps`'s STATUS column, as docker's: `Up 5 seconds`, `Exited (3) 2 minutes ago`.
pub fn describe(containers: &Containers, rec: &Record) -> String {
    let up = || {
        rec.started_at
            .as_deref()
            .map(|t| format!(" {}", crate::humanize::elapsed(t)))
            .unwrap_or_default()
    };
    match status(containers, rec) {
        Status::Running => match rec
            .healthcheck
            .as_ref()
            .and(super::health::load(containers, &rec.id))
        {
            Some(h) => format!("Up{} ({})", up(), h.ps_text()),
            None => format!("Up{}", up()),
        },
        Status::Paused => format!("Up{} (Paused)", up()),
        Status::Created => "Created".into(),
        Status::Stopped | Status::Gone => {
            // Read again: the exit may have been recorded since `rec` was loaded.
            let fresh = containers.load(&rec.id);
            let rec = fresh.as_ref().unwrap_or(rec);
            if never_started(rec) {
                return "Created".into();
            }
            let ago = rec
                .finished_at
                .as_deref()
                .map(|t| format!(" {}", crate::humanize::since(t)))
                .unwrap_or_default();
            match rec.exit_code {
                Some(c) => format!("Exited ({c}){ago}"),
                None => format!("Exited{ago}"),
            }
        }
    }
}

/// The host pid of the container's init as its monitor recorded it (`init.pid`); a
/// stopped container's file may name a pid long gone: callers check the status.
pub fn init_pid(containers: &Containers, id: &str) -> Option<i32> {
    std::fs::read_to_string(containers.path(id).join("init.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
}

/// Made by `create` and not started yet.
pub fn never_started(rec: &Record) -> bool {
    rec.started_at.is_none() && rec.finished_at.is_none() && rec.exit_code.is_none()
}

/// docker's State.Status: created, running, paused, exited.
pub fn state_name(containers: &Containers, rec: &Record) -> &'static str {
    match status(containers, rec) {
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Created => "created",
        Status::Stopped | Status::Gone => {
            let fresh = containers.load(&rec.id);
            if never_started(fresh.as_ref().unwrap_or(rec)) {
                "created"
            } else {
                "exited"
            }
        }
    }
}

pub fn pause(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    match rt.status(&rec.id) {
        Status::Running => Ok(rt.pause(&rec.id)?),
        Status::Paused => Err(ContainerError::Paused(rec.id.clone())),
        _ => Err(ContainerError::NotRunning(rec.id.clone())),
    }
}

pub fn unpause(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    match rt.status(&rec.id) {
        Status::Paused => Ok(rt.resume(&rec.id)?),
        _ => Err(ContainerError::NotPaused(rec.id.clone())),
    }
}

/// `top`: the host's `ps` (default `-ef`) lines of the container's processes.
pub fn top(
    containers: &Containers,
    rec: &Record,
    ps_args: &[String],
) -> Result<String, ContainerError> {
    let rt = runtime_of(containers, rec);
    if !matches!(rt.status(&rec.id), Status::Running | Status::Paused) {
        return Err(ContainerError::NotRunning(rec.id.clone()));
    }
    let args = if ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        ps_args.to_vec()
    };
    Ok(rt.ps(&rec.id, &args)?)
}

/// `wait`: blocks until the container has run and stopped, then returns its exit status
/// (docker's -1 when nothing saw it).
pub fn wait(containers: &Containers, rec: &Record) -> Result<i32, ContainerError> {
    let dir = containers.path(&rec.id);
    loop {
        let now = match containers.load(&rec.id) {
            Ok(r) => r,
            // Removed (`--rm`) while we waited: its status went with it.
            Err(_) if !dir.exists() => return Ok(rec.exit_code.unwrap_or(-1)),
            Err(e) => return Err(e),
        };
        if !never_started(&now) && !is_live(status(containers, &now)) {
            owner::wait_released(&dir)?;
            let last = containers.load(&rec.id).unwrap_or(now);
            return Ok(last.exit_code.unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `rename`: a new unique name, kept in the record.
pub fn rename(containers: &Containers, rec: &Record, name: &str) -> Result<(), ContainerError> {
    let _lock = containers.lock()?;
    containers.check_name(name)?;
    let mut now = containers.load(&rec.id)?;
    now.name = name.to_string();
    containers.save(&now)
}

fn is_live(s: Status) -> bool {
    matches!(s, Status::Running | Status::Paused | Status::Created)
}

/// Waits (polling the runtime) until the container is no longer live, up to `limit`.
fn wait_stopped(rt: &Runtime, id: &str, limit: Option<Duration>) -> bool {
    let start = Instant::now();
    loop {
        if !is_live(rt.status(id)) {
            return true;
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The image's StopSignal (from config.json's annotation), else SIGTERM.
fn stop_signal(containers: &Containers, rec: &Record) -> String {
    let path = containers.path(&rec.id).join("config.json");
    std::fs::read(&path)
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .and_then(|v| {
            v["annotations"][crate::bundle::spec::STOP_SIGNAL_ANNOTATION]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "SIGTERM".into())
}

/// The stop signal, `timeout` to exit, then SIGKILL; returns once the exit is recorded.
/// A stopped container is left as is.
pub fn stop(containers: &Containers, rec: &Record, timeout: u64) -> Result<(), ContainerError> {
    request_stop(containers, rec);
    let rt = runtime_of(containers, rec);
    if is_live(rt.status(&rec.id)) {
        let sig = stop_signal(containers, rec);
        if let Err(e) = rt.kill(&rec.id, &sig) {
            if is_live(rt.status(&rec.id)) {
                return Err(e.into());
            }
        }
        if !wait_stopped(&rt, &rec.id, Some(Duration::from_secs(timeout))) {
            let _ = rt.kill(&rec.id, "SIGKILL");
            wait_stopped(&rt, &rec.id, None);
        }
    }
    let dir = containers.path(&rec.id);
    owner::wait_released(&dir)?;
    // What an owner that died left behind; nothing when it did its work.
    if containers.load(&rec.id).is_ok() {
        finish_stopped(containers, rec)?;
    }
    Ok(())
}

/// Tells the monitor not to restart the container (`stop`, `rm -f`).
fn request_stop(containers: &Containers, rec: &Record) {
    if let Ok(mut now) = containers.load(&rec.id) {
        if now.restart() != record::RestartPolicy::No && !now.stop_requested {
            now.stop_requested = true;
            let _ = containers.save(&now);
        }
    }
}

/// A container that stopped: its runtime state and mount go (`start` makes them again).
fn finish_stopped(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    rt.delete(&rec.id)?;
    super::network::detach(containers, rec)?;
    if rec.auto_remove {
        let _lock = containers.lock()?;
        remove_dir(&containers.path(&rec.id))?;
        volumes_of(containers).remove_anonymous(rec, containers);
        return Ok(());
    }
    snapshot::unmount(&containers.path(&rec.id).join("rootfs"))?;
    Ok(())
}

pub fn kill(containers: &Containers, rec: &Record, signal: &str) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    if !is_live(rt.status(&rec.id)) {
        return Err(ContainerError::NotRunning(rec.name.clone()));
    }
    rt.kill(&rec.id, signal)?;
    Ok(())
}

/// `start` of a stopped container: the same writable layer, run detached again under a
/// new monitor.
pub fn start(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    let s = rt.status(&rec.id);
    if is_live(s) && s != Status::Created {
        return Err(ContainerError::AlreadyRunning(rec.name.clone()));
    }
    let dir = containers.path(&rec.id);
    // A monitor still recording the last exit finishes first.
    let owner = Owner::acquire(&dir)?;
    let mut rec = containers.load(&rec.id)?;
    rt.delete(&rec.id)?;
    ensure_mounted(containers, &rec)?;
    rec.exit_code = None;
    rec.finished_at = None;
    rec.stop_requested = false;
    rec.restart_count = 0;
    containers.save(&rec)?;
    if let Err(e) = super::network::attach(containers, &mut rec) {
        let _ = snapshot::unmount(&dir.join("rootfs"));
        return Err(e);
    }
    if let Err(e) = monitor::spawn(containers, &rec, &owner) {
        let _ = rt.delete(&rec.id);
        let _ = super::network::detach(containers, &rec);
        let _ = snapshot::unmount(&dir.join("rootfs"));
        if let ContainerError::Runtime(super::runtime::RuntimeError::Start { message, .. }) = &e {
            rec.exit_code = Some(super::runtime::start_exit_code(message));
            rec.finished_at = Some(record::now());
            let _ = containers.save(&rec);
        }
        return Err(e);
    }
    // Ours closes; the monitor's copy keeps it held.
    drop(owner);
    Ok(())
}

fn volumes_of(containers: &Containers) -> crate::volume::Volumes {
    crate::volume::Volumes::new(containers.dir().parent().unwrap_or(Path::new(".")))
}

/// `rm`: a live container only with `force` (killed first, and its owner waited for);
/// the runtime state, the mount, the writable layer and the record all go, and with
/// `volumes` (`rm -v`) its anonymous volumes.
pub fn remove(
    containers: &Containers,
    rec: &Record,
    force: bool,
    volumes: bool,
) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    let dir = containers.path(&rec.id);
    let deadline = Instant::now() + Duration::from_secs(60);
    if force {
        request_stop(containers, rec);
    }
    let _owner = loop {
        match Owner::try_acquire(&dir)? {
            Try::Taken(o) => break Some(o),
            Try::Gone => break None,
            Try::Held => {}
        }
        if !force {
            return Err(ContainerError::Running(rec.name.clone()));
        }
        if is_live(rt.status(&rec.id)) {
            let _ = rt.kill(&rec.id, "SIGKILL");
        }
        if Instant::now() >= deadline {
            return Err(ContainerError::Busy(rec.name.clone()));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if containers.load(&rec.id).is_err() {
        // Its owner removed it (`--rm`).
        return Ok(());
    }
    if is_live(rt.status(&rec.id)) {
        if !force {
            return Err(ContainerError::Running(rec.name.clone()));
        }
        let _ = rt.kill(&rec.id, "SIGKILL");
        wait_stopped(&rt, &rec.id, Some(Duration::from_secs(10)));
    }
    rt.delete(&rec.id)?;
    super::network::detach(containers, rec)?;
    let _lock = containers.lock()?;
    remove_dir(&dir)?;
    if volumes {
        volumes_of(containers).remove_anonymous(rec, containers);
    }
    Ok(())
}
