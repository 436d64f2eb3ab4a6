//! Health checks, as docker runs them: the image's HEALTHCHECK (or `--health-*`), probed
//! by `exec` in the running container, the state kept in `health.json` beside the record
//! and shown by `ps` (`Up 5 seconds (healthy)`) and `inspect` (`State.Health`).
//!
//! A checker process (`sangja-image container-health ID`, hidden) runs beside the
//! container for as long as it runs: the monitor of a detached container, or a
//! foreground `run`, spawns it after the start and kills it at the exit. It is a
//! process of its own, not a thread of the monitor: the monitor reaps every child of
//! the subreaper it is (`waitpid(-1)`), which would take the probes' exit statuses.
//! docker's rules: a probe every interval (the start interval while the start period
//! lasts); exit 0 is healthy; a failure during the start period is not counted; after
//! `retries` failures in a row the container is unhealthy; a probe that overruns its
//! timeout is killed and fails; five results are kept, their output cut at 4096 bytes.
//! When the checker stops the status becomes unhealthy (docker, "for compatibility").

use super::exec::{self, ExecOptions, ExecOutcome};
use super::record::{self, Containers, Record};
use super::{io_err, ContainerError};
use crate::dockerfile::instruction::{duration_ns, Healthcheck};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden subcommand.
pub const COMMAND: &str = "container-health";

const STATE: &str = "health.json";
const DEFAULT_INTERVAL_NS: i64 = 30_000_000_000;
const DEFAULT_TIMEOUT_NS: i64 = 30_000_000_000;
const DEFAULT_START_INTERVAL_NS: i64 = 5_000_000_000;
const DEFAULT_RETRIES: i64 = 3;
const MAX_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// `run`'s `--health-*` flags as typed.
#[derive(Debug, Clone, Default)]
pub struct HealthFlags {
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<i64>,
    /// `--no-healthcheck`.
    pub none: bool,
}

fn flag_err(
    flag: &'static str,
    value: impl Into<String>,
    reason: impl Into<String>,
) -> ContainerError {
    ContainerError::Flag {
        flag,
        value: value.into(),
        reason: reason.into(),
    }
}

/// A `--health-*` duration: Go's syntax, not negative, 0 for "the image's".
fn flag_duration(flag: &'static str, v: &Option<String>) -> Result<i64, ContainerError> {
    let Some(s) = v else { return Ok(0) };
    let ns = duration_ns(s).map_err(|e| flag_err(flag, s, e))?;
    if ns < 0 {
        return Err(flag_err(flag, s, format!("{flag} cannot be negative")));
    }
    if ns != 0 && ns < 1_000_000 {
        return Err(flag_err(flag, s, format!("{flag} cannot be less than 1ms")));
    }
    Ok(ns)
}

