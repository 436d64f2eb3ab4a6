//! Running host commands (ctr, podman, umoci, skopeo) with captured output.
//!
//! Every command gets a generous guard deadline: a hung client must fail its flow
//! instead of hanging `make test`. The deadline is a hang guard, never an assertion
//! about speed: it is minutes, far above any normal run.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single client command may take before it counts as hung.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// The guard for cleanup after a failure and for processes expected to be gone
/// already: shorter, so a badly broken runtime fails the suite in minutes, not hours.
pub const CLEANUP_GUARD: Duration = Duration::from_secs(15);

/// What a finished command left behind.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The command line, for messages.
    pub line: String,
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Requires exit status 0; the error quotes everything the command said.
    pub fn ok(self) -> Result<Outcome> {
        if !self.success() {
            bail!("{}", self.describe("failed"));
        }
        Ok(self)
    }

    /// Requires a failure; returns the outcome for checks on the message.
    pub fn failed(self) -> Result<Outcome> {
        if self.success() {
            bail!("{}", self.describe("succeeded but should have failed"));
        }
        Ok(self)
    }

    /// Requires this exact exit code.
    pub fn code_is(self, want: i32) -> Result<Outcome> {
        if self.code != Some(want) {
            bail!("{}", self.describe(&format!("exit code expected {want}")));
        }
        Ok(self)
    }

    pub fn describe(&self, what: &str) -> String {
        format!(
            "`{}` {what} (exit {:?})\n--- stdout:\n{}\n--- stderr:\n{}",
            self.line, self.code, self.stdout, self.stderr
        )
    }
}

/// A readable command line for messages.
pub fn line_of(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs to completion with stdin closed, capturing stdout and stderr.
pub fn run(cmd: &mut Command) -> Result<Outcome> {
    run_within(cmd, HANG_GUARD)
}

/// `run` with its own hang guard.
pub fn run_within(cmd: &mut Command, guard: Duration) -> Result<Outcome> {
    let line = line_of(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn `{line}`"))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_within(&mut child, &line, guard)?;
    Ok(Outcome {
        line,
        code: status.code(),
        stdout: join_reader(out),
        stderr: join_reader(err),
    })
}

/// Runs and requires success.
pub fn ok(cmd: &mut Command) -> Result<Outcome> {
    run(cmd)?.ok()
}

type Reader = thread::JoinHandle<String>;

/// Reads a pipe to its end on a thread, so a chatty child never blocks on a full pipe.
pub fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Option<Reader> {
    pipe.map(|mut p| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    })
}

fn join_reader(r: Option<Reader>) -> String {
    r.and_then(|h| h.join().ok()).unwrap_or_default()
}

/// Waits for a child we spawned; past the hang guard it is killed (by its own PID)
/// and the wait fails.
pub fn wait_guarded(child: &mut Child, line: &str) -> Result<ExitStatus> {
    wait_within(child, line, HANG_GUARD)
}

/// `wait_guarded` with its own guard.
pub fn wait_within(child: &mut Child, line: &str, guard: Duration) -> Result<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > guard {
            let _ = child.kill();
            let _ = child.wait();
            return Err(anyhow!(
                "`{line}` still running after {guard:?}: killed (pid {})",
                child.id()
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `probe` until it yields a value, up to the hang guard. For waiting on
/// asynchronous effects (a task reaching STOPPED, a shim exiting), not for timing.
pub fn wait_for<T>(what: &str, probe: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    wait_for_within(what, HANG_GUARD, probe)
}

/// `wait_for` with its own guard.
pub fn wait_for_within<T>(
    what: &str,
    guard: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut last_err = None;
    loop {
        match probe() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() > guard {
            return Err(match last_err {
                Some(e) => e.context(format!("gave up waiting for {what}")),
                None => anyhow!("gave up waiting for {what} after {guard:?}"),
            });
        }
        thread::sleep(Duration::from_millis(20));
    }
}
