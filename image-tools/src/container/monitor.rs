//! The monitor of a detached container: what a daemon would do for it, in one small
//! process per container.
//!
//! [`spawn`] (in `run -d` and `start`) re-executes `sangja-image` as the hidden
//! `container-monitor` command in a new session (no fork that goes on running Rust: the
//! caller may have threads). The child inherits the container's owner lock (see
//! [`owner`](super::owner)) and a pipe on its stdout. [`main`] then:
//! 1. becomes a child subreaper, so the container's init, left by `runtime create`,
//!    becomes its child;
//! 2. runs `runtime create` with the container's stdio: stdout and stderr appended to
//!    `log`; stdin `/dev/null`, or with `-i` a pipe whose write end it keeps (the
//!    process never sees EOF); with a terminal (`-t`), a console socket instead, whose
//!    pty master it receives and keeps;
//! 3. runs `runtime start` and reports on the pipe: `{"ok":true}`, or the error (the
//!    caller cleans up and fails);
//! 4. copies the container's output (the terminal's, or its stdout and stderr pipes')
//!    to `log` and to the clients attached on `attach.sock` (see [`attach`]), reaps the
//!    init, and records the exit as a foreground `run` does ([`lifecycle::exited`]):
//!    runtime state deleted, exit status and time in the record, root unmounted, or
//!    everything removed with `--rm`; attached clients then get the exit status.
//!
//! The owner lock is let go when the monitor exits, so `stop` and `rm` know when the
//! exit is recorded.

use super::attach::{self, Hub, Stream};
use super::owner::Owner;
use super::record::{self, Containers, Record};
use super::runtime::{Create, RuntimeError, Status};
use super::{io_err, lifecycle, ContainerError};
use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The hidden subcommand.
pub const COMMAND: &str = "container-monitor";

/// The one line the monitor writes to its parent.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    ok: bool,
    /// The runtime could not start the process (create or start failed).
    #[serde(default)]
    start_failed: bool,
    #[serde(default)]
    message: String,
}

fn os_err(what: &str) -> impl FnOnce(nix::Error) -> ContainerError + '_ {
    move |e| io_err(what)(e.into())
}

/// Starts the container under a new monitor and returns once it runs (or failed to).
/// The monitor is the current executable, which must be `sangja-image` (it has the
/// hidden command).
/// `owner` is handed down (the caller's copy may then be dropped: see [`Owner`]).
pub fn spawn(containers: &Containers, rec: &Record, owner: &Owner) -> Result<(), ContainerError> {
    let dir = containers.path(&rec.id);
    let exe = std::env::current_exe().map_err(io_err("/proc/self/exe"))?;
    let store = containers.dir().parent().unwrap_or(Path::new("."));
    let store = std::path::absolute(store).map_err(io_err(store))?;
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(os_err("pipe"))?;
    let errors = dir.join("monitor.log");
    let errlog = open_append(&errors)?;
    let fd = owner.raw_fd();
    let mut cmd = Command::new(&exe);
    cmd.arg("--store")
        .arg(&store)
        .arg(COMMAND)
        .arg("--owner-fd")
        .arg(fd.to_string())
        .arg(&rec.id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(errlog))
        .current_dir("/");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(io_err(&exe))?;
    // Our copy of the pipe's write end goes with the command: EOF comes from the child.
    drop(cmd);
    let mut text = String::new();
    File::from(read)
        .read_to_string(&mut text)
        .map_err(io_err("the monitor's pipe"))?;
    let report: Option<Report> = text
        .lines()
        .next()
        .and_then(|l| serde_json::from_str(l).ok());
    if report.as_ref().is_some_and(|r| r.ok) {
        // It lives on, reparented once we exit; nothing waits for it here.
        return Ok(());
    }
    let _ = child.wait();
    Err(match report {
        Some(r) if r.start_failed => RuntimeError::Start {
            runtime: rec.runtime.clone(),
            message: r.message,
        }
        .into(),
        Some(r) => ContainerError::Monitor {
            id: rec.id.clone(),
            message: r.message,
        },
        None => ContainerError::Monitor {
            id: rec.id.clone(),
            message: format!(
                "it exited without a report: {}",
                std::fs::read_to_string(&errors).unwrap_or_default().trim()
            ),
        },
    })
}

fn open_append(path: &Path) -> Result<File, ContainerError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))
}

fn report(r: &Report) {
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string(r).expect("report serialises")
    );
    let _ = out.flush();
}

