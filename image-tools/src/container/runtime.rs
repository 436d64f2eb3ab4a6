//! The OCI runtime (runc's command line) a container runs under: sangja next to
//! `sangja-image` or on PATH, or the binary `--runtime` names. Each container keeps the
//! runtime's state in its own `--root` directory.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("OCI runtime {0} not found (build sangja next to sangja-image, put it on PATH, or use --runtime PATH)")]
    NotFound(String),
    #[error("starting OCI runtime {runtime}: {source}")]
    Spawn {
        runtime: PathBuf,
        #[source]
        source: io::Error,
    },
    /// create, start or run failed: the container's process never ran (or the runtime
    /// gave up on it).
    #[error("{runtime} could not start the container: {message}")]
    Start { runtime: PathBuf, message: String },
    #[error("{runtime} {action} {id} failed ({status}): {stderr}")]
    Failed {
        runtime: PathBuf,
        action: String,
        id: String,
        status: String,
        stderr: String,
    },
}

/// Finds the runtime: `explicit` (a path, or a name looked up on PATH), else `sangja`
/// beside the current executable, else `sangja` on PATH.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    let on_path = |name: &Path| -> Option<PathBuf> {
        if name.components().count() > 1 {
            return name
                .is_file()
                .then(|| std::path::absolute(name).unwrap_or_else(|_| name.to_path_buf()));
        }
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
    };
    if let Some(p) = explicit {
        return on_path(p).ok_or_else(|| RuntimeError::NotFound(p.display().to_string()));
    }
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("sangja")))
        .filter(|p| p.is_file())
    {
        return Ok(beside);
    }
    on_path(Path::new("sangja")).ok_or_else(|| RuntimeError::NotFound("sangja".into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
    /// The runtime has no state for it.
    Gone,
}

pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
}

/// What `create` needs.
pub struct Create<'a> {
    pub bundle: &'a Path,
    pub id: &'a str,
    pub pid_file: &'a Path,
    pub console: Option<&'a Path>,
    /// The runtime's own log.
    pub log: &'a Path,
}

