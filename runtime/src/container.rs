//! The lifecycle operations behind the commands: create, start, state, kill, delete, run.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::hooks::{self, Kind};
use crate::process::channel::{describe, Channel};
use crate::process::{exe, spawn, Bootstrap, FdKind, InitKind, Msg};
use crate::state::{self, ContainerDir, OciState, State, StateError, Status};
use crate::{cgroup, namespaces, spec};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Ns(#[from] namespaces::NsError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error("container not running")]
    NotRunning,
    #[error("cannot start a container that has stopped")]
    StartStopped,
    #[error("cannot start an already running container")]
    StartRunning,
    #[error("cannot start a container in the {0} state")]
    StartInState(Status),
    #[error("cannot delete container {0} that is not stopped: {1}")]
    DeleteNotStopped(String, Status),
    #[error("{0}")]
    Other(String),
}

fn other(msg: impl Into<String>) -> ContainerError {
    ContainerError::Other(msg.into())
}

/// What `create` (and `run`) were asked.
#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Descriptors 3.. passed on to the process, after the LISTEN_FDS ones.
    pub preserve_fds: u32,
    /// Socket activation: LISTEN_FDS descriptors (from 3 on) meant for this runtime
    /// (LISTEN_PID is ours), passed to the container's process, which is told of them.
    pub listen_fds: u32,
    pub log_fd: Option<RawFd>,
    pub log_json: bool,
    pub debug: bool,
    pub systemd_cgroup: bool,
    /// Rootless mode: without a cgroup it may create, the container stays in the caller's.
    pub rootless: bool,
    /// `run` in the foreground with a terminal and no console socket: we relay the pty.
    pub relay_tty: bool,
    pub pidfd_socket: Option<PathBuf>,
}

/// A container that has just been created, still locked by this process.
pub struct Created {
    pub dir: ContainerDir,
    pub state: State,
    pub pty_master: Option<OwnedFd>,
}

/// Undoes a half-made container if create fails: processes, cgroups, the state folder.
struct Cleanup {
    pids: Vec<Pid>,
    cgroup: Option<cgroup::Cgroup>,
    dir: Option<PathBuf>,
    /// Once the container process exists, a failed create goes on with the lifecycle at
    /// delete, as the spec says: poststop hooks run with this state.
    poststop: Option<(Vec<oci_spec::runtime::Hook>, String)>,
    /// Devices moved into the container, to give back if create fails.
    net_devices: Vec<(String, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in self.pids.drain(..) {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                tracing::warn!("cleaning up after a failed create: {e}");
            }
        }
        if let Some(d) = self.dir.take() {
            if let Err(e) =
                crate::netdev::move_out(&self.net_devices, &crate::netdev::netns_keeper(&d))
            {
                tracing::warn!("cleaning up after a failed create: {e}");
            }
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some((hooks, state)) = self.poststop.take() {
            hooks::run_all_warn(Kind::Poststop, &hooks, &state);
        }
    }
}

fn abs(p: &Path) -> Result<PathBuf, ContainerError> {
    std::path::absolute(p).map_err(|e| other(format!("{}: {e}", p.display())))
}

/// Socket activation as runc does it: the process finds the LISTEN_FDS descriptors from 3
/// on, and LISTEN_FDS=N and LISTEN_PID=1 (the init's pid) in its environment. Only the
/// init's copy of the spec says so; `exec` starts from the bundle's environment.
fn announce_listen_fds(spec: &oci_spec::runtime::Spec, n: u32) -> oci_spec::runtime::Spec {
    let mut spec = spec.clone();
    if n == 0 {
        return spec;
    }
    if let Some(p) = spec.process_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        env.push(format!("LISTEN_FDS={n}"));
        env.push("LISTEN_PID=1".to_string());
        p.set_env(Some(env));
    }
    spec
}

