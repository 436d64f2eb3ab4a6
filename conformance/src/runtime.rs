//! Running a runtime binary (runc's command line) with a private `--root`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one runtime command may take before the harness kills it. A hang
/// is a failure to report, never a time the cases measure.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot start runtime {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create output file {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("waiting for {path} failed: {source}")]
    Wait {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A runtime under test: a column of the table.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub name: String,
    pub path: PathBuf,
}

impl Runtime {
    /// `NAME=PATH`, or a bare path named after its file name.
    pub fn parse(spec: &str) -> Runtime {
        match spec.split_once('=') {
            Some((name, path)) if !name.contains('/') => Runtime {
                name: name.to_string(),
                path: PathBuf::from(path),
            },
            _ => Runtime {
                name: Path::new(spec)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| spec.to_string()),
                path: PathBuf::from(spec),
            },
        }
    }
}

/// What one command did.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit code, or 128 + signal; `None` when the harness killed it at the deadline.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub command: String,
}

impl CmdOutput {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// One line for a failure message: the subcommand, the exit code and the
    /// runtime's own error (the `msg` of a logrus/json log line when it has one).
    pub fn describe(&self) -> String {
        let code = self
            .code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "killed at deadline".into());
        let verb = self
            .command
            .split_whitespace()
            .nth(3)
            .unwrap_or(self.command.as_str());
        format!("`{verb}` exit {code}: {}", error_message(&self.stderr))
    }
}

/// The last error a runtime printed: the `msg="..."` of runc-style text logs,
/// the `"msg"` of JSON logs, else the last non-empty line.
pub fn error_message(stderr: &str) -> String {
    let mut lines = stderr.lines().rev().filter(|l| !l.trim().is_empty());
    let line = lines
        .clone()
        .find(|l| l.to_lowercase().contains("error"))
        .or_else(|| lines.next())
        .unwrap_or("")
        .trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        if let Some(m) = v["msg"].as_str() {
            return m.to_string();
        }
    }
    if let Some(i) = line.find("msg=\"") {
        let rest = &line[i + 5..];
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '"' => return out,
                _ => out.push(c),
            }
        }
        return out;
    }
    line.to_string()
}

/// Runs `runtime --root <root> <args>` with stdin from /dev/null and stdout and
/// stderr in files under `scratch` (a container started by the command may
/// keep them open, so pipes could never reach EOF). `stdin` feeds a file instead.
pub fn run(
    runtime: &Runtime,
    root: &Path,
    args: &[&str],
    scratch: &Path,
    stdin: Option<&Path>,
) -> Result<CmdOutput, RuntimeError> {
    run_inheriting(runtime, root, args, scratch, stdin, None)
}

/// What the runtime process inherits from its caller, for cases about values
/// the spec says a runtime must leave as it found them.
#[derive(Debug, Clone, Copy)]
pub struct Inherited {
    pub umask: u32,
    pub oom_score_adj: i32,
}

/// Like `run`, started through /bin/sh that first sets the umask and
/// oom_score_adj the runtime then inherits (raising oom_score_adj needs no
/// privilege, and only that child is affected).
pub fn run_inheriting(
    runtime: &Runtime,
    root: &Path,
    args: &[&str],
    scratch: &Path,
    stdin: Option<&Path>,
    inherited: Option<Inherited>,
) -> Result<CmdOutput, RuntimeError> {
    let launch = match inherited {
        None => Launch::Direct,
        Some(i) => Launch::Inheriting(i),
    };
    run_launched(runtime, root, args, scratch, stdin, launch)
}

/// The descriptor number at which `run_holding_dir` leaves a host directory open
/// (where runc 1.1.11 leaked its /sys/fs/cgroup handle).
pub const HELD_FD: u32 = 7;

/// Like `run`, the runtime started holding `dir` open at descriptor [`HELD_FD`],
/// not close-on-exec: a host directory leaked by the caller (or by a runtime bug),
/// the CVE-2024-21626 class. Nothing not passed with --preserve-fds may reach the
/// container, and no cwd may lead through it.
pub fn run_holding_dir(
    runtime: &Runtime,
    root: &Path,
    args: &[&str],
    scratch: &Path,
    dir: &Path,
) -> Result<CmdOutput, RuntimeError> {
    run_launched(runtime, root, args, scratch, None, Launch::HoldingDir(dir))
}

/// How the runtime process is started.
enum Launch<'a> {
    Direct,
    Inheriting(Inherited),
    HoldingDir(&'a Path),
}