/// The container's health check: the flags over the image's, field by field, as
/// docker merges them; `None` when there is none (no HEALTHCHECK, `NONE`, or
/// `--no-healthcheck`).
pub fn resolve(
    image: Option<&Healthcheck>,
    f: &HealthFlags,
) -> Result<Option<Healthcheck>, ContainerError> {
    let any = f.cmd.is_some()
        || f.interval.is_some()
        || f.timeout.is_some()
        || f.start_period.is_some()
        || f.start_interval.is_some()
        || f.retries.is_some();
    if f.none {
        if any {
            return Err(flag_err(
                "--no-healthcheck",
                "",
                "--no-healthcheck conflicts with --health-* options",
            ));
        }
        return Ok(None);
    }
    if let Some(r) = f.retries.filter(|r| *r < 0) {
        return Err(flag_err(
            "--health-retries",
            r.to_string(),
            "--health-retries cannot be negative",
        ));
    }
    let mine = Healthcheck {
        test: match &f.cmd {
            Some(c) if c.is_empty() => {
                return Err(flag_err("--health-cmd", "", "the command is empty"))
            }
            Some(c) => vec!["CMD-SHELL".into(), c.clone()],
            None => Vec::new(),
        },
        interval: flag_duration("--health-interval", &f.interval)?,
        timeout: flag_duration("--health-timeout", &f.timeout)?,
        start_period: flag_duration("--health-start-period", &f.start_period)?,
        start_interval: flag_duration("--health-start-interval", &f.start_interval)?,
        retries: f.retries.unwrap_or(0),
    };
    let base = image.cloned().unwrap_or_default();
    let pick = |m: i64, b: i64| if m != 0 { m } else { b };
    let merged = Healthcheck {
        test: if mine.test.is_empty() {
            base.test
        } else {
            mine.test
        },
        interval: pick(mine.interval, base.interval),
        timeout: pick(mine.timeout, base.timeout),
        start_period: pick(mine.start_period, base.start_period),
        start_interval: pick(mine.start_interval, base.start_interval),
        retries: pick(mine.retries, base.retries),
    };
    match merged.test.first().map(String::as_str) {
        None | Some("NONE") => Ok(None),
        Some("CMD") if merged.test.len() > 1 => Ok(Some(merged)),
        Some("CMD-SHELL") if merged.test.len() == 2 => Ok(Some(merged)),
        Some(_) => Err(flag_err(
            "--health-cmd",
            merged.test.join(" "),
            "a health check test must be NONE, CMD ARGS... or CMD-SHELL COMMAND",
        )),
    }
}

/// The image config's Healthcheck, if it has one.
pub fn of_image(config_raw: &serde_json::Value) -> Option<Healthcheck> {
    serde_json::from_value(config_raw["config"]["Healthcheck"].clone()).ok()
}

/// The probe's command line.
fn probe_args(hc: &Healthcheck) -> Vec<String> {
    match hc.test.first().map(String::as_str) {
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), hc.test[1].clone()],
        _ => hc.test[1..].to_vec(),
    }
}

/// docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<Probe>,
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    /// 0 healthy; -1 when the probe could not run or overran its timeout.
    pub exit_code: i32,
    pub output: String,
}

impl Health {
    /// What `ps` puts in brackets after `Up ...`.
    pub fn ps_text(&self) -> String {
        match self.status.as_str() {
            STARTING => "health: starting".into(),
            s => s.into(),
        }
    }

    /// docker's handling of one result; `counted` is false during the start period
    /// while no probe has succeeded yet.
    fn record(&mut self, probe: Probe, retries: u32, in_start_period: bool) {
        if probe.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
        } else if !(self.status == STARTING && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = UNHEALTHY.into();
            }
        }
        self.log.push(probe);
        let excess = self.log.len().saturating_sub(MAX_LOG);
        self.log.drain(..excess);
    }
}

/// The container's health state, if it has a health check that has been started.
pub fn load(containers: &Containers, id: &str) -> Option<Health> {
    let data = std::fs::read(containers.path(id).join(STATE)).ok()?;
    serde_json::from_slice(&data).ok()
}

fn save(dir: &Path, h: &Health) -> Result<(), ContainerError> {
    let path = dir.join(STATE);
    let tmp = dir.join(format!(".{STATE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(h).expect("health serialises"))
        .map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))
}

/// The checker has stopped (the container exited): unhealthy, as docker.
pub fn stopped(containers: &Containers, id: &str) {
    if let Some(mut h) = load(containers, id) {
        h.status = UNHEALTHY.into();
        let _ = save(&containers.path(id), &h);
    }
}