pub fn create(opts: &CreateOpts) -> Result<Created, ContainerError> {
    state::validate_id(&opts.id)?;
    let bundle = abs(&opts.bundle)?;
    let spec = spec::load(&bundle)?;
    spec::validate(&spec, &bundle, true)?;
    hooks::validate(&spec)?;
    let linux = spec.linux().clone().unwrap_or_default();
    namespaces::check_paths(linux.namespaces().as_deref().unwrap_or_default())?;
    namespaces::check_mappings(
        "uidMappings",
        linux.uid_mappings().as_deref().unwrap_or_default(),
    )?;
    namespaces::check_mappings(
        "gidMappings",
        linux.gid_mappings().as_deref().unwrap_or_default(),
    )?;
    let net_devices = net_devices(&linux)?;
    if let Some(s) = linux.seccomp() {
        // Compiled here too so a bad profile fails before anything is created.
        sangja_seccomp::compile(s).map_err(|e| other(e.to_string()))?;
    }
    let process = spec.process().clone().unwrap_or_default();
    crate::security::lsm::check(&process)?;
    if process.terminal().unwrap_or(false) && opts.console_socket.is_none() && !opts.relay_tty {
        return Err(other(
            "cannot allocate tty if sangja will detach without setting console socket",
        ));
    }
    let rootfs = spec::rootfs_path(
        &bundle,
        spec.root()
            .as_ref()
            .map(|r| r.path().as_path())
            .unwrap_or(Path::new("rootfs")),
    );
    let rootfs = rootfs
        .canonicalize()
        .map_err(|e| other(format!("root.path {}: {e}", rootfs.display())))?;
    // Relative bind-mount sources are taken against the bundle, as runc does.
    std::env::set_current_dir(&bundle)
        .map_err(|e| other(format!("chdir {}: {e}", bundle.display())))?;

    let root = abs(&opts.root)?;
    let dir = ContainerDir::create(&root, &opts.id)?;
    let mut cleanup = Cleanup {
        pids: Vec::new(),
        cgroup: None,
        dir: Some(dir.path.clone()),
        poststop: None,
        net_devices: Vec::new(),
    };
    // Saved at once and after every step that leaves something on the host, so a create
    // killed anywhere leaves a record `delete --force` can undo (pid 0 reads as stopped).
    let mut st = State {
        id: opts.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: state::now_rfc3339(),
        owner: String::new(),
        config: spec.clone(),
        cgroup: serde_json::Value::Null,
        net_devices: Vec::new(),
        ready: false,
    };
    dir.save(&st)?;
    crate::crash::point("create:dir-made");

    let fifo_path = dir.fifo_path();
    nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|e| other(format!("mkfifo {}: {e}", fifo_path.display())))?;
    // Any container user must be able to open it for writing: 0622 whatever our umask.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(|e| other(format!("chmod {}: {e}", fifo_path.display())))?;
    let (root_uid, root_gid) = host_root_ids(&linux);
    let _ = nix::unistd::chown(&fifo_path, Some(root_uid.into()), Some(root_gid.into()));
    // Inherited by the init (not close-on-exec); it reopens it for writing after setup.
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(&fifo_path)
        .map_err(|e| other(format!("opening {}: {e}", fifo_path.display())))?;
    inheritable(&fifo);
    let console = match &opts.console_socket {
        Some(p) => Some(connect_console(p)?),
        None => None,
    };
    let log_fd = match opts.log_fd {
        Some(fd) => Some(
            nix::unistd::dup(unsafe_borrow(fd))
                .map_err(|e| other(format!("dup of the log: {e}")))?,
        ),
        None => None,
    };
    let exe = exe::protected_self_exe(&root).map_err(|e| other(e.to_string()))?;

    let cg = cgroup::Cgroup::new(&spec, &opts.id, opts.systemd_cgroup, opts.rootless)?;
    let (stage1, mut chan) = spawn::spawn_init(&exe).map_err(|e| other(e.to_string()))?;
    drop(exe);
    cleanup.pids.push(stage1);
    // Owned by the cleanup before it is made, so a limit the kernel refuses leaves no cgroup.
    cleanup.cgroup = Some(cg);
    let boot = Bootstrap {
        kind: InitKind::Create,
        id: opts.id.clone(),
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        spec: announce_listen_fds(&spec, opts.listen_fds),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.listen_fds + opts.preserve_fds,
        fifo_fd: Some(fifo.as_raw_fd()),
        console_fd: console.as_ref().map(|c| c.as_raw_fd()),
        log_fd: log_fd.as_ref().map(|f| f.as_raw_fd()),
        log_json: opts.log_json,
        debug: opts.debug,
        join: Vec::new(),
        relay_tty: opts.relay_tty,
    };
    chan.send(&Msg::Bootstrap(Box::new(boot)))
        .map_err(|e| other(e.to_string()))?;
    drop(fifo);
    drop(console);
    drop(log_fd);
    crate::crash::point("create:bootstrap-sent");
    // Made and limited while stage 1 starts up and makes the namespaces, off the path
    // to the container's first step; the init joins it once cloned (Msg::Child).
    let cg = cleanup.cgroup.as_mut().expect("set before the bootstrap");
    let prepared = cg.prepare();
    if !rootless_tolerated(prepared, cg, opts.rootless)? {
        if let Some(cg) = cleanup.cgroup.take() {
            let _ = cg.destroy();
        }
    }
    save_cgroup(&mut st, &cleanup.cgroup);
    dir.save(&st)?;
    crate::crash::point("create:cgroup-applied");

    let mut pty_master = None;
    let maps = (
        linux.uid_mappings().clone().unwrap_or_default(),
        linux.gid_mappings().clone().unwrap_or_default(),
    );
    loop {
        let msg = match chan.recv() {
            Ok(m) => m,
            Err(e) => {
                return Err(other(format!(
                    "container init exited during setup ({e}){}",
                    exit_hint(stage1)
                )))
            }
        };
        match msg {
            Msg::WriteMaps => {
                namespaces::write_id_maps(stage1.as_raw(), &maps.0, &maps.1, opts.rootless)?;
                send(&mut chan, Msg::MapsWritten)?;
            }
            Msg::Child(pid) => {
                let _ = waitpid(stage1, None);
                cleanup.pids.retain(|p| *p != stage1);
                cleanup.pids.push(Pid::from_raw(pid));
                st.pid = pid;
                st.pid_start = start_time(pid).unwrap_or(0);
                // The init joins its cgroup only now, waiting for Go: the namespaces stage 1
                // made and the init's own task, stack and page tables were allocated by
                // processes outside it, as crun does, so the container's memory cgroup is
                // charged with what the container does (its mounts, its pages), not with
                // the runtime's setup (bench/README.md: 116 KiB of a network namespace).
                if let Some(cg) = cleanup.cgroup.as_mut() {
                    let entered = cg.enter(pid);
                    if !rootless_tolerated(entered, cg, opts.rootless)? {
                        if let Some(cg) = cleanup.cgroup.take() {
                            let _ = cg.destroy();
                        }
                    }
                }
                save_cgroup(&mut st, &cleanup.cgroup);
                if !net_devices.is_empty() {
                    cleanup.net_devices = net_devices.clone();
                    st.net_devices = net_devices.clone();
                    dir.save(&st)?;
                    crate::netdev::move_in(
                        pid,
                        &net_devices,
                        &crate::netdev::netns_keeper(&dir.path),
                    )
                    .map_err(|e| other(e.to_string()))?;
                }
                dir.save(&st)?;
                crate::crash::point("create:child-known");
                cleanup.poststop = Some((
                    hooks::of(&spec, Kind::Poststop),
                    oci_json(&st, Status::Stopped),
                ));
                send(&mut chan, Msg::Go(oci_json(&st, Status::Creating)))?;
            }
            Msg::RunHooks => {
                let json = oci_json(&st, Status::Creating);
                hooks::run_all(Kind::Prestart, &hooks::of(&spec, Kind::Prestart), &json)?;
                hooks::run_all(
                    Kind::CreateRuntime,
                    &hooks::of(&spec, Kind::CreateRuntime),
                    &json,
                )?;
                crate::crash::point("create:hooks-done");
                send(&mut chan, Msg::HooksDone)?;
            }
            Msg::Fd(FdKind::PtyMaster) => {
                let master = chan.recv_fd().map_err(|e| other(e.to_string()))?;
                // Before the process runs: it must start with the caller's size.
                crate::foreground::give_callers_size(master.as_fd());
                pty_master = Some(master);
            }
            Msg::Fd(FdKind::IdmapTree(index)) => {
                let tree = chan.recv_fd().map_err(|e| other(e.to_string()))?;
                crate::rootfs::idmap::set_mapping(&spec, index, tree.as_fd())
                    .map_err(|e| other(e.to_string()))?;
                send(&mut chan, Msg::IdmapSet)?;
            }
            Msg::Fd(FdKind::SeccompListener) => {
                let fd = chan.recv_fd().map_err(|e| other(e.to_string()))?;
                send_seccomp_listener(&linux, &st, fd.as_fd())?;
            }
            Msg::Ready => {
                // The Ack goes before the state says ready: an init that got its Ack
                // waits on the exec fifo whatever becomes of us, so a `created` on disk
                // always has an init that `start` can release. Saved first, a runtime
                // killed between the two left a `created` whose init was about to die
                // of the closed channel (issue 27's crash test caught it under load).
                send(&mut chan, Msg::Ack(oci_json(&st, Status::Created)))?;
                st.ready = true;
                dir.save(&st)?;
                crate::crash::point("create:ready-saved");
                if let Some(p) = &opts.pid_file {
                    write_pid_file(p, st.pid)?;
                }
                if let Some(p) = &opts.pidfd_socket {
                    send_pidfd(p, st.pid)?;
                }
                break;
            }
            Msg::Error(e) => return Err(other(e)),
            other_msg => {
                return Err(other(format!(
                    "container init: unexpected message {}",
                    describe(&other_msg)
                )))
            }
        }
    }
    // Ready: keep everything.
    cleanup.pids.clear();
    cleanup.cgroup = None;
    cleanup.dir = None;
    cleanup.poststop = None;
    Ok(Created {
        dir,
        state: st,
        pty_master,
    })
}

