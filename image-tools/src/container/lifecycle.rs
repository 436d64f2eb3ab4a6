//! Container lifecycle after `run`: status, `stop`, `kill`, `start`, `rm`.

use super::record::{Containers, Record};
use super::runtime::{Runtime, Status};
use super::{io_err, snapshot, ContainerError};
use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn runtime_of(containers: &Containers, rec: &Record) -> Runtime {
    Runtime {
        bin: rec.runtime.clone(),
        root: containers.path(&rec.id).join("state"),
    }
}

/// Unmounts the container's root and removes its directory (upper layer included).
pub fn remove_dir(dir: &Path) -> Result<(), ContainerError> {
    snapshot::unmount(&dir.join("rootfs"))?;
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// Mounts the snapshot again if needed (a stopped container's root is unmounted).
fn ensure_mounted(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let dir = containers.path(&rec.id);
    let rootfs = dir.join("rootfs");
    if snapshot::is_mounted(&rootfs) {
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

/// Runs the container detached, its output appended to `log`.
pub fn start_detached(
    containers: &Containers,
    rec: &Record,
    rt: &Runtime,
) -> Result<(), ContainerError> {
    let dir = containers.path(&rec.id);
    let _ = std::fs::remove_file(dir.join("exit"));
    let path = dir.join("log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    rt.run_detached(&dir, &rec.id, &log)?;
    Ok(())
}

/// After a foreground run: the exit code kept for `ps`, the root unmounted, or
/// everything removed for `--rm`.
pub fn exited(containers: &Containers, rec: &Record, code: i32) -> Result<(), ContainerError> {
    let dir = containers.path(&rec.id);
    let rt = runtime_of(containers, rec);
    let _ = rt.delete(&rec.id);
    if rec.auto_remove {
        return remove_dir(&dir);
    }
    let path = dir.join("exit");
    std::fs::write(&path, code.to_string()).map_err(io_err(&path))?;
    snapshot::unmount(&dir.join("rootfs"))?;
    Ok(())
}

pub fn status(containers: &Containers, rec: &Record) -> Status {
    runtime_of(containers, rec).status(&rec.id)
}

/// `ps`'s STATUS column.
pub fn describe(containers: &Containers, rec: &Record) -> String {
    match status(containers, rec) {
        Status::Running => "Up".into(),
        Status::Paused => "Up (Paused)".into(),
        Status::Created => "Created".into(),
        Status::Stopped | Status::Gone => {
            match std::fs::read_to_string(containers.path(&rec.id).join("exit")) {
                Ok(c) => format!("Exited ({})", c.trim()),
                Err(_) => "Exited".into(),
            }
        }
    }
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

/// The stop signal, `timeout` to exit, then SIGKILL. A stopped container is left as is.
pub fn stop(containers: &Containers, rec: &Record, timeout: u64) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    if !is_live(rt.status(&rec.id)) {
        return Ok(());
    }
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
    finish_stopped(containers, rec)
}

/// A container that stopped: its runtime state and mount go (`start` makes them again).
fn finish_stopped(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    rt.delete(&rec.id)?;
    if rec.auto_remove {
        return remove_dir(&containers.path(&rec.id));
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

/// `start` of a stopped container: the same writable layer, run detached again.
pub fn start(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    let s = rt.status(&rec.id);
    if is_live(s) && s != Status::Created {
        return Err(ContainerError::AlreadyRunning(rec.name.clone()));
    }
    rt.delete(&rec.id)?;
    ensure_mounted(containers, rec)?;
    if let Err(e) = start_detached(containers, rec, &rt) {
        let _ = rt.delete(&rec.id);
        let _ = snapshot::unmount(&containers.path(&rec.id).join("rootfs"));
        return Err(e);
    }
    Ok(())
}

/// `rm`: a live container only with `force` (killed first); the runtime state, the
/// mount, the writable layer and the record all go.
pub fn remove(containers: &Containers, rec: &Record, force: bool) -> Result<(), ContainerError> {
    let rt = runtime_of(containers, rec);
    let s = rt.status(&rec.id);
    if is_live(s) {
        if !force {
            return Err(ContainerError::Running(rec.name.clone()));
        }
        let _ = rt.kill(&rec.id, "SIGKILL");
        wait_stopped(&rt, &rec.id, Some(Duration::from_secs(10)));
    }
    rt.delete(&rec.id)?;
    let _lock = containers.lock()?;
    remove_dir(&containers.path(&rec.id))
}