/// A checker for the container, if it has a health check: the current executable
/// (`sangja-image`), killed with the caller's thread if the caller dies first.
pub fn spawn(containers: &Containers, rec: &Record) -> Result<Option<Checker>, ContainerError> {
    if rec.healthcheck.is_none() {
        return Ok(None);
    }
    let exe = std::env::current_exe().map_err(io_err("/proc/self/exe"))?;
    let store = containers.dir().parent().unwrap_or(Path::new("."));
    let store = std::path::absolute(store).map_err(io_err(store))?;
    let mut cmd = Command::new(&exe);
    cmd.arg("--store")
        .arg(&store)
        .arg(COMMAND)
        .arg(&rec.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/");
    super::runtime::die_with_parent(&mut cmd);
    let child = cmd.spawn().map_err(io_err(&exe))?;
    Ok(Some(Checker {
        child,
        containers: containers.clone(),
        id: rec.id.clone(),
    }))
}

/// A running checker; stopping it (or dropping it) kills it and marks the container
/// unhealthy.
pub struct Checker {
    child: Child,
    containers: Containers,
    id: String,
}

impl Drop for Checker {
    fn drop(&mut self) {
        // A monitor reaping every child (waitpid(-1)) may have taken it already: only a
        // process that is still our child is it.
        if is_our_child(self.child.id()) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        stopped(&self.containers, &self.id);
    }
}

fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // After the command's closing parenthesis: state, then the parent's pid.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
        == Some(std::process::id())
}

/// The checker process: probes until killed. Returns its exit status.
pub fn main(store_root: &Path, id: &str) -> i32 {
    let containers = Containers::new(store_root);
    let rec = match containers.load(id) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(container = id, error = %e, "health checker");
            return 1;
        }
    };
    let Some(hc) = rec.healthcheck.clone() else {
        return 0;
    };
    let dir = containers.path(id);
    let mut health = load(&containers, id).unwrap_or_default();
    health.status = STARTING.into();
    health.failing_streak = 0;
    if let Err(e) = save(&dir, &health) {
        tracing::warn!(container = id, error = %e, "health state");
        return 1;
    }
    let or = |v: i64, d: i64| Duration::from_nanos(if v > 0 { v } else { d } as u64);
    let interval = or(hc.interval, DEFAULT_INTERVAL_NS);
    let timeout = or(hc.timeout, DEFAULT_TIMEOUT_NS);
    let start_interval = or(hc.start_interval, DEFAULT_START_INTERVAL_NS);
    let start_period = Duration::from_nanos(hc.start_period.max(0) as u64);
    let retries = if hc.retries > 0 {
        hc.retries
    } else {
        DEFAULT_RETRIES
    } as u32;
    let started = Instant::now();
    let in_start = |h: &Health| h.status == STARTING && started.elapsed() < start_period;
    loop {
        std::thread::sleep(if in_start(&health) {
            start_interval
        } else {
            interval
        });
        let probe_started = started.elapsed();
        let probe = probe(&containers, &rec, &hc, timeout);
        health.record(probe, retries, probe_started < start_period);
        if let Err(e) = save(&dir, &health) {
            tracing::warn!(container = id, error = %e, "health state");
            return 1;
        }
    }
}

/// One probe through the runtime's exec, its output kept, killed after `timeout`.
fn probe(containers: &Containers, rec: &Record, hc: &Healthcheck, timeout: Duration) -> Probe {
    let start = record::now();
    let (exit_code, output) = match run_probe(containers, rec, hc, timeout) {
        Ok(r) => r,
        Err(e) => (-1, e.to_string()),
    };
    Probe {
        start,
        end: record::now(),
        exit_code,
        output,
    }
}

fn run_probe(
    containers: &Containers,
    rec: &Record,
    hc: &Healthcheck,
    timeout: Duration,
) -> Result<(i32, String), ContainerError> {
    let opts = ExecOptions {
        args: probe_args(hc),
        ..ExecOptions::default()
    };
    let p = exec::prepare(containers, rec, &opts)?;
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io_err("pipe")(e.into()))?;
    let mut child =
        p.rt.exec_captured(&rec.id, &p.process.0, &p.pid_file.0, &p.log.0, write)?;
    let reader = std::thread::spawn(move || read_capped(read));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(io_err(&p.rt.bin))? {
            Some(s) => break Some(s),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let Some(status) = status else {
        // The process in the container, not just the runtime waiting for it.
        if let Some(pid) = std::fs::read_to_string(&p.pid_file.0)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = reader.join();
        return Ok((
            -1,
            format!(
                "Health check exceeded timeout ({})",
                crate::humanize::go_duration(timeout.as_nanos() as i64)
            ),
        ));
    };
    let output = reader.join().unwrap_or_default();
    Ok(match exec::classify(&status, &p.log.0) {
        ExecOutcome::Exited(code) => (code, output),
        ExecOutcome::NotStarted { message, .. } => (-1, message),
    })
}