/// A cgroup step's result in runc's rootless mode: false when no cgroup is delegated to
/// the caller, in which case the container stays in the caller's own, which is fine as
/// long as it asks for no limit.
fn rootless_tolerated(
    result: Result<(), cgroup::CgroupError>,
    cg: &cgroup::Cgroup,
    rootless: bool,
) -> Result<bool, ContainerError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if rootless && e.is_permission() => {
            if let Some(controller) = cg.limited_controller() {
                tracing::debug!("rootless: {e}");
                return Err(cgroup::CgroupError::cannot_set(&controller).into());
            }
            tracing::warn!("rootless: {e}; the container runs in the caller's cgroup");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

fn save_cgroup(st: &mut State, cg: &Option<cgroup::Cgroup>) {
    st.cgroup = cg.as_ref().map(|c| c.save()).unwrap_or_default();
}

/// Hands the seccomp notify fd to the agent at listenerPath with the container's state.
pub(crate) fn send_seccomp_listener(
    linux: &oci_spec::runtime::Linux,
    st: &State,
    fd: std::os::fd::BorrowedFd<'_>,
) -> Result<(), ContainerError> {
    let Some(seccomp) = linux.seccomp() else {
        return Ok(());
    };
    let Some(path) = seccomp.listener_path() else {
        return Ok(());
    };
    let state: oci_spec::runtime::State = serde_json::from_str(&oci_json(st, Status::Creating))
        .map_err(|e| other(format!("state for the seccomp agent: {e}")))?;
    let metadata = seccomp.listener_metadata().clone().unwrap_or_default();
    let msg = sangja_seccomp::process_state(&metadata, &state);
    sangja_seccomp::send_listener_fd(path, &metadata, &msg, fd).map_err(|e| {
        other(format!(
            "linux.seccomp.listenerPath {}: {e}",
            path.display()
        ))
    })
}

fn send(chan: &mut Channel, msg: Msg) -> Result<(), ContainerError> {
    chan.send(&msg).map_err(|e| other(e.to_string()))
}

fn unsafe_borrow(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: the log descriptor stays open for the whole life of this process.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// `linux.netDevices` as (host name, container name), checked against the host.
fn net_devices(linux: &oci_spec::runtime::Linux) -> Result<Vec<(String, String)>, ContainerError> {
    let Some(map) = linux.net_devices() else {
        return Ok(Vec::new());
    };
    let mut list: Vec<(String, String)> = map
        .iter()
        .map(|(host, d)| {
            (
                host.clone(),
                d.name()
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| host.clone()),
            )
        })
        .collect();
    list.sort();
    let new_netns = linux.namespaces().as_ref().is_some_and(|ns| {
        ns.iter()
            .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
    });
    if !list.is_empty() && !new_netns {
        return Err(other(
            "linux.netDevices: needs a network namespace in linux.namespaces",
        ));
    }
    crate::netdev::check(&list).map_err(|e| other(e.to_string()))?;
    Ok(list)
}

/// The host uid/gid of the container's root (for files the container's root must open).
fn host_root_ids(linux: &oci_spec::runtime::Linux) -> (u32, u32) {
    let map = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.as_ref()
            .and_then(|v| {
                v.iter()
                    .find(|x| x.container_id() == 0)
                    .map(|x| x.host_id())
            })
            .unwrap_or(0)
    };
    (map(linux.uid_mappings()), map(linux.gid_mappings()))
}

