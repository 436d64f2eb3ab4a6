//! The per-case context: a private `--root`, bundles in a scratch directory,
//! the containers it made, and the cleanup that runs even when the case fails.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::case::{CaseError, CaseResult};
use crate::cgroups;
use crate::config::Config;
use crate::report::Report;
use crate::rootfs::RootfsTemplate;
use crate::runtime::{self, CmdOutput, Runtime};

/// How long a case waits for a container to reach a state before failing.
/// A bound on hangs, not a speed assertion.
const STATE_DEADLINE: Duration = Duration::from_secs(30);

/// The path every case's checker is started from inside the container.
pub const CHECKER: &str = "/bin/sangja-check";

pub struct Ctx<'a> {
    pub runtime: &'a Runtime,
    template: &'a RootfsTemplate,
    /// Scratch directory of this case (bundles, outputs, the --root).
    pub dir: PathBuf,
    /// The private `--root` of every command of this case.
    pub root: PathBuf,
    prefix: String,
    seq: u32,
    ids: Vec<String>,
    /// Container processes seen, with their start time, so cleanup kills only them.
    pids: Vec<(i32, String)>,
    /// Host cgroup directories the containers used; they must be gone at the end.
    cgroup_dirs: Vec<PathBuf>,
    /// Other host paths the case created (cgroups it made itself, ...), removed at the end.
    extra_dirs: Vec<PathBuf>,
}

fn starttime(pid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)
        .map(str::to_string)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

impl<'a> Ctx<'a> {
    pub fn new(
        runtime: &'a Runtime,
        template: &'a RootfsTemplate,
        base: &Path,
        case_id: &str,
    ) -> Result<Ctx<'a>, CaseError> {
        let dir = base.join(format!("{}-{}", sanitize(case_id), sanitize(&runtime.name)));
        let root = dir.join("root");
        std::fs::create_dir_all(&dir)
            .map_err(|e| CaseError::Harness(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Ctx {
            runtime,
            template,
            root,
            prefix: format!("sc{}-{}", std::process::id(), sanitize(case_id)),
            dir,
            seq: 0,
            ids: Vec::new(),
            pids: Vec::new(),
            cgroup_dirs: Vec::new(),
            extra_dirs: Vec::new(),
        })
    }

    /// A fresh container id, registered for cleanup.
    pub fn new_id(&mut self) -> String {
        self.seq += 1;
        let id = format!("{}-{}", self.prefix, self.seq);
        self.ids.push(id.clone());
        id
    }

    /// Writes a bundle (rootfs + config.json) and returns its directory.
    pub fn bundle(&mut self, cfg: &Config) -> Result<PathBuf, CaseError> {
        self.seq += 1;
        let b = self.dir.join(format!("bundle-{}", self.seq));
        self.template.populate(&b.join("rootfs"))?;
        self.write_config(&b, cfg)?;
        Ok(b)
    }

    pub fn write_config(&self, bundle: &Path, cfg: &Config) -> Result<(), CaseError> {
        let text =
            serde_json::to_string_pretty(&cfg.0).map_err(|e| CaseError::Harness(e.to_string()))?;
        std::fs::write(bundle.join("config.json"), text).map_err(|e| {
            CaseError::Harness(format!(
                "cannot write config.json in {}: {e}",
                bundle.display()
            ))
        })
    }

    /// Records a host path to remove when the case ends.
    pub fn remove_at_end(&mut self, p: PathBuf) {
        self.extra_dirs.push(p);
    }

    /// `runtime --root <private root> args...`
    pub fn rt(&self, args: &[&str]) -> Result<CmdOutput, CaseError> {
        Ok(runtime::run(
            self.runtime,
            &self.root,
            args,
            &self.dir,
            None,
        )?)
    }

    /// Like `rt`, the runtime inheriting the given umask and oom_score_adj.
    pub fn rt_inheriting(
        &self,
        args: &[&str],
        inherited: runtime::Inherited,
    ) -> Result<CmdOutput, CaseError> {
        Ok(runtime::run_inheriting(
            self.runtime,
            &self.root,
            args,
            &self.dir,
            None,
            Some(inherited),
        )?)
    }