/// The probe's output up to docker's limit; the rest is drained so the probe never
/// blocks on a full pipe.
fn read_capped(fd: OwnedFd) -> String {
    let mut f = std::fs::File::from(fd);
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(test: &[&str]) -> Healthcheck {
        Healthcheck {
            test: test.iter().map(|s| s.to_string()).collect(),
            interval: 5_000_000_000,
            retries: 2,
            ..Healthcheck::default()
        }
    }

    #[test]
    fn flags_override_the_image_field_by_field() {
        let image = hc(&["CMD", "true"]);
        let f = HealthFlags {
            timeout: Some("2s".into()),
            ..HealthFlags::default()
        };
        let r = resolve(Some(&image), &f).unwrap().unwrap();
        assert_eq!(r.test, ["CMD", "true"]);
        assert_eq!(
            (r.interval, r.timeout, r.retries),
            (5_000_000_000, 2_000_000_000, 2)
        );
        let f = HealthFlags {
            cmd: Some("wget -q localhost".into()),
            retries: Some(7),
            ..HealthFlags::default()
        };
        let r = resolve(Some(&image), &f).unwrap().unwrap();
        assert_eq!(r.test, ["CMD-SHELL", "wget -q localhost"]);
        assert_eq!(r.retries, 7);
        assert_eq!(probe_args(&r), ["/bin/sh", "-c", "wget -q localhost"]);
    }

    #[test]
    fn none_and_conflicts() {
        let image = hc(&["CMD", "true"]);
        let none = HealthFlags {
            none: true,
            ..HealthFlags::default()
        };
        assert_eq!(resolve(Some(&image), &none).unwrap(), None);
        assert_eq!(
            resolve(Some(&hc(&["NONE"])), &HealthFlags::default()).unwrap(),
            None
        );
        assert_eq!(resolve(None, &HealthFlags::default()).unwrap(), None);
        let both = HealthFlags {
            none: true,
            cmd: Some("true".into()),
            ..HealthFlags::default()
        };
        let e = resolve(None, &both).unwrap_err().to_string();
        assert!(
            e.contains("--no-healthcheck conflicts with --health-* options"),
            "{e}"
        );
        for (f, want) in [
            (
                HealthFlags {
                    retries: Some(-1),
                    ..HealthFlags::default()
                },
                "cannot be negative",
            ),
            (
                HealthFlags {
                    interval: Some("10us".into()),
                    ..HealthFlags::default()
                },
                "less than 1ms",
            ),
            (
                HealthFlags {
                    timeout: Some("soon".into()),
                    ..HealthFlags::default()
                },
                "invalid duration",
            ),
        ] {
            let e = resolve(Some(&image), &f).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        // Timing flags alone with no test anywhere: no health check.
        let f = HealthFlags {
            interval: Some("1s".into()),
            ..HealthFlags::default()
        };
        assert_eq!(resolve(None, &f).unwrap(), None);
    }

    fn result(code: i32) -> Probe {
        Probe {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn streaks_as_docker() {
        let mut h = Health {
            status: STARTING.into(),
            ..Health::default()
        };
        // Failures in the start period do not count while nothing has succeeded.
        h.record(result(1), 2, true);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        h.record(result(0), 2, true);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        // Once healthy, failures count even inside the start period.
        h.record(result(1), 2, true);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 1));
        h.record(result(-1), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        for _ in 0..5 {
            h.record(result(1), 2, false);
        }
        assert_eq!(h.log.len(), MAX_LOG);
        assert_eq!(h.ps_text(), "unhealthy");
        h.status = STARTING.into();
        assert_eq!(h.ps_text(), "health: starting");
    }
}