pub(crate) fn connect_console(p: &Path) -> Result<OwnedFd, ContainerError> {
    let meta = std::fs::metadata(p)
        .map_err(|e| other(format!("--console-socket {}: {e}", p.display())))?;
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_socket() {
        return Err(other(format!(
            "--console-socket {}: not a unix socket",
            p.display()
        )));
    }
    let s = std::os::unix::net::UnixStream::connect(p)
        .map_err(|e| other(format!("--console-socket {}: {e}", p.display())))?;
    let fd = OwnedFd::from(s);
    inheritable(&fd);
    Ok(fd)
}

/// Clears close-on-exec: the init needs this descriptor across its exec.
fn inheritable(fd: &impl AsRawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
}

fn exit_hint(pid: Pid) -> String {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, c)) => format!("; init exited with status {c}"),
        Ok(WaitStatus::Signaled(_, s, _)) => format!("; init killed by {s}"),
        _ => String::new(),
    }
}

/// runc 1.2's `--pidfd-socket`: a pidfd of `pid` sent over the unix socket at `path`.
pub(crate) fn send_pidfd(path: &Path, pid: i32) -> Result<(), ContainerError> {
    let err = |e: &dyn std::fmt::Display| other(format!("--pidfd-socket {}: {e}", path.display()));
    // SAFETY: pidfd_open with a pid and no flags; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(err(&std::io::Error::last_os_error()));
    }
    // SAFETY: pidfd_open returned a new descriptor we own.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as RawFd) };
    let sock = std::os::unix::net::UnixStream::connect(path).map_err(|e| err(&e))?;
    crate::tty::send_master(sock.as_raw_fd(), "pidfd", fd.as_raw_fd()).map_err(|e| err(&e))
}

