//! Calls of the `sangja` binary, the way containerd's Go runc shim calls runc:
//! `--root <root>/<ns> --log <bundle>/log.json --log-format json <verb> ...`.
//!
//! The shim is its children's reaper (containerd-shim's SIGCHLD handler waits for
//! every pid and hands the statuses to its monitor), so a call never waits on its
//! own `Child`: it subscribes to the monitor before spawning and takes its pid's
//! exit from there. Spawning is std's fork+exec at once, nothing runs in between.

use containerd_shim::monitor::{monitor_subscribe, monitor_unsubscribe, Subject, Topic};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Pids of runtime calls: the service's exit watcher skips them (they are not
/// container processes) instead of keeping them as exits nobody claimed, where a
/// reused pid could later be taken for an exec's.
static CALLS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Whether `pid` was a runtime call; forgets it (each exit is seen once).
pub fn take_call(pid: i32) -> bool {
    CALLS.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid)
}

/// Where state lives when the runtime options name no root (the Go shim's is
/// /run/containerd/runc).
pub const DEFAULT_ROOT: &str = "/run/containerd/sangja";
/// The runtime binary the `start` action chose, handed to the serving shim it
/// spawns (which runs from the real executable, not the path containerd used).
pub const BINARY_ENV: &str = "SANGJA_SHIM_RUNTIME_BINARY";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("start {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
    #[error("wait for {0}: the shim's reaper stopped")]
    Lost(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// The runtime binary and its state root (namespace included).
#[derive(Debug, Clone)]
pub struct Runtime {
    pub binary: PathBuf,
    pub root: PathBuf,
}

/// What the called process gets as stdio; `None` is captured (stdout, stderr) or
/// /dev/null (stdin).
#[derive(Default)]
pub struct CallIo {
    pub stdin: Option<File>,
    pub stdout: Option<File>,
    pub stderr: Option<File>,
    /// Bytes written to stdin instead (update --resources -).
    pub input: Option<Vec<u8>>,
}

pub struct Output {
    pub stdout: Vec<u8>,
}

impl Runtime {
    /// `sangja` next to the shim as containerd started it (argv[0], so a symlinked
    /// shim finds the runtime beside the link), else next to the real executable,
    /// else on PATH.
    pub fn default_binary() -> PathBuf {
        if let Some(b) = std::env::var_os(BINARY_ENV).filter(|b| !b.is_empty()) {
            return PathBuf::from(b);
        }
        let argv0 = std::env::args_os().next().map(PathBuf::from);
        let exe = std::env::current_exe().ok();
        [argv0.filter(|p| p.is_absolute()), exe]
            .into_iter()
            .flatten()
            .filter_map(|p| p.parent().map(|d| d.join("sangja")))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("sangja"))
    }

    pub fn new(binary: Option<&str>, root: Option<&str>, namespace: &str) -> Runtime {
        let binary = binary
            .filter(|b| !b.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(Runtime::default_binary);
        let root =
            Path::new(root.filter(|r| !r.is_empty()).unwrap_or(DEFAULT_ROOT)).join(namespace);
        Runtime { binary, root }
    }

    /// The runtime's name as error messages give it.
    pub fn name(&self) -> String {
        self.binary.display().to_string()
    }

    /// Runs `<binary> --root R --log LOG --log-format json <args>`; on failure the
    /// error is the last error line the runtime logged during this call (what
    /// containerd shows), else its stderr and exit status.
    pub async fn call(
        &self,
        log: &Path,
        args: &[OsString],
        io: CallIo,
    ) -> Result<Output, RuntimeError> {
        let logged_before = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(log)
            .args(["--log-format", "json"])
            .args(args);
        let (input_rd, input_wr) = match io.input {
            Some(_) => {
                let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| {
                    RuntimeError::Io {
                        context: "pipe for the runtime's stdin".into(),
                        source: e.into(),
                    }
                })?;
                (Some(File::from(r)), Some(File::from(w)))
            }
            None => (None, None),
        };
        cmd.stdin(match (input_rd, io.stdin) {
            (Some(r), _) => Stdio::from(r),
            (None, Some(f)) => Stdio::from(f),
            (None, None) => Stdio::null(),
        });
        let capture_out = io.stdout.is_none();
        cmd.stdout(io.stdout.map_or_else(Stdio::piped, Stdio::from));
        let capture_err = io.stderr.is_none();
        cmd.stderr(io.stderr.map_or_else(Stdio::piped, Stdio::from));

        let mut sub = monitor_subscribe(Topic::Pid)
            .await
            .map_err(|_| RuntimeError::Lost(self.name()))?;
        let spawned = cmd.spawn();
        drop(cmd);
        let mut child = match spawned {
            Ok(c) => c,
            Err(source) => {
                let _ = monitor_unsubscribe(sub.id).await;
                return Err(RuntimeError::Spawn {
                    binary: self.name(),
                    source,
                });
            }
        };
        let pid = child.id() as i32;
        // No await since the spawn: the exit cannot have been handled yet.
        CALLS.lock().unwrap_or_else(|e| e.into_inner()).insert(pid);
        let writer = input_wr.zip(io.input).map(|(mut w, bytes)| {
            tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let _ = w.write_all(&bytes);
            })
        });
        let out = capture_out
            .then(|| child.stdout.take())
            .flatten()
            .map(drain);
        let err = capture_err
            .then(|| child.stderr.take())
            .flatten()
            .map(drain);
        let code = loop {
            match sub.rx.recv().await {
                Some(ev) => match ev.subject {
                    Subject::Pid(p) if p == pid => break Some(ev.exit_code),
                    _ => continue,
                },
                None => break None,
            }
        };
        let _ = monitor_unsubscribe(sub.id).await;
        if let Some(w) = writer {
            let _ = w.await;
        }
        let stdout = match out {
            Some(h) => h.await.unwrap_or_default(),
            None => Vec::new(),
        };
        let stderr = match err {
            Some(h) => h.await.unwrap_or_default(),
            None => Vec::new(),
        };
        let code = code.ok_or_else(|| RuntimeError::Lost(self.name()))?;
        if code == 0 {
            return Ok(Output { stdout });
        }
        let msg = last_error(log, logged_before).unwrap_or_else(|| {
            format!(
                "{} did not terminate successfully: exit status {code}: {}",
                self.name(),
                String::from_utf8_lossy(&stderr).trim()
            )
        });
        Err(RuntimeError::Failed(msg))
    }
}

