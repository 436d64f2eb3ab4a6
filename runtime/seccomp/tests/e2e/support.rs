//! Running the probe: a profile in a private temp dir, the probe's output and how it ended.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use libtest_mimic::Failed;
use serde_json::Value;

pub const PROBE: &str = env!("CARGO_BIN_EXE_sangja-seccomp-probe");

/// A directory removed on drop, even when the test fails.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<Self, Failed> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("sangja-seccomp-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How one probe run went.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub pid: u32,
}

impl Run {
    fn from(out: Output, pid: u32) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
            signal: out.status.signal(),
            pid,
        }
    }

    /// The "ret=R errno=E" line's two numbers.
    pub fn result(&self) -> Result<(i64, i32), Failed> {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("ret="))
            .ok_or_else(|| self.describe("no ret= line"))?;
        let mut parts = line.split_whitespace();
        let ret = parts
            .next()
            .and_then(|p| p.strip_prefix("ret="))
            .and_then(|v| v.parse().ok());
        let errno = parts
            .next()
            .and_then(|p| p.strip_prefix("errno="))
            .and_then(|v| v.parse().ok());
        match (ret, errno) {
            (Some(r), Some(e)) => Ok((r, e)),
            _ => Err(self.describe("malformed ret= line")),
        }
    }

    /// The errno of a call expected to fail.
    pub fn errno(&self) -> Result<i32, Failed> {
        match self.result()? {
            (-1, e) => Ok(e),
            (r, _) => Err(self.describe(&format!("expected a failing call, it returned {r}"))),
        }
    }

    pub fn ok(&self) -> Result<&Self, Failed> {
        if self.code == Some(0) {
            Ok(self)
        } else {
            Err(self.describe("expected exit 0"))
        }
    }

    pub fn describe(&self, what: &str) -> Failed {
        format!(
            "{what}: exit code {:?}, signal {:?}\nstdout: {}\nstderr: {}",
            self.code, self.signal, self.stdout, self.stderr
        )
        .into()
    }
}

/// Writes `profile` (a raw linux.seccomp object) and runs the probe with it.
pub fn probe(profile: &Value, args: &[&str]) -> Result<Run, Failed> {
    probe_with(profile, &[], args)
}

pub fn probe_with(profile: &Value, options: &[&str], args: &[&str]) -> Result<Run, Failed> {
    let dir = TempDir::new("profile")?;
    let file = dir.path().join("seccomp.json");
    std::fs::write(&file, serde_json::to_vec(profile).unwrap()).map_err(|e| e.to_string())?;
    run_probe(options, file.to_str().unwrap(), args)
}

/// Runs the probe with no filter at all: the host's own answer.
pub fn unfiltered(args: &[&str]) -> Result<Run, Failed> {
    run_probe(&[], "none", args)
}

fn run_probe(options: &[&str], profile: &str, args: &[&str]) -> Result<Run, Failed> {
    let child = Command::new(PROBE)
        .args(options)
        .arg(profile)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {PROBE}: {e}"))?;
    let pid = child.id();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok(Run::from(out, pid))
}

pub fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(msg().into())
    }
}

pub fn equal<T: PartialEq + std::fmt::Debug>(got: T, want: T, what: &str) -> Result<(), Failed> {
    check(got == want, || {
        format!("{what}: got {got:?}, want {want:?}")
    })
}

/// The kernel log, when this process may read it.
pub fn kernel_log() -> Option<String> {
    let out = Command::new("dmesg").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The kernel log once it shows `pid`'s record with `code`. Without auditd, kauditd prints
/// seccomp records asynchronously and in order, so a record that shows up also means all
/// earlier ones have. Waits at most 10 s for a record that should take microseconds:
/// `Ok(None)` when dmesg is unreadable, an error when the record never came.
pub fn kernel_log_with(pid: u32, code: &str) -> Result<Option<String>, Failed> {
    for _ in 0..1000 {
        let Some(log) = kernel_log() else {
            return Ok(None);
        };
        if logged(&log, pid, code) {
            return Ok(Some(log));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(format!("no seccomp audit record for pid {pid} with code={code} in the kernel log").into())
}

/// Whether the kernel log holds a seccomp audit record for `pid` with `code`.
pub fn logged(log: &str, pid: u32, code: &str) -> bool {
    let pid = format!(" pid={pid} ");
    let code = format!("code={code}");
    log.lines()
        .any(|l| l.contains("type=1326") && l.contains(&pid) && l.contains(&code))
}

/// Runs `getppid` under `profile` (a TRACE rule) with this thread as the tracer and
/// checks the value the kernel reports in the PTRACE_EVENT_SECCOMP stop.
pub fn traced_trace_value(profile: &Value, expected: u64) -> Result<(), Failed> {
    use nix::sys::ptrace;
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    use std::io::{Read, Write};

    let dir = TempDir::new("trace")?;
    let file = dir.path().join("seccomp.json");
    std::fs::write(&file, serde_json::to_vec(profile).unwrap()).map_err(|e| e.to_string())?;
    let mut child = Command::new(PROBE)
        .arg("--wait-stdin")
        .arg(&file)
        .args(["syscall", "getppid"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {PROBE}: {e}"))?;
    let pid = Pid::from_raw(child.id() as i32);
    // EXITKILL: should this test die, the kernel kills the tracee with it.
    let opts = ptrace::Options::PTRACE_O_TRACESECCOMP | ptrace::Options::PTRACE_O_EXITKILL;
    if let Err(e) = ptrace::seize(pid, opts) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("PTRACE_SEIZE: {e}").into());
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"g").map_err(|e| e.to_string())?;
    drop(stdin);

    let mut values = Vec::new();
    let end = loop {
        let status =
            waitpid(pid, Some(WaitPidFlag::__WALL)).map_err(|e| format!("waitpid: {e}"))?;
        let resumed = match status {
            WaitStatus::PtraceEvent(_, _, ev) if ev == libc::PTRACE_EVENT_SECCOMP => {
                values.push(ptrace::getevent(pid).map_err(|e| format!("PTRACE_GETEVENTMSG: {e}"))?);
                ptrace::cont(pid, None)
            }
            WaitStatus::PtraceEvent(..) => ptrace::cont(pid, None),
            WaitStatus::Stopped(_, sig) => ptrace::cont(pid, Some(sig)),
            other => break other,
        };
        resumed.map_err(|e| format!("PTRACE_CONT: {e}"))?;
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .map_err(|e| e.to_string())?;
    check(matches!(end, WaitStatus::Exited(_, 0)), || {
        format!("probe ended {end:?}: {out}")
    })?;
    equal(
        values,
        vec![expected as libc::c_long],
        "trace values seen by the tracer",
    )?;
    // The tracer let the call run: it returns the real parent pid.
    check(
        out.contains(&format!("ret={} errno=0", std::process::id())),
        || out.clone(),
    )
}