/// The OCI state document for hooks and `state`.
pub fn oci_state(st: &State, status: Status) -> OciState {
    OciState {
        oci_version: st.config.version().clone(),
        id: st.id.clone(),
        pid: if status == Status::Stopped { 0 } else { st.pid },
        status,
        bundle: st.bundle.clone(),
        rootfs: st.rootfs.clone(),
        created: st.created.clone(),
        annotations: st.config.annotations().clone().unwrap_or_default(),
        owner: st.owner.clone(),
    }
}

fn oci_json(st: &State, status: Status) -> String {
    serde_json::to_string(&oci_state(st, status)).unwrap_or_default()
}

pub(crate) fn write_pid_file(p: &Path, pid: i32) -> Result<(), ContainerError> {
    let p = abs(p)?;
    let tmp = p.with_file_name(format!(
        ".{}.tmp",
        p.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string())
        .map_err(|e| other(format!("--pid-file {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, &p).map_err(|e| other(format!("--pid-file {}: {e}", p.display())))
}

/// The start time (clock ticks since boot) of a process, field 22 of /proc/<pid>/stat.
pub fn start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, t)| t)
}

/// (state letter, start time) from /proc/<pid>/stat.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether the container's init still runs (a zombie counts as stopped).
pub fn alive(st: &State) -> bool {
    if st.pid <= 0 {
        return false;
    }
    match proc_stat(st.pid) {
        Some((state, start)) => {
            !matches!(state, 'Z' | 'X') && (st.pid_start == 0 || start == st.pid_start)
        }
        None => false,
    }
}

pub fn status(dir: &ContainerDir, st: &State) -> Status {
    if !alive(st) {
        return Status::Stopped;
    }
    if !st.ready {
        return Status::Creating;
    }
    // As runc: a frozen container is paused even before `start`.
    if cgroup::Cgroup::load(&st.cgroup).is_some_and(|c| c.frozen()) {
        return Status::Paused;
    }
    if dir.fifo_path().exists() {
        return Status::Created;
    }
    Status::Running
}

/// `state`: the OCI state of one container.
pub fn state(root: &Path, id: &str) -> Result<OciState, ContainerError> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let s = status(&dir, &st);
    Ok(oci_state(&st, s))
}