fn run_launched(
    runtime: &Runtime,
    root: &Path,
    args: &[&str],
    scratch: &Path,
    stdin: Option<&Path>,
    launch: Launch,
) -> Result<CmdOutput, RuntimeError> {
    let stamp = format!(
        "{}-{}",
        args.first().copied().unwrap_or("cmd"),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let out_path = scratch.join(format!("{stamp}.stdout"));
    let err_path = scratch.join(format!("{stamp}.stderr"));
    let mk = |p: &Path| {
        File::create(p).map_err(|source| RuntimeError::Output {
            path: p.to_path_buf(),
            source,
        })
    };
    let out_file = mk(&out_path)?;
    let err_file = mk(&err_path)?;
    let stdin = match stdin {
        Some(p) => Stdio::from(File::open(p).map_err(|source| RuntimeError::Output {
            path: p.to_path_buf(),
            source,
        })?),
        None => Stdio::null(),
    };
    let mut cmd = match launch {
        Launch::Direct => Command::new(&runtime.path),
        Launch::Inheriting(i) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!(
                    "umask {:o} && echo {} > /proc/self/oom_score_adj && exec \"$@\"",
                    i.umask, i.oom_score_adj
                ))
                .arg("sh")
                .arg(&runtime.path);
            c
        }
        Launch::HoldingDir(dir) => {
            // A shell redirection on exec leaves the descriptor open across it.
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!("d=$1; shift; exec \"$@\" {HELD_FD}<\"$d\""))
                .arg("sh")
                .arg(dir)
                .arg(&runtime.path);
            c
        }
    };
    cmd.arg("--root").arg(root).args(args);
    cmd.stdin(stdin).stdout(out_file).stderr(err_file);
    let command = format!(
        "{} --root {} {}",
        runtime.name,
        root.display(),
        args.join(" ")
    );
    tracing_free_debug(&command);
    let mut child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
        path: runtime.path.clone(),
        source,
    })?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if started.elapsed() > COMMAND_DEADLINE => {
                // Our own child, by its handle (its PID).
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(source) => {
                return Err(RuntimeError::Wait {
                    path: runtime.path.clone(),
                    source,
                })
            }
        }
    };
    let code = status.and_then(|st| {
        use std::os::unix::process::ExitStatusExt;
        st.code().or_else(|| st.signal().map(|s| 128 + s))
    });
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let out = CmdOutput {
        code,
        stdout: read(&out_path),
        stderr: read(&err_path),
        command,
    };
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    Ok(out)
}

/// Prints the command when SANGJA_CONFORMANCE_DEBUG is set (the driver has no
/// logging subscriber: its output is the table).
fn tracing_free_debug(command: &str) {
    if std::env::var_os("SANGJA_CONFORMANCE_DEBUG").is_some() {
        eprintln!("+ {command}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_error_messages() {
        assert_eq!(
            error_message("time=\"x\" level=error msg=\"exec: \\\"/x\\\": not found\"\n"),
            "exec: \"/x\": not found"
        );
        assert_eq!(
            error_message("{\"level\":\"error\",\"msg\":\"boom\"}\n"),
            "boom"
        );
        assert_eq!(error_message("a\nplain error\n\n"), "plain error");
        assert_eq!(
            error_message(
                "error: unrecognized subcommand 'exec'\n\nFor more information, try '--help'.\n"
            ),
            "error: unrecognized subcommand 'exec'"
        );
        assert_eq!(error_message("only line\n"), "only line");
    }

    #[test]
    fn parses_named_and_bare_runtimes() {
        let r = Runtime::parse("runc=/usr/sbin/runc");
        assert_eq!(
            (r.name.as_str(), r.path.as_path()),
            ("runc", Path::new("/usr/sbin/runc"))
        );
        let r = Runtime::parse("/work/main/target/release/sangja");
        assert_eq!(r.name, "sangja");
    }

    #[test]
    fn captures_output_and_exit_code() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sc-rt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("fake-runtime");
        std::fs::write(&script, "#!/bin/sh\necho \"$@\"\necho err >&2\nexit 3\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let rt = Runtime::parse(&format!("fake={}", script.display()));
        let out = run(&rt, Path::new("/r"), &["state", "x"], &dir, None);
        std::fs::remove_dir_all(&dir).unwrap();
        let out = out.unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "--root /r state x\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn holds_a_directory_open_for_the_runtime() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sc-rt-held-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("fake-runtime");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nreadlink /proc/self/fd/{HELD_FD}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let rt = Runtime::parse(&format!("fake={}", script.display()));
        let out = run_holding_dir(&rt, Path::new("/r"), &["state", "x"], &dir, &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.unwrap().stdout.trim(), dir.to_string_lossy());
    }
}