impl Runtime {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c
    }

    fn spawn_err(&self) -> impl FnOnce(io::Error) -> RuntimeError + '_ {
        move |source| RuntimeError::Spawn {
            runtime: self.bin.clone(),
            source,
        }
    }

    /// `cmd` with the runtime's own messages in `log` (runc's `--log`, json lines),
    /// apart from the container's output.
    fn logged(&self, log: &Path) -> Command {
        let mut c = self.cmd();
        c.arg("--log").arg(log).arg("--log-format").arg("json");
        c
    }

    /// `run` in the foreground: the container's stdio are ours (stdin only when
    /// `stdin`, stdout and stderr when `output` says so, else `/dev/null`); the caller
    /// waits for the child, then asks [`start_error`] whether the runtime failed rather
    /// than the container.
    pub fn run_foreground(
        &self,
        bundle: &Path,
        id: &str,
        stdin: bool,
        output: [bool; 2],
        log: &Path,
    ) -> Result<Child, RuntimeError> {
        let ours = |on: bool| if on { Stdio::inherit() } else { Stdio::null() };
        let mut cmd = self.logged(log);
        cmd.arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(ours(stdin))
            .stdout(ours(output[0]))
            .stderr(ours(output[1]));
        // The runtime goes with us: a foreground run killed while its runtime is still
        // creating the container would otherwise race the `rm -f` that cleans up after it
        // (the runtime making state and mounts after rm looked). The container process,
        // once started, is not the runtime and stays, as with any runtime killed; its
        // state lets `rm -f` end it.
        die_with_parent(&mut cmd);
        cmd.spawn().map_err(self.spawn_err())
    }

    /// `run` with stdin `/dev/null` and the container's output on the given handles
    /// (a build's RUN step, its output relayed line by line).
    pub fn run_with_output(
        &self,
        bundle: &Path,
        id: &str,
        log: &Path,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<Child, RuntimeError> {
        self.logged(log)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(self.spawn_err())
    }

    /// `create`: the container's stdio are the ones given (unless `console` names the
    /// socket that receives its terminal); its init pid goes to `pid_file`.
    pub fn create(&self, c: Create<'_>, stdio: [Stdio; 3]) -> Result<(), RuntimeError> {
        let [stdin, stdout, stderr] = stdio;
        let mut cmd = self.logged(c.log);
        cmd.arg("create")
            .arg("--bundle")
            .arg(c.bundle)
            .arg("--pid-file")
            .arg(c.pid_file);
        if let Some(sock) = c.console {
            cmd.arg("--console-socket").arg(sock);
        }
        let status = cmd
            .arg(c.id)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .map_err(self.spawn_err())?;
        self.check_started(c.log, &status)
    }

    /// `start` of a created container.
    pub fn start(&self, id: &str, log: &Path) -> Result<(), RuntimeError> {
        let out = self
            .logged(log)
            .arg("start")
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .map_err(self.spawn_err())?;
        self.check_started(log, &out.status).map_err(|e| match e {
            RuntimeError::Start { runtime, message } if message.is_empty() => RuntimeError::Start {
                runtime,
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            },
            e => e,
        })
    }

    /// A failed create/start/run as [`RuntimeError::Start`], with the runtime's
    /// last logged error.
    pub fn check_started(
        &self,
        log: &Path,
        status: &std::process::ExitStatus,
    ) -> Result<(), RuntimeError> {
        if status.success() {
            return Ok(());
        }
        Err(RuntimeError::Start {
            runtime: self.bin.clone(),
            message: start_error(log).unwrap_or_else(|| status.to_string()),
        })
    }

    fn failed(
        &self,
        action: &str,
        id: &str,
        status: &std::process::ExitStatus,
        stderr: &str,
    ) -> RuntimeError {
        RuntimeError::Failed {
            runtime: self.bin.clone(),
            action: action.to_string(),
            id: id.to_string(),
            status: status.to_string(),
            stderr: stderr.trim().to_string(),
        }
    }

    fn simple(&self, args: &[&str], id: &str) -> Result<String, RuntimeError> {
        let out = self
            .cmd()
            .args(args)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .map_err(self.spawn_err())?;
        if !out.status.success() {
            return Err(self.failed(
                &args.join(" "),
                id,
                &out.status,
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn status(&self, id: &str) -> Status {
        let Ok(out) = self.simple(&["state"], id) else {
            return Status::Gone;
        };
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        match v["status"].as_str() {
            Some("created") | Some("creating") => Status::Created,
            Some("running") => Status::Running,
            Some("paused") => Status::Paused,
            Some("stopped") => Status::Stopped,
            _ => Status::Gone,
        }
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<(), RuntimeError> {
        let out = self
            .cmd()
            .arg("kill")
            .arg(id)
            .arg(signal)
            .stdin(Stdio::null())
            .output()
            .map_err(self.spawn_err())?;
        if !out.status.success() {
            return Err(self.failed(
                &format!("kill {signal}"),
                id,
                &out.status,
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        Ok(())
    }

    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple(&["pause"], id).map(drop)
    }

    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple(&["resume"], id).map(drop)
    }

    /// `events --stats ID`: runc's stats object (the `data` of its one event line).
    pub fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        let out = self
            .cmd()
            .arg("events")
            .arg("--stats")
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .map_err(self.spawn_err())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let event: Option<serde_json::Value> =
            text.lines().find_map(|l| serde_json::from_str(l).ok());
        match event {
            Some(mut e) if out.status.success() => Ok(e["data"].take()),
            _ => Err(self.failed(
                "events --stats",
                id,
                &out.status,
                &String::from_utf8_lossy(&out.stderr),
            )),
        }
    }

    /// `ps ID ARGS`: the host's `ps` output, only the container's processes. No `--`
    /// before the args: runc hands everything after the id to ps, a `--` included.
    pub fn ps(&self, id: &str, ps_args: &[String]) -> Result<String, RuntimeError> {
        let out = self
            .cmd()
            .arg("ps")
            .arg(id)
            .args(ps_args)
            .stdin(Stdio::null())
            .output()
            .map_err(self.spawn_err())?;
        if !out.status.success() {
            return Err(self.failed("ps", id, &out.status, &String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `exec --process FILE [--detach] ID`: the process's stdin is ours only when
    /// `stdin`; stdout and stderr are ours. The caller waits for the child and asks
    /// [`start_error`] whether the runtime, not the process, failed.
    pub fn exec(
        &self,
        id: &str,
        process: &Path,
        detach: bool,
        stdin: bool,
        log: &Path,
    ) -> Result<Child, RuntimeError> {
        let mut c = self.logged(log);
        c.arg("exec").arg("--process").arg(process);
        if detach {
            c.arg("--detach");
        }
        c.arg(id).stdin(if stdin {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
        // A detached process must not hold our output open.
        if detach {
            c.stdout(Stdio::null()).stderr(Stdio::null());
        }
        c.spawn().map_err(self.spawn_err())
    }

    /// `exec --process FILE --pid-file PID ID` with stdin `/dev/null` and stdout and
    /// stderr both on `output` (a health probe: its output kept, its process found by
    /// pid when it overruns its time).
    pub fn exec_captured(
        &self,
        id: &str,
        process: &Path,
        pid_file: &Path,
        log: &Path,
        output: std::os::fd::OwnedFd,
    ) -> Result<Child, RuntimeError> {
        let err = output.try_clone().map_err(self.spawn_err())?;
        self.logged(log)
            .arg("exec")
            .arg("--process")
            .arg(process)
            .arg("--pid-file")
            .arg(pid_file)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::from(output))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(self.spawn_err())
    }

    /// `delete --force`, quiet when the runtime has no such container.
    pub fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        if self.status(id) == Status::Gone {
            return Ok(());
        }
        self.simple(&["delete", "--force"], id).map(drop)
    }
}

/// The child gets SIGKILL when this thread ends (the caller spawns from the thread that
/// lives as long as the child may: the main one).
pub(super) fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Already orphaned before the prctl: the signal would never come.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The last error the runtime logged (`--log-format json` lines), if any: a foreground
/// `run` that exits non-zero without one is the container's own exit status.
pub fn start_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "error")
        .find_map(|v| v["msg"].as_str().map(str::to_string))
}

/// docker's exit status for a container whose process could not start: 127 when the
/// program is not there, 126 when it cannot be run, else 125.
pub fn start_exit_code(message: &str) -> i32 {
    let m = message.to_ascii_lowercase();
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("not a directory")
    {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_as_docker() {
        assert_eq!(
            start_exit_code(r#"exec: "nope": executable file not found in $PATH"#),
            127
        );
        assert_eq!(
            start_exit_code("stat /no/such: No such file or directory"),
            127
        );
        assert_eq!(start_exit_code(r#"exec: "/etc": permission denied"#), 126);
        assert_eq!(start_exit_code("cgroup: invalid argument"), 125);
    }

    #[test]
    fn last_logged_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.json");
        assert_eq!(start_error(&log), None);
        std::fs::write(
            &log,
            concat!(
                r#"{"level":"warning","msg":"w","time":"t"}"#,
                "\n",
                r#"{"level":"error","msg":"first","time":"t"}"#,
                "\n",
                "not json\n",
                r#"{"level":"error","msg":"exec: \"x\": executable file not found","time":"t"}"#,
                "\n"
            ),
        )
        .unwrap();
        assert_eq!(
            start_error(&log).as_deref(),
            Some(r#"exec: "x": executable file not found"#)
        );
    }
}