/// `start`: releases a created container's process; returns once it has exec'd.
pub fn start(root: &Path, id: &str) -> Result<(), ContainerError> {
    let dir = ContainerDir::open(root, id)?;
    start_locked(&dir)
}

pub fn start_locked(dir: &ContainerDir) -> Result<(), ContainerError> {
    let st = dir.load()?;
    match status(dir, &st) {
        Status::Created => {}
        Status::Stopped => return Err(ContainerError::StartStopped),
        Status::Running => return Err(ContainerError::StartRunning),
        // As runc: paused (a created container can be frozen) or still being created.
        s => return Err(ContainerError::StartInState(s)),
    }
    let fifo_path = dir.fifo_path();
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(|e| other(format!("opening {}: {e}", fifo_path.display())))?;
    // Gone before the init is released: the open descriptor is all the release needs, and
    // a start killed from here on must not leave a running container that reads as
    // created (and a second start waiting forever on a FIFO nobody writes).
    let _ = std::fs::remove_file(&fifo_path);
    crate::crash::point("start:fifo-opened");
    let problem = read_fifo(&mut fifo, &st)?;
    crate::crash::point("start:released");
    if !problem.is_empty() {
        return Err(other(problem));
    }
    hooks::run_all_warn(
        Kind::Poststart,
        &hooks::of(&st.config, Kind::Poststart),
        &oci_json(&st, Status::Running),
    );
    Ok(())
}