/// The monitor process (`sangja-image container-monitor --owner-fd N ID`). Returns the
/// process exit status.
pub fn main(store_root: &Path, id: &str, owner_fd: RawFd) -> i32 {
    // SAFETY: spawn() handed this descriptor down for this and nothing else uses it.
    let owner = match unsafe { Owner::inherited(owner_fd) } {
        Ok(o) => o,
        Err(e) => {
            report(&Report {
                ok: false,
                start_failed: false,
                message: e.to_string(),
            });
            return 1;
        }
    };
    let containers = Containers::new(store_root);
    let dir = containers.path(id);
    let hub = match Hub::new(&dir.join("log")) {
        Ok(h) => h,
        Err(e) => {
            report(&Report {
                ok: false,
                start_failed: false,
                message: e.to_string(),
            });
            return 1;
        }
    };
    // Without the socket the container still runs, only nobody can attach.
    if let Err(e) = hub.listen(&dir) {
        tracing::warn!(container = %id, error = %e, "attach socket");
    }
    let (rec, running) = match start(&containers, id, &hub) {
        Ok(r) => r,
        Err(e) => {
            let (start_failed, message) = match e {
                ContainerError::Runtime(RuntimeError::Start { message, .. }) => (true, message),
                e => (false, e.to_string()),
            };
            hub.close(&dir);
            report(&Report {
                ok: false,
                start_failed,
                message,
            });
            return 1;
        }
    };
    report(&Report {
        ok: true,
        start_failed: false,
        message: String::new(),
    });
    // The parent sees EOF: our stdout (the pipe) becomes /dev/null.
    if let Ok(null) = File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
    }
    let rt = lifecycle::runtime_of(&containers, &rec);
    let mut running = running;
    let mut rec = rec;
    let code = loop {
        let checker = super::health::spawn(&containers, &rec).unwrap_or_else(|e| {
            tracing::warn!(container = %rec.id, error = %e, "starting the health checker");
            None
        });
        let code = running.wait(&hub, || rt.status(&rec.id));
        drop(checker);
        // --restart: the same container again (same layer, same log), the count kept.
        let now = containers.load(&rec.id).unwrap_or_else(|_| rec.clone());
        if !now
            .restart()
            .restarts(code, now.restart_count, now.stop_requested)
        {
            break code;
        }
        match restart(&containers, now, code, &hub) {
            Ok((r, again)) => {
                rec = r;
                running = again;
            }
            Err(e) => {
                tracing::warn!(container = %rec.id, error = %e, "restarting");
                break code;
            }
        }
    };
    let status = match lifecycle::exited(&containers, &rec, code) {
        Ok(()) => 0,
        Err(e) => {
            tracing::warn!(container = %rec.id, error = %e, "recording the exit");
            1
        }
    };
    hub.exited(code.unwrap_or(-1));
    hub.close(&dir);
    drop(owner);
    status
}

/// The exit kept, the runtime's state gone, then create + start again after docker's
/// back-off (100ms doubling, at most a minute; a stop meanwhile wins).
fn restart(
    containers: &Containers,
    mut rec: Record,
    code: Option<i32>,
    hub: &Arc<Hub>,
) -> Result<(Record, Running), ContainerError> {
    let rt = lifecycle::runtime_of(containers, &rec);
    rt.delete(&rec.id)?;
    rec.exit_code = code;
    rec.finished_at = Some(record::now());
    rec.restart_count += 1;
    containers.save(&rec)?;
    let delay =
        Duration::from_millis(100u64 << rec.restart_count.min(10)).min(Duration::from_secs(60));
    std::thread::sleep(delay);
    let now = containers.load(&rec.id)?;
    if now.stop_requested {
        return Err(ContainerError::NotRunning(rec.id.clone()));
    }
    start(containers, &rec.id, hub)
}

/// A started container, as the monitor holds it.
struct Running {
    init: Pid,
    /// The pty master (`-t`), or the read ends of its stdout and stderr pipes.
    output: Vec<(File, Stream)>,
    /// The write end of stdin (`-i` without `-t`), kept open until the exit.
    _stdin: Option<OwnedFd>,
}

/// create + start, with this process as the init's reaper.
fn start(
    containers: &Containers,
    id: &str,
    hub: &Arc<Hub>,
) -> Result<(Record, Running), ContainerError> {
    let mut rec = containers.load(id)?;
    let dir = containers.path(id);
    let rt = lifecycle::runtime_of(containers, &rec);
    std::fs::create_dir_all(&rt.root).map_err(io_err(&rt.root))?;
    // SAFETY: a plain prctl on this process.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(io_err("prctl(PR_SET_CHILD_SUBREAPER)")(
            io::Error::last_os_error(),
        ));
    }
    let config = dir.join("config.json");
    let spec: serde_json::Value = std::fs::read(&config)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    let terminal = spec["process"]["terminal"].as_bool().unwrap_or(false);
    let rt_log = dir.join("runtime.log");
    let pid_file = dir.join("init.pid");
    for stale in [&rt_log, &pid_file] {
        let _ = std::fs::remove_file(stale);
    }
    let console = if terminal {
        Some(ConsoleSocket::bind(id)?)
    } else {
        None
    };
    let mut keep_stdin = None;
    let mut output = Vec::new();
    let stdio = if terminal {
        [Stdio::null(), Stdio::null(), Stdio::null()]
    } else {
        let stdin = if rec.interactive {
            let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(os_err("pipe"))?;
            keep_stdin = Some(w);
            Stdio::from(r)
        } else {
            Stdio::null()
        };
        // Pipes, not the log itself: the monitor copies to the log and to attached
        // clients.
        let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(os_err("pipe"))?;
        let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(os_err("pipe"))?;
        output.push((File::from(out_r), Stream::Stdout));
        output.push((File::from(err_r), Stream::Stderr));
        [stdin, Stdio::from(out_w), Stdio::from(err_w)]
    };
    let created = rt.create(
        Create {
            bundle: &dir,
            id,
            pid_file: &pid_file,
            console: console.as_ref().map(|c| c.path.as_path()),
            log: &rt_log,
        },
        stdio,
    );
    if let Err(e) = created {
        // What the runtime wrote on the way (its write ends are closed now).
        for (f, stream) in output {
            attach::copy_output(f, stream, hub);
        }
        return Err(e.into());
    }
    let master = console.map(|c| c.receive()).transpose()?;
    let init = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .ok_or_else(|| ContainerError::Monitor {
            id: id.to_string(),
            message: format!("no init pid in {}", pid_file.display()),
        })?;
    let clone = |f: &File| f.try_clone().ok();
    let input = match (&master, &keep_stdin) {
        (Some(m), _) => clone(m),
        (None, Some(w)) => w.try_clone().ok().map(File::from),
        (None, None) => None,
    };
    hub.set_process(init, input, master.as_ref().and_then(clone));
    if let Some(m) = master {
        output.push((m, Stream::Stdout));
    }
    rt.start(id, &rt_log)?;
    rec.started_at = Some(record::now());
    containers.save(&rec)?;
    Ok((
        rec,
        Running {
            init: Pid::from_raw(init),
            output,
            _stdin: keep_stdin,
        },
    ))
}

