//! The OCI runtime (runc's command line) a container runs under: sangja next to
//! `sangja-image` or on PATH, or the binary `--runtime` names. Each container keeps the
//! runtime's state in its own `--root` directory.

use std::fs::File;
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

    /// `run` in the foreground: the container's stdio are ours (stdin only when
    /// `stdin`); the caller waits for the child.
    pub fn run_foreground(
        &self,
        bundle: &Path,
        id: &str,
        stdin: bool,
    ) -> Result<Child, RuntimeError> {
        self.cmd()
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(if stdin {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(self.spawn_err())
    }

    /// `run --detach` with the container's stdout and stderr going to `log`.
    pub fn run_detached(&self, bundle: &Path, id: &str, log: &File) -> Result<(), RuntimeError> {
        let out = log.try_clone().map_err(self.spawn_err())?;
        let err = log.try_clone().map_err(self.spawn_err())?;
        let child = self
            .cmd()
            .arg("run")
            .arg("--detach")
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(self.spawn_err())?;
        let output = child.wait_with_output().map_err(self.spawn_err())?;
        if !output.status.success() {
            // The runtime's own complaint went into the log with the container's output.
            let tail = log_tail(log);
            return Err(self.failed("run --detach", id, &output.status, &tail));
        }
        Ok(())
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

    /// `delete --force`, quiet when the runtime has no such container.
    pub fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        if self.status(id) == Status::Gone {
            return Ok(());
        }
        self.simple(&["delete", "--force"], id).map(drop)
    }
}

fn log_tail(log: &File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match log.try_clone() {
        Ok(f) => f,
        Err(_) => return String::new(),
    };
    let len = f.seek(SeekFrom::End(0)).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}