/// Reads the FIFO until the init has exec'd (end of file). Returns what the init
/// reported if it could not start the process (a failing startContainer hook, exec).
fn read_fifo(fifo: &mut File, st: &State) -> Result<String, ContainerError> {
    let mut got = Vec::new();
    let mut started = false;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) => {
                if !alive(st) {
                    if started {
                        break;
                    }
                    return Err(other("container init exited before it could be started"));
                }
                continue;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(other(format!("waiting on the exec fifo: {e}"))),
        }
        let mut buf = [0u8; 4096];
        match fifo.read(&mut buf) {
            Ok(0) if started => break,
            Ok(0) => std::thread::sleep(Duration::from_millis(1)),
            Ok(n) => {
                let data = &buf[..n];
                let data = if !started {
                    started = true;
                    &data[1..]
                } else {
                    data
                };
                got.extend_from_slice(data);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(other(format!("reading the exec fifo: {e}"))),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// `kill`: sends a signal to the init (or, with `all`, to every process of the container).
pub fn kill_container(root: &Path, id: &str, sig: i32, all: bool) -> Result<(), ContainerError> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let s = status(&dir, &st);
    if s == Status::Stopped {
        return Err(ContainerError::NotRunning);
    }
    let signal = Signal::try_from(sig).ok();
    if all {
        if let Some(cg) = cgroup::Cgroup::load(&st.cgroup) {
            return cg.kill_all(sig).map_err(Into::into);
        }
    }
    nix::sys::signal::kill(Pid::from_raw(st.pid), signal).map_err(|e| match e {
        nix::errno::Errno::ESRCH => ContainerError::NotRunning,
        e => other(format!("kill {}: {e}", st.pid)),
    })
}

/// `delete`: removes a stopped (or, forced or created, a killed) container.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), ContainerError> {
    let dir = match ContainerDir::open(root, id) {
        Ok(d) => d,
        Err(StateError::NotExist) if force => {
            // A create that died before state.json existed leaves only the folder.
            if state::validate_id(id).is_ok() {
                let _ = std::fs::remove_dir_all(root.join(id));
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let st = dir.load()?;
    match status(&dir, &st) {
        Status::Stopped => {
            // As runc: what the init left behind in its cgroup (no pid namespace, or a
            // create killed before its init was known) goes with the container.
            if let Some(cg) = cgroup::Cgroup::load(&st.cgroup) {
                let _ = cg.kill_all(libc::SIGKILL);
                let _ = cg.thaw();
            }
        }
        Status::Created => kill_and_wait(&st)?,
        s @ (Status::Running | Status::Paused | Status::Creating) => {
            if !force {
                return Err(ContainerError::DeleteNotStopped(id.to_string(), s));
            }
            if let Some(cg) = cgroup::Cgroup::load(&st.cgroup) {
                let _ = cg.kill_all(libc::SIGKILL);
                let _ = cg.thaw();
            }
            kill_and_wait(&st)?;
        }
    }
    crate::crash::point("delete:killed");
    destroy(dir, &st)
}

fn kill_and_wait(st: &State) -> Result<(), ContainerError> {
    let _ = kill(Pid::from_raw(st.pid), Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(st) {
        // Reap it if it is our child (run); otherwise its parent or PID 1 will.
        let _ = waitpid(Pid::from_raw(st.pid), Some(WaitPidFlag::WNOHANG));
        if Instant::now() > deadline {
            return Err(other(format!(
                "container init {} did not die after SIGKILL",
                st.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Removes what the container owns on the host, then runs poststop hooks.
fn destroy(dir: ContainerDir, st: &State) -> Result<(), ContainerError> {
    if let Err(e) =
        crate::netdev::move_out(&st.net_devices, &crate::netdev::netns_keeper(&dir.path))
    {
        tracing::warn!("{e}");
    }
    if let Some(cg) = cgroup::Cgroup::load(&st.cgroup) {
        cg.destroy()?;
    }
    crate::crash::point("delete:cgroup-removed");
    dir.remove()?;
    hooks::run_all_warn(
        Kind::Poststop,
        &hooks::of(&st.config, Kind::Poststop),
        &oci_json(st, Status::Stopped),
    );
    Ok(())
}

/// Deletes a container this process created and saw exit (`run` without --keep).
pub fn destroy_exited(dir: ContainerDir) -> Result<(), ContainerError> {
    let st = dir.load()?;
    if alive(&st) {
        kill_and_wait(&st)?;
    }
    destroy(dir, &st)
}

/// A running container's saved state and its cgroup, for the cgroup commands.
pub fn running_cgroup(
    root: &Path,
    id: &str,
) -> Result<(ContainerDir, State, Status, cgroup::Cgroup), ContainerError> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let s = status(&dir, &st);
    if s == Status::Stopped {
        return Err(ContainerError::NotRunning);
    }
    let cg = cgroup::Cgroup::load(&st.cgroup)
        .ok_or_else(|| other(format!("container {id} has no cgroup")))?;
    Ok((dir, st, s, cg))
}

/// `pause`: freezes every process of a running or created container.
pub fn pause(root: &Path, id: &str) -> Result<(), ContainerError> {
    let (_dir, _st, s, cg) = running_cgroup(root, id)?;
    if !matches!(s, Status::Running | Status::Created) {
        return Err(ContainerError::NotRunning);
    }
    cg.freeze().map_err(Into::into)
}

/// `resume`: thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<(), ContainerError> {
    let (_dir, _st, s, cg) = running_cgroup(root, id)?;
    if s != Status::Paused {
        return Err(other("container not paused"));
    }
    cg.thaw().map_err(Into::into)
}

/// `update`: applies new limits and records them in the container's config.
pub fn update(
    root: &Path,
    id: &str,
    resources: &oci_spec::runtime::LinuxResources,
) -> Result<(), ContainerError> {
    let (dir, mut st, _s, cg) = running_cgroup(root, id)?;
    cg.manager()
        .set(resources)
        .map_err(|e| other(e.to_string()))?;
    let mut linux = st.config.linux().clone().unwrap_or_default();
    let saved = linux.resources().clone().unwrap_or_default();
    linux.set_resources(Some(sangja_cgroups::merge_update(&saved, resources)));
    st.config.set_linux(Some(linux));
    dir.save(&st)?;
    Ok(())
}

/// `list`: the state of every container under root.
pub fn list(root: &Path) -> Result<Vec<OciState>, ContainerError> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        let Ok(dir) = ContainerDir::open(root, &id) else {
            continue;
        };
        let Ok(st) = dir.load() else { continue };
        let s = status(&dir, &st);
        let mut o = oci_state(&st, s);
        o.owner = owner_name(&dir.path);
        out.push(o);
    }
    Ok(out)
}

/// The owner's name from /etc/passwd, or the uid as a number.
fn owner_name(p: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(p).map(|m| m.uid()).unwrap_or(0);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd_name(&passwd, uid).unwrap_or_else(|| uid.to_string())
}

fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    crate::security::user::passwd_entry(passwd, uid)
        .map(|e| e.name)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::passwd_name;

    #[test]
    fn passwd_name_reads_the_uid_column() {
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\n\nbroken\nalice:x:1000:1000::/home/a:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_name(passwd, 5), None);
    }
}