    /// Like `rt`, the runtime holding the host directory `dir` open at
    /// [`runtime::HELD_FD`] (not close-on-exec), as a leaky caller would.
    pub fn rt_holding_dir(&self, args: &[&str], dir: &Path) -> Result<CmdOutput, CaseError> {
        Ok(runtime::run_holding_dir(
            self.runtime,
            &self.root,
            args,
            &self.dir,
            dir,
        )?)
    }

    /// Like `rt` with stdin from a file.
    pub fn rt_stdin(&self, args: &[&str], stdin: &Path) -> Result<CmdOutput, CaseError> {
        Ok(runtime::run(
            self.runtime,
            &self.root,
            args,
            &self.dir,
            Some(stdin),
        )?)
    }

    /// `run --bundle B id` of a new bundle from `cfg`.
    pub fn run(&mut self, cfg: &Config) -> Result<(String, CmdOutput), CaseError> {
        let b = self.bundle(cfg)?;
        let id = self.new_id();
        let out = self.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
        Ok((id, out))
    }

    /// Runs the checker with `probes` as the container process; fails the case
    /// when the runtime fails. The container's cgroups must be gone afterwards.
    pub fn check(&mut self, mut cfg: Config, probes: &[&str]) -> Result<Report, CaseError> {
        let mut args = vec![CHECKER];
        args.extend_from_slice(probes);
        cfg.args(&args);
        let (_, out) = self.run(&cfg)?;
        if !out.ok() {
            crate::fail!("run failed: {}", out.describe());
        }
        let report = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
        // Without a cgroup namespace the checker saw its host cgroup paths.
        if let Some(lines) = report.0["cgroup"].as_array() {
            let text: String = lines
                .iter()
                .map(|l| {
                    format!(
                        "{}:{}:{}\n",
                        l["hierarchy"].as_str().unwrap_or(""),
                        l["controllers"].as_str().unwrap_or(""),
                        l["path"].as_str().unwrap_or("")
                    )
                })
                .collect();
            let own: Vec<_> = cgroups::own().into_iter().filter_map(|m| m.dir).collect();
            for m in cgroups::parse_membership(&text) {
                if let Some(d) = m.dir {
                    if m.path != "/" && !own.contains(&d) {
                        self.cgroup_dirs.push(d);
                    }
                }
            }
        }
        Ok(report)
    }

    /// `create` of a new bundle from `cfg`: (id, bundle, output).
    pub fn create(&mut self, cfg: &Config) -> Result<(String, PathBuf, CmdOutput), CaseError> {
        self.create_with(cfg, &[])
    }

    /// `create` with extra flags (`--console-socket`, `--pid-file`, ...).
    pub fn create_with(
        &mut self,
        cfg: &Config,
        extra: &[&str],
    ) -> Result<(String, PathBuf, CmdOutput), CaseError> {
        let b = self.bundle(cfg)?;
        let id = self.new_id();
        let bundle = b.to_string_lossy().into_owned();
        let mut args = vec!["create", "--bundle", bundle.as_str()];
        args.extend_from_slice(extra);
        args.push(&id);
        let out = self.rt(&args)?;
        if out.ok() {
            self.track(&id);
        }
        Ok((id, b, out))
    }

    /// `create` that must succeed: (id, init pid).
    pub fn create_ok(&mut self, cfg: &Config) -> Result<(String, i32), CaseError> {
        let (id, _, out) = self.create(cfg)?;
        if !out.ok() {
            crate::fail!("create failed: {}", out.describe());
        }
        let pid = self.state(&id)?["pid"].as_i64().unwrap_or(0) as i32;
        Ok((id, pid))
    }

    /// Remembers the init process and its cgroups for cleanup and leftover checks.
    fn track(&mut self, id: &str) {
        if let Ok(st) = self.state(id) {
            if let Some(pid) = st["pid"].as_i64().filter(|p| *p > 0) {
                let pid = pid as i32;
                if let Some(t) = starttime(pid) {
                    self.pids.push((pid, t));
                }
                let own: Vec<_> = cgroups::own().into_iter().filter_map(|m| m.dir).collect();
                for m in cgroups::of_pid(pid) {
                    if let Some(d) = m.dir {
                        if !own.contains(&d) {
                            self.cgroup_dirs.push(d);
                        }
                    }
                }
            }
        }
    }

    pub fn start(&self, id: &str) -> Result<CmdOutput, CaseError> {
        self.rt(&["start", id])
    }