impl Running {
    /// Copies the output to the hub while it reaps the init, then lets the copies finish
    /// (every holder of the terminal or the pipes is gone with the container's PID
    /// namespace; a process outside it is not waited for long): the init's exit status
    /// (128+signal when killed), `None` if it was not ours to reap.
    fn wait(self, hub: &Arc<Hub>, status: impl Fn() -> Status) -> Option<i32> {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let copies = self.output.len();
        for (f, stream) in self.output {
            let hub = Arc::clone(hub);
            let done = done_tx.clone();
            std::thread::spawn(move || {
                attach::copy_output(f, stream, &hub);
                let _ = done.send(());
            });
        }
        let code = Self::reap(self.init, status);
        for _ in 0..copies {
            if done_rx.recv_timeout(Duration::from_secs(5)).is_err() {
                break;
            }
        }
        code
    }

    fn reap(init: Pid, status: impl Fn() -> Status) -> Option<i32> {
        loop {
            match waitpid(Pid::from_raw(-1), None) {
                Ok(WaitStatus::Exited(pid, code)) if pid == init => return Some(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                    return Some(128 + sig as i32)
                }
                Ok(_) | Err(nix::Error::EINTR) => {}
                // Not our child after all (another reaper took it): wait for the runtime
                // to see it stop.
                Err(_) => {
                    while matches!(status(), Status::Running | Status::Paused) {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    return None;
                }
            }
        }
    }
}

/// The socket a runtime sends a container's pty master to (`--console-socket`), in a
/// private directory under /tmp: a container directory's path can be longer than a
/// socket address allows.
struct ConsoleSocket {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    fn bind(id: &str) -> Result<ConsoleSocket, ContainerError> {
        let template = std::env::temp_dir().join(format!("sangja-image-{}-XXXXXX", &id[..12]));
        let dir = nix::unistd::mkdtemp(&template).map_err(os_err("mkdtemp"))?;
        let path = dir.join("console.sock");
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(io_err(&path)(e));
            }
        };
        Ok(ConsoleSocket {
            dir,
            path,
            listener,
        })
    }

    /// The master the runtime sent during `create` (queued: `create` has returned).
    fn receive(self) -> Result<File, ContainerError> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
        let err = |e: io::Error| io_err(&self.path)(e);
        self.listener.set_nonblocking(true).map_err(err)?;
        let (stream, _) = self.listener.accept().map_err(|e| {
            err(io::Error::new(
                e.kind(),
                format!("the runtime sent no terminal: {e}"),
            ))
        })?;
        let mut buf = [0u8; 4096];
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| err(e.into()))?;
        let mut master = None;
        for c in msg.cmsgs().map_err(|e| err(e.into()))? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: received just now; ours alone.
                    let f = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                    master.get_or_insert(f);
                }
            }
        }
        let master = master.ok_or_else(|| {
            err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the runtime's console message carried no descriptor",
            ))
        })?;
        default_size(&master);
        Ok(master)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 24x80 for a terminal nobody has sized (docker sizes it from the client's).
fn default_size(master: &File) {
    // SAFETY: winsize ioctls on a descriptor we own, into a local struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(master.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row == 0 {
            ws.ws_row = 24;
            ws.ws_col = 80;
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines() {
        let r: Report = serde_json::from_str(r#"{"ok":true}"#).unwrap();
        assert!(r.ok && !r.start_failed);
        let r: Report =
            serde_json::from_str(r#"{"ok":false,"start_failed":true,"message":"m"}"#).unwrap();
        assert!(!r.ok && r.start_failed && r.message == "m");
    }
}
