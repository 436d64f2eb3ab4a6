//! Helpers shared by the case modules.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::case::{CaseError, CaseResult};
use crate::config::Config;

/// A host directory bind-mounted read-write at `/shared` in the container, so
/// a container process (or a hook) can leave files the case reads. Each call
/// gets a new directory (`name-1`, `name-2`, ...).
pub fn share_dir(ctx_dir: &Path, cfg: &mut Config, name: &str) -> Result<PathBuf, CaseError> {
    let host = (1..)
        .map(|n| ctx_dir.join(format!("{name}-{n}")))
        .find(|p| !p.exists())
        .expect("an unused name");
    std::fs::create_dir_all(&host)
        .map_err(|e| CaseError::Harness(format!("cannot create {}: {e}", host.display())))?;
    cfg.push(
        "/mounts",
        json!({ "destination": "/shared", "type": "bind", "source": host.to_string_lossy(), "options": ["rbind", "rw"] }),
    );
    Ok(host)
}

/// Waits for `path` to exist and returns its text (bounded, not timed).
pub fn wait_file(path: &Path) -> Result<String, CaseError> {
    let started = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.is_empty() {
                return Ok(s);
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            crate::fail!("{} never appeared", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when `pid` is gone or a zombie (PID 1 here reaps orphans late).
pub fn pid_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .map(|st| st == "Z" || st == "X")
            .unwrap_or(true),
    }
}

/// Waits for `pid` to be gone (bounded).
pub fn wait_dead(pid: i32) -> CaseResult {
    let started = Instant::now();
    while !pid_dead(pid) {
        if started.elapsed() > Duration::from_secs(30) {
            crate::fail!("process {pid} still alive");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A config whose process sleeps (for cases that look from outside).
pub fn sleeper() -> Config {
    let mut c = Config::default();
    c.args(&["/bin/sleep", "1000"]);
    c
}

/// A config whose process runs a shell script.
pub fn shell(script: &str) -> Config {
    let mut c = Config::default();
    c.args(&["/bin/sh", "-c", script]);
    c
}

/// Expects a failed command whose stderr contains `needle` (case-insensitive).
pub fn expect_error(out: &crate::runtime::CmdOutput, needle: &str) -> CaseResult {
    crate::ensure!(
        !out.ok(),
        "{}: succeeded; expected an error containing {needle:?}",
        out.describe()
    );
    crate::ensure!(
        out.stderr.to_lowercase().contains(&needle.to_lowercase()),
        "{}: error lacks {needle:?}",
        out.describe()
    );
    Ok(())
}

/// The JSON string array of a value, for comparisons.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `f` (which may make a buggy runtime write the host's `path`, a
/// /proc/sys file) and puts the host's value back if it changed, failing the
/// case then.
pub fn guard_host_value<T>(
    path: &str,
    f: impl FnOnce() -> Result<T, CaseError>,
) -> Result<T, CaseError> {
    let before = std::fs::read_to_string(path).unwrap_or_default();
    let result = f();
    let after = std::fs::read_to_string(path).unwrap_or_default();
    if after != before {
        let _ = std::fs::write(path, &before);
        crate::fail!(
            "the runtime changed the host's {path} ({:?} -> {:?}); restored",
            before.trim(),
            after.trim()
        );
    }
    result
}

/// The container process saw descriptors 0, 1 and 2 open, and no others.
pub fn only_stdio(r: &crate::report::Report) -> CaseResult {
    let fds: Vec<String> = r.0["fds"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let mut extra: Vec<String> = fds
        .iter()
        .filter(|f| !["0", "1", "2"].contains(&f.as_str()))
        .map(|f| format!("{f} -> {}", r.0["fds"][f]))
        .collect();
    extra.sort();
    crate::ensure!(
        extra.is_empty(),
        "descriptors beyond stdio reach the container: {}",
        extra.join(", ")
    );
    for f in ["0", "1", "2"] {
        crate::ensure!(fds.contains(&f.to_string()), "fd {f} not open");
    }
    Ok(())
}
