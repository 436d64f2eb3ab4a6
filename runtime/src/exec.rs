//! `exec`: a new process inside a running (or created) container, joining all of its
//! namespaces and its cgroup, with the container's security settings unless the
//! process says otherwise.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Capabilities, Capability, Process};

use crate::container::{self, ContainerError};
use crate::process::channel::describe;
use crate::process::{exe, spawn, Bootstrap, FdKind, InitKind, Msg};
use crate::state::{ContainerDir, Status};
use crate::{cgroup, namespaces};

/// What `exec` was asked, flag for flag.
#[derive(Debug, Clone, Default)]
pub struct ExecOpts {
    pub root: PathBuf,
    pub id: String,
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub no_new_privs: bool,
    pub caps: Vec<String>,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub cgroup: Option<String>,
    pub ignore_paused: bool,
    pub relay_tty: bool,
    pub log_fd: Option<i32>,
    pub log_json: bool,
    pub debug: bool,
}

fn other(msg: impl Into<String>) -> ContainerError {
    ContainerError::Other(msg.into())
}

/// The process to run: process.json, or the container's own process changed by the flags.
pub fn build_process(opts: &ExecOpts, base: &Process) -> Result<Process, ContainerError> {
    let mut p = match &opts.process_file {
        Some(path) => read_process(path)?,
        None => {
            let mut p = base.clone();
            if opts.args.is_empty() {
                return Err(other("exec: a command is required (or --process FILE)"));
            }
            p.set_args(Some(opts.args.clone()));
            let mut env = p.env().clone().unwrap_or_default();
            env.extend(opts.env.iter().cloned());
            p.set_env(Some(env));
            if let Some(c) = &opts.cwd {
                p.set_cwd(c.clone());
            }
            p.set_terminal(Some(opts.tty));
            if let Some(u) = &opts.user {
                let (uid, gid) = u
                    .split_once(':')
                    .map(|(a, b)| (a, Some(b)))
                    .unwrap_or((u.as_str(), None));
                let mut user = p.user().clone();
                user.set_uid(
                    uid.parse()
                        .map_err(|_| other(format!("--user {u:?}: uid must be a number")))?,
                );
                if let Some(g) = gid {
                    user.set_gid(
                        g.parse()
                            .map_err(|_| other(format!("--user {u:?}: gid must be a number")))?,
                    );
                }
                p.set_user(user);
            }
            if !opts.additional_gids.is_empty() {
                let mut user = p.user().clone();
                user.set_additional_gids(Some(opts.additional_gids.clone()));
                p.set_user(user);
            }
            if !opts.caps.is_empty() {
                add_caps(&mut p, &opts.caps)?;
            }
            p
        }
    };
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &opts.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &opts.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if p.cwd().as_os_str().is_empty() {
        return Err(other("Cwd property must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(other(format!(
            "Cwd must be an absolute path (got {})",
            p.cwd().display()
        )));
    }
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(other("process.args must not be empty"));
    }
    Ok(p)
}

fn read_process(path: &Path) -> Result<Process, ContainerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| other(format!("--process {}: {e}", path.display())))?;
    let mut v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| other(format!("--process {}: invalid JSON: {e}", path.display())))?;
    // A process.json without cwd is reported as runc does, not as a parse error.
    if let Some(o) = v.as_object_mut() {
        o.entry("cwd")
            .or_insert_with(|| serde_json::Value::String(String::new()));
        o.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        other(format!(
            "--process {}: {}: {}",
            path.display(),
            e.path(),
            e.inner()
        ))
    })
}

fn add_caps(p: &mut Process, caps: &[String]) -> Result<(), ContainerError> {
    let mut c = p.capabilities().clone().unwrap_or_default();
    for name in caps {
        let cap: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
            .map_err(|_| other(format!("--cap {name:?}: unknown capability")))?;
        let add = |set: &Option<Capabilities>| {
            let mut s = set.clone().unwrap_or_default();
            s.insert(cap);
            Some(s)
        };
        c.set_bounding(add(c.bounding()));
        c.set_effective(add(c.effective()));
        c.set_permitted(add(c.permitted()));
        c.set_inheritable(add(c.inheritable()));
    }
    p.set_capabilities(Some(c));
    Ok(())
}

/// A started exec process.
pub struct Started {
    pub pid: i32,
    pub pty_master: Option<OwnedFd>,
}

