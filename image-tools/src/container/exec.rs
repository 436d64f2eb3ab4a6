//! `exec`: another process in a running container, through the runtime's `exec
//! --process`. The process starts from the container's own (config.json) process: its
//! env, cwd, user, capabilities and rlimits, with the command and the `exec` flags on
//! top, so it sees what the container's init sees.

use super::lifecycle;
use super::record::{Containers, Record};
use super::runtime::{self, RuntimeError, Status};
use super::{io_err, ContainerError};
use crate::bundle::user;
use crate::layer::Root;
use serde_json::{json, Value};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub detach: bool,
    pub interactive: bool,
    pub tty: bool,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub env: Vec<String>,
    pub privileged: bool,
}

/// How an exec ended, as docker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The process's exit status (128+signal when killed); 0 for `-d` once started.
    Exited(i32),
    /// The process could not be started: `code` 126 (cannot run) or 127 (not found),
    /// with the runtime's message.
    NotStarted { code: i32, message: String },
}

/// A file of the exec's (its process.json, the runtime's log), removed when done.
pub(super) struct Scratch(pub std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn env_key(e: &str) -> &str {
    e.split('=').next().unwrap_or(e)
}

/// The process.json for the exec: the container's process with `opts` applied.
pub fn process(rootfs: &Path, base: &Value, opts: &ExecOptions) -> Result<Value, ContainerError> {
    let mut p = base.clone();
    p["args"] = json!(opts.args);
    p["terminal"] = json!(opts.tty);
    p.as_object_mut()
        .map(|o| o.remove("consoleSize"))
        .unwrap_or_default();
    let mut env: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for e in &opts.env {
        let entry = if e.contains('=') {
            e.clone()
        } else {
            match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            }
        };
        env.retain(|x| env_key(x) != env_key(&entry));
        env.push(entry);
    }
    p["env"] = json!(env);
    if let Some(w) = &opts.workdir {
        if !w.starts_with('/') {
            return Err(ContainerError::Flag {
                flag: "-w",
                value: w.clone(),
                reason: "the working directory must be absolute".into(),
            });
        }
        p["cwd"] = json!(w);
    }
    if let Some(u) = &opts.user {
        let root = Root::open(rootfs).map_err(|e| io_err(rootfs)(e.into()))?;
        let eu = user::resolve(&root, u).map_err(|e| ContainerError::Flag {
            flag: "-u",
            value: u.clone(),
            reason: e.to_string(),
        })?;
        p["user"] = json!({
            "uid": eu.uid,
            "gid": eu.gid,
            "additionalGids": eu.additional_gids,
        });
    }
    if opts.privileged {
        // Every capability this process may hand out (docker: the daemon's).
        let all = super::config::own_capabilities(caps::CapSet::Bounding);
        p["capabilities"] = json!({
            "bounding": all, "effective": all, "permitted": all,
        });
    }
    Ok(p)
}

/// An exec made ready: the container checked to be running, the process written.
pub(super) struct Prepared {
    pub rt: runtime::Runtime,
    /// The process.json.
    pub process: Scratch,
    /// The runtime's log.
    pub log: Scratch,
    /// A spare name next to them (a probe's pid file).
    pub pid_file: Scratch,
}

/// Fails with docker's "is not running" when the container is not.
pub(super) fn prepare(
    containers: &Containers,
    rec: &Record,
    opts: &ExecOptions,
) -> Result<Prepared, ContainerError> {
    let rt = lifecycle::runtime_of(containers, rec);
    match rt.status(&rec.id) {
        Status::Running => {}
        Status::Paused => return Err(ContainerError::Paused(rec.id.clone())),
        _ => return Err(ContainerError::NotRunning(rec.id.clone())),
    }
    let dir = containers.path(&rec.id);
    let config = dir.join("config.json");
    let spec: Value = std::fs::read(&config)
        .map_err(io_err(&config))
        .and_then(|d| {
            serde_json::from_slice(&d).map_err(|e| ContainerError::Record {
                path: config.clone(),
                message: e.to_string(),
            })
        })?;
    let p = process(&dir.join("rootfs"), &spec["process"], opts)?;
    let unique = crate::store::unique_name("exec");
    let tmp = Scratch(dir.join(format!(".{unique}.json")));
    std::fs::write(&tmp.0, serde_json::to_vec(&p).expect("process serialises"))
        .map_err(io_err(&tmp.0))?;
    Ok(Prepared {
        rt,
        process: tmp,
        log: Scratch(dir.join(format!(".{unique}.log"))),
        pid_file: Scratch(dir.join(format!(".{unique}.pid"))),
    })
}

/// Runs the exec and returns how it ended; fails with docker's "is not running" when the
/// container is not.
pub fn exec(
    containers: &Containers,
    rec: &Record,
    opts: &ExecOptions,
) -> Result<ExecOutcome, ContainerError> {
    let Prepared {
        rt,
        process: tmp,
        log,
        ..
    } = prepare(containers, rec, opts)?;
    let mut child = rt.exec(&rec.id, &tmp.0, opts.detach, opts.interactive, &log.0)?;
    let status = child.wait().map_err(io_err(&rt.bin))?;
    let outcome = classify(&status, &log.0);
    if opts.detach && matches!(outcome, ExecOutcome::Exited(c) if c != 0) {
        return Err(RuntimeError::Start {
            runtime: rt.bin.clone(),
            message: status.to_string(),
        }
        .into());
    }
    Ok(outcome)
}

/// How an exec whose runtime ended with `status` went: the runtime's own logged error
/// means the process never ran (126, or 127 when it is not there).
pub(super) fn classify(status: &std::process::ExitStatus, log: &Path) -> ExecOutcome {
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    if code != 0 {
        if let Some(message) = runtime::start_error(log) {
            let code = match runtime::start_exit_code(&message) {
                127 => 127,
                _ => 126,
            };
            return ExecOutcome::NotStarted { code, message };
        }
    }
    ExecOutcome::Exited(code)
}