    pub fn kill(&self, id: &str, sig: &str) -> Result<CmdOutput, CaseError> {
        self.rt(&["kill", id, sig])
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<CmdOutput, CaseError> {
        if force {
            self.rt(&["delete", "--force", id])
        } else {
            self.rt(&["delete", id])
        }
    }

    /// `state id` parsed; fails the case when it errors or is not JSON.
    pub fn state(&self, id: &str) -> Result<Value, CaseError> {
        let out = self.rt(&["state", id])?;
        if !out.ok() {
            crate::fail!("state failed: {}", out.describe());
        }
        serde_json::from_str(&out.stdout)
            .map_err(|e| CaseError::Fail(format!("state {id} is not JSON ({e}): {:?}", out.stdout)))
    }

    /// Waits until `state id` reports `status` (a zombie init counts as stopped).
    pub fn wait_status(&self, id: &str, status: &str) -> Result<Value, CaseError> {
        let started = Instant::now();
        loop {
            let st = self.state(id)?;
            if st["status"] == status {
                return Ok(st);
            }
            if started.elapsed() > STATE_DEADLINE {
                crate::fail!("{id} never reached status {status:?}; last state {st}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs (or creates) `cfg` expecting the runtime to refuse it: a non-zero
    /// exit, and nothing left behind (no state in --root, no container).
    pub fn refused(&mut self, cfg: &Config, verb: &str) -> Result<CmdOutput, CaseError> {
        let b = self.bundle(cfg)?;
        let id = self.new_id();
        let out = self.rt(&[verb, "--bundle", &b.to_string_lossy(), &id])?;
        if out.ok() {
            self.track(&id);
            crate::fail!("{verb} succeeded but should have been refused");
        }
        self.nothing_left(&id)?;
        Ok(out)
    }

    /// No trace of `id`: `state` fails and --root has no entry naming it.
    pub fn nothing_left(&self, id: &str) -> CaseResult {
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().contains(id) {
                    crate::fail!("left behind in --root: {}", e.path().display());
                }
            }
        }
        let st = self.rt(&["state", id])?;
        crate::ensure!(
            !st.ok(),
            "state {id} still answers after the container should be gone: {}",
            st.stdout.trim()
        );
        Ok(())
    }

    /// Checked after a case passes: every container deleted, its state and
    /// cgroups gone.
    pub fn assert_clean(&self) -> CaseResult {
        for id in &self.ids {
            self.nothing_left(id)?;
        }
        for d in &self.cgroup_dirs {
            crate::ensure!(
                !d.exists(),
                "cgroup left behind after the container was deleted: {}",
                d.display()
            );
        }
        Ok(())
    }

    /// Unmounts anything a runtime left mounted under our scratch directory
    /// (only when it ran without a mount namespace or leaked a mount).
    fn unmount_leftovers(&self) {
        let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let prefix = self.dir.to_string_lossy().into_owned();
        let mut targets: Vec<String> = text
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|t| t.starts_with(&prefix))
            .collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in targets {
            if let Ok(c) = std::ffi::CString::new(t) {
                // SAFETY: umount2 reads a NUL-terminated path we own; the
                // mount is under this case's own scratch directory.
                unsafe {
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        for id in self.ids.clone() {
            if self.root.join(&id).exists()
                || self.rt(&["state", &id]).map(|o| o.ok()).unwrap_or(false)
            {
                let _ = self.rt(&["delete", "--force", &id]);
            }
        }
        for (pid, t) in &self.pids {
            if starttime(*pid).as_deref() == Some(t.as_str()) {
                // SAFETY: kill takes integers; the PID is a container init this
                // case started, checked by its start time to be the same process.
                unsafe {
                    libc::kill(*pid, libc::SIGKILL);
                }
            }
        }
        for d in self
            .cgroup_dirs
            .iter()
            .rev()
            .chain(self.extra_dirs.iter().rev())
        {
            if d.starts_with("/sys/fs/cgroup") {
                // Processes just killed leave their cgroup a moment later.
                for _ in 0..50 {
                    if !d.exists() || std::fs::remove_dir(d).is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            } else {
                let _ = std::fs::remove_dir_all(d);
            }
        }
        self.unmount_leftovers();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
