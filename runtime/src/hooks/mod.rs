//! OCI hooks: each run with the state JSON on stdin, its own args and env, and its timeout.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::{Hook, Hooks};

mod spawn;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook #{index} ({path}): {msg}")]
    Failed {
        kind: &'static str,
        index: usize,
        path: String,
        msg: String,
    },
    #[error("hooks.{kind}[{index}].path: {msg}")]
    Invalid {
        kind: &'static str,
        index: usize,
        msg: String,
    },
}

/// The lifecycle points hooks run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    pub fn all() -> [Kind; 6] {
        [
            Kind::Prestart,
            Kind::CreateRuntime,
            Kind::CreateContainer,
            Kind::StartContainer,
            Kind::Poststart,
            Kind::Poststop,
        ]
    }

    pub fn list(self, hooks: &Hooks) -> &[Hook] {
        let v = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        v.as_deref().unwrap_or_default()
    }
}

/// The hooks of `kind` in `spec`.
pub fn of(spec: &oci_spec::runtime::Spec, kind: Kind) -> Vec<Hook> {
    spec.hooks()
        .as_ref()
        .map(|h| kind.list(h).to_vec())
        .unwrap_or_default()
}

/// Checks every hook path is absolute; the runtime-namespace ones must also exist and be
/// executable (the container-namespace ones are looked up inside the container).
pub fn validate(spec: &oci_spec::runtime::Spec) -> Result<(), HookError> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    for kind in Kind::all() {
        for (index, h) in kind.list(hooks).iter().enumerate() {
            let p = h.path();
            if !p.is_absolute() {
                return Err(HookError::Invalid {
                    kind: kind.name(),
                    index,
                    msg: format!("{} is not an absolute path", p.display()),
                });
            }
            if let Some(t) = h.timeout() {
                if t <= 0 {
                    return Err(HookError::Invalid {
                        kind: kind.name(),
                        index,
                        msg: format!("timeout {t} must be positive"),
                    });
                }
            }
            if matches!(kind, Kind::CreateContainer | Kind::StartContainer) {
                continue;
            }
            if let Err(msg) = executable(p) {
                return Err(HookError::Invalid {
                    kind: kind.name(),
                    index,
                    msg,
                });
            }
        }
    }
    Ok(())
}

fn executable(p: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if !m.is_file() || m.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not an executable file", p.display()));
    }
    Ok(())
}

/// Runs every hook of `kind` in order; the first failure stops the rest.
pub fn run_all(kind: Kind, hooks: &[Hook], state_json: &str) -> Result<(), HookError> {
    for (index, h) in hooks.iter().enumerate() {
        run_one(h, state_json).map_err(|msg| HookError::Failed {
            kind: kind.name(),
            index,
            path: h.path().display().to_string(),
            msg,
        })?;
    }
    Ok(())
}

/// Runs every hook, logging failures as warnings (poststart, poststop).
pub fn run_all_warn(kind: Kind, hooks: &[Hook], state_json: &str) {
    for (index, h) in hooks.iter().enumerate() {
        if let Err(msg) = run_one(h, state_json) {
            tracing::warn!(
                "{} hook #{index} ({}): {msg}",
                kind.name(),
                h.path().display()
            );
        }
    }
}

fn run_one(h: &Hook, state_json: &str) -> Result<(), String> {
    let mut child = spawn::spawn(h)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = h
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let timed_out = || {
        format!(
            "ran past its timeout of {}s and was killed",
            h.timeout().unwrap_or(0)
        )
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    while stdout.is_some() || stderr.is_some() {
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    child.kill();
                    return Err(timed_out());
                }
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = Vec::new();
        if let Some(o) = &stdout {
            fds.push(PollFd::new(o.as_fd(), PollFlags::POLLIN));
        }
        if let Some(e) = &stderr {
            fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, wait) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("waiting for output: {e}")),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut i = 0;
        if stdout.is_some() {
            if ready[i] && drain(&mut stdout, &mut out) {
                stdout = None;
            }
            i += 1;
        }
        if stderr.is_some() && ready[i] && drain(&mut stderr, &mut err) {
            stderr = None;
        }
    }
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            child.kill();
            return Err(timed_out());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let Some(status) = spawn::describe(status) else {
        return Ok(());
    };
    Err(format!(
        "{status}, stdout: {}, stderr: {}",
        String::from_utf8_lossy(&out).trim(),
        String::from_utf8_lossy(&err).trim()
    ))
}

/// Reads what is available; true at end of file.
fn drain<R: Read>(r: &mut Option<R>, buf: &mut Vec<u8>) -> bool {
    let Some(reader) = r else { return true };
    let mut chunk = [0u8; 4096];
    match reader.read(&mut chunk) {
        Ok(0) => true,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => false,
        Err(_) => true,
    }
}