fn drain(mut r: impl Read + Send + 'static) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// The `msg` of the last `"level":"error"` line the runtime wrote after `offset`.
pub fn last_error(log: &Path, offset: u64) -> Option<String> {
    let bytes = std::fs::read(log).ok()?;
    let new = bytes.get(offset as usize..).unwrap_or(&bytes);
    last_error_in(&String::from_utf8_lossy(new))
}

fn last_error_in(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("level").and_then(|l| l.as_str()) == Some("error"))
        .filter_map(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_string))
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_line_wins() {
        let log = concat!(
            r#"{"level":"error","msg":"old","time":"t"}"#,
            "\n",
            r#"{"level":"warning","msg":"w","time":"t"}"#,
            "\n",
            r#"{"level":"error","msg":"sangja create failed: boom","time":"t"}"#,
            "\n",
            "not json\n"
        );
        assert_eq!(
            last_error_in(log).as_deref(),
            Some("sangja create failed: boom")
        );
        assert_eq!(last_error_in(r#"{"level":"info","msg":"x"}"#), None);
    }

    #[test]
    fn root_joins_namespace() {
        let rt = Runtime::new(Some("/x/sangja"), None, "ns1");
        assert_eq!(rt.root, Path::new("/run/containerd/sangja/ns1"));
        let rt = Runtime::new(Some("/x/sangja"), Some("/r"), "ns1");
        assert_eq!(rt.root, Path::new("/r/ns1"));
    }
}