pub fn exec(opts: &ExecOpts) -> Result<Started, ContainerError> {
    let (st, status) = {
        let dir = ContainerDir::open(&opts.root, &opts.id)?;
        let st = dir.load()?;
        let s = container::status(&dir, &st);
        (st, s)
        // The lock goes here: a long-running exec must not block kill or delete.
    };
    match status {
        Status::Stopped => return Err(other("cannot exec in a stopped container")),
        Status::Paused if !opts.ignore_paused => {
            return Err(other(
                "cannot exec in a paused container (use --ignore-paused to override)",
            ))
        }
        _ => {}
    }
    let base = st.config.process().clone().unwrap_or_default();
    let process = build_process(opts, &base)?;
    if process.terminal().unwrap_or(false) && opts.console_socket.is_none() && !opts.relay_tty {
        return Err(other(
            "cannot allocate tty if sangja will detach without setting console socket",
        ));
    }
    crate::security::lsm::check(&process)?;
    let mut spec = st.config.clone();
    spec.set_process(Some(process));
    let linux = spec.linux().clone().unwrap_or_default();
    let join: Vec<(String, PathBuf)> = {
        let mut list: Vec<_> = linux
            .namespaces()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|n| {
                (
                    namespaces::proc_name(n.typ()).to_string(),
                    PathBuf::from(format!(
                        "/proc/{}/ns/{}",
                        st.pid,
                        namespaces::proc_name(n.typ())
                    )),
                )
            })
            .collect();
        list.sort_by_key(|(t, _)| match t.as_str() {
            "user" => 0,
            "mnt" => 9,
            _ => 5,
        });
        list
    };
    let console = match &opts.console_socket {
        Some(p) => Some(container::connect_console(p)?),
        None => None,
    };
    let log_fd = match opts.log_fd {
        // SAFETY: the log descriptor stays open for the whole life of this process.
        Some(fd) => Some(
            nix::unistd::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
                .map_err(|e| other(format!("dup of the log: {e}")))?,
        ),
        None => None,
    };
    let exe = exe::protected_self_exe(&opts.root).map_err(|e| other(e.to_string()))?;
    let (stage1, mut chan) = spawn::spawn_init(&exe).map_err(|e| other(e.to_string()))?;
    drop(exe);
    let kill_stage1 = |e: ContainerError| {
        let _ = nix::sys::signal::kill(stage1, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(stage1, None);
        e
    };
    if let Some(mut cg) = cgroup::Cgroup::load(&st.cgroup) {
        cg.join(stage1.as_raw(), opts.cgroup.as_deref())
            .map_err(|e| kill_stage1(e.into()))?;
    }
    crate::crash::point("exec:cgroup-joined");
    let boot = Bootstrap {
        kind: InitKind::Exec,
        id: opts.id.clone(),
        bundle: st.bundle.clone(),
        rootfs: st.rootfs.clone(),
        spec: spec.clone(),
        no_pivot: false,
        no_new_keyring: true,
        preserve_fds: opts.preserve_fds,
        fifo_fd: None,
        console_fd: console.as_ref().map(|c| c.as_raw_fd()),
        log_fd: log_fd.as_ref().map(|f| f.as_raw_fd()),
        log_json: opts.log_json,
        debug: opts.debug,
        join,
        relay_tty: opts.relay_tty,
    };
    chan.send(&Msg::Bootstrap(Box::new(boot)))
        .map_err(|e| kill_stage1(other(e.to_string())))?;
    drop(console);
    drop(log_fd);
    let mut pid = 0;
    let mut pty_master = None;
    let fail = |pid: i32, e: ContainerError| {
        if pid > 0 {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        e
    };
    loop {
        let msg = match chan.recv() {
            Ok(m) => m,
            Err(e) => {
                return Err(fail(
                    pid,
                    other(format!("exec: the process exited during setup ({e})")),
                ))
            }
        };
        match msg {
            Msg::Child(p) => {
                let _ = waitpid(stage1, None);
                pid = p;
                crate::crash::point("exec:child-known");
                chan.send(&Msg::Go(String::new()))
                    .map_err(|e| fail(pid, other(e.to_string())))?;
            }
            Msg::Fd(FdKind::PtyMaster) => {
                let master = chan
                    .recv_fd()
                    .map_err(|e| fail(pid, other(e.to_string())))?;
                // Before the process runs: it must start with the caller's size.
                crate::foreground::give_callers_size(master.as_fd());
                pty_master = Some(master);
            }
            Msg::Fd(FdKind::SeccompListener) => {
                let fd = chan
                    .recv_fd()
                    .map_err(|e| fail(pid, other(e.to_string())))?;
                container::send_seccomp_listener(&linux, &st, fd.as_fd())
                    .map_err(|e| fail(pid, e))?;
            }
            Msg::Ready => {
                crate::crash::point("exec:ready");
                chan.send(&Msg::Ack(String::new()))
                    .map_err(|e| fail(pid, other(e.to_string())))?;
                break;
            }
            Msg::Error(e) => return Err(fail(pid, other(e))),
            m => {
                return Err(fail(
                    pid,
                    other(format!("exec: unexpected message {}", describe(&m))),
                ))
            }
        }
    }
    // The channel closes when the process execs (close-on-exec) or reports why it could not.
    match chan.recv() {
        Ok(Msg::Error(e)) => return Err(fail(pid, other(e))),
        Ok(m) => {
            return Err(fail(
                pid,
                other(format!("exec: unexpected message {}", describe(&m))),
            ))
        }
        Err(_) => {}
    }
    if let Some(p) = &opts.pid_file {
        container::write_pid_file(p, pid)?;
    }
    if let Some(p) = &opts.pidfd_socket {
        container::send_pidfd(p, pid)?;
    }
    Ok(Started { pid, pty_master })
}
