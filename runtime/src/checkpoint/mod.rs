//! `checkpoint` and `restore` through CRIU, with runc's flags and runc's layout of the
//! image directory (CRIU's images plus descriptors.json, the init's stdio).

pub mod criu;
pub mod terminal;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::cgroup;
use crate::container::{self, ContainerError};
use crate::state::{self, ContainerDir, State, Status};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Foreground(#[from] crate::foreground::ForegroundError),
    #[error("{0}")]
    Invalid(String),
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// CRIU ran and failed: its own error lines, and where its whole log is.
    #[error("criu {action} failed ({status}): {}; log file: {}", .errors.join(" | "), .log.display())]
    Criu {
        action: &'static str,
        status: String,
        errors: Vec<String>,
        log: PathBuf,
    },
}

fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> CheckpointError + 'a {
    move |source| CheckpointError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// `checkpoint`'s own flags besides the shared ones.
#[derive(Clone, Debug, Default)]
pub struct DumpOpts {
    pub common: criu::Common,
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub pre_dump: bool,
    pub status_fd: Option<i32>,
    pub page_server: Option<String>,
}

/// `restore`'s own flags besides the shared ones.
#[derive(Clone, Debug, Default)]
pub struct RestoreOpts {
    pub common: criu::Common,
    pub bundle: PathBuf,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub no_subreaper: bool,
    pub no_pivot: bool,
    pub console_socket: Option<PathBuf>,
    pub systemd_cgroup: bool,
}

/// The name runc gives the file of the init's stdio in the image directory.
const DESCRIPTORS: &str = "descriptors.json";

fn prepare_dirs(c: &criu::Common) -> Result<(), CheckpointError> {
    for d in [c.image_path.as_path(), c.work_dir()] {
        std::fs::create_dir_all(d).map_err(io("creating", d))?;
    }
    Ok(())
}

/// Runs CRIU with `args`; a failure carries CRIU's own error lines. `inherit` are
/// descriptors CRIU gets at their own numbers (--inherit-fd names them). `gate` runs
/// with CRIU's pid before CRIU executes (restore puts it into the container's cgroup).
fn run_criu(
    action: &'static str,
    c: &criu::Common,
    log: &str,
    args: &[String],
    inherit: &[std::os::fd::RawFd],
    gate: Option<&mut dyn FnMut(i32) -> Result<(), CheckpointError>>,
) -> Result<(), CheckpointError> {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    tracing::debug!("criu {}", args.join(" "));
    let log_path = c.work_dir().join(log);
    let exe = find_in_path(&c.criu).ok_or_else(|| {
        CheckpointError::Invalid(format!(
            "--criu {}: not found (apt criu, or name the binary with --criu)",
            c.criu.display()
        ))
    })?;
    let cstr = |b: &[u8]| {
        CString::new(b)
            .map_err(|_| CheckpointError::Invalid("a NUL byte in a criu argument".into()))
    };
    let exe_c = cstr(exe.as_os_str().as_bytes())?;
    let mut argv = vec![cstr(b"criu")?];
    for a in args {
        argv.push(cstr(a.as_bytes())?);
    }
    // std's spawn returns only once the child has exec'd, too late to place it first:
    // fork by hand (the runtime is single-threaded) and hold the child on a pipe.
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| CheckpointError::Invalid(format!("pipe for criu: {e}")))?;
    // SAFETY: single-threaded process; the child reads one byte and execs.
    let child = match unsafe { fork() }
        .map_err(|e| CheckpointError::Invalid(format!("fork for criu: {e}")))?
    {
        ForkResult::Child => {
            drop(wr);
            let mut b = [0u8; 1];
            // SAFETY: read into a local buffer from our own pipe end.
            unsafe { libc::read(rd.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            for &fd in inherit {
                // SAFETY: fcntl on a descriptor the parent keeps open for CRIU.
                unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
            }
            // A foreground restore blocks every signal for forwarding; CRIU gets none blocked.
            let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
            let _ = nix::unistd::execv(&exe_c, &argv);
            // SAFETY: leaving the forked child after a failed exec.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(rd);
    if let Some(gate) = gate {
        if let Err(e) = gate(child.as_raw()) {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(child, None);
            return Err(e);
        }
    }
    let _ = nix::unistd::write(&wr, b"1");
    drop(wr);
    let status = loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
            Ok(WaitStatus::Exited(_, code)) => break format!("exit status {code}"),
            Ok(WaitStatus::Signaled(_, sig, _)) => break format!("killed by {sig:?}"),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(CheckpointError::Invalid(format!("waiting for criu: {e}"))),
        }
    };
    let mut errors = criu::log_errors(&log_path);
    if errors.is_empty() {
        errors.push("no error line in CRIU's log".into());
    }
    Err(CheckpointError::Criu {
        action,
        status,
        errors,
        log: log_path,
    })
}

/// Whether `criu check` passes: CRIU can checkpoint on this kernel.
pub fn criu_works(criu: &Path) -> bool {
    let Some(exe) = find_in_path(criu) else {
        return false;
    };
    std::process::Command::new(exe)
        .arg("check")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `name` as execvp would find it: a path as given, else the first match in $PATH.
fn find_in_path(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `checkpoint`: CRIU dumps the running container into the image directory. Unless
/// --leave-running or --pre-dump, the container is then gone, as with runc; when CRIU
/// fails it resumes the processes and the container is left as it was.
pub fn checkpoint(root: &Path, id: &str, o: &DumpOpts) -> Result<(), CheckpointError> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    // As runc: a paused container can be checkpointed too (containerd pauses the task
    // before it asks, to capture a still rootfs).
    if !matches!(
        container::status(&dir, &st),
        Status::Running | Status::Paused
    ) {
        return Err(ContainerError::NotRunning.into());
    }
    prepare_dirs(&o.common)?;
    let log = if o.pre_dump {
        "pre-dump.log"
    } else {
        "dump.log"
    };
    let action = if o.pre_dump { "pre-dump" } else { "dump" };
    let mut args = criu::base_args(action, &o.common, log);
    args.extend([
        "--tree".into(),
        st.pid.to_string(),
        "--root".into(),
        st.rootfs.display().to_string(),
    ]);
    args.extend(criu::external_mounts(&st.config, false));
    // A masked file is /dev/null bound over it: external to the container's tree too.
    for p in masked_files(&st) {
        args.extend(["--external".into(), format!("mnt[{p}]:{p}")]);
    }
    if let Some(ino) = external_netns(&st.config) {
        args.extend(["--external".into(), format!("net[{ino}]:extRootNetNS")]);
    }
    if let Some(cg) = cgroup::Cgroup::load(&st.cgroup) {
        if let Some(freezer) = cg.paths().get("freezer") {
            args.extend(["--freeze-cgroup".into(), freezer.display().to_string()]);
        }
    }
    if o.leave_running {
        args.push("--leave-running".into());
    }
    if o.pre_dump || o.parent_path.is_some() {
        args.push("--track-mem".into());
    }
    if let Some(p) = &o.parent_path {
        args.extend(["--prev-images-dir".into(), p.display().to_string()]);
    }
    if let Some(fd) = o.status_fd {
        args.extend(["--status-fd".into(), fd.to_string()]);
    }
    if let Some(ps) = &o.page_server {
        args.extend(criu::page_server_args(ps).map_err(CheckpointError::Invalid)?);
    }
    write_descriptors(&o.common.image_path, st.pid)?;
    if !o.pre_dump {
        args.extend(terminal::dump(&st.config, st.pid, &o.common.image_path)?);
    }
    drop(dir);
    run_criu(action, &o.common, log, &args, &[], None)?;
    if !o.leave_running && !o.pre_dump {
        container::delete(root, id, true)?;
    }
    Ok(())
}

/// Files among maskedPaths (directories are masked with a tmpfs, not a bind).
fn masked_files(st: &State) -> Vec<String> {
    st.config
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            let inside = Path::new("/proc")
                .join(st.pid.to_string())
                .join("root")
                .join(p.trim_start_matches('/'));
            std::fs::metadata(inside).is_ok_and(|m| !m.is_dir())
        })
        .collect()
}

/// The inode of a network namespace the config joins by path: CRIU leaves it out of the
/// image and restore joins it again.
fn external_netns(spec: &oci_spec::runtime::Spec) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let ns = spec.linux().as_ref()?.namespaces().as_ref()?;
    let path = ns
        .iter()
        .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)?
        .path()
        .as_ref()?;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// runc's descriptors.json: what fds 0-2 of the init were, so restore can hand the new
/// caller's stdio in their place (pipes are matched by name through --inherit-fd).
fn write_descriptors(images: &Path, pid: i32) -> Result<(), CheckpointError> {
    let fds: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    let path = images.join(DESCRIPTORS);
    let text = serde_json::to_vec(&fds).map_err(|e| CheckpointError::Invalid(e.to_string()))?;
    std::fs::write(&path, text).map_err(io("writing", &path))
}

/// `restore`: a new container `id` from the bundle, its processes brought back by CRIU
/// from the image directory. Returns the exit status to leave with: 0 with --detach,
/// else the restored init's.
pub fn restore(root: &Path, id: &str, o: &RestoreOpts) -> Result<i32, CheckpointError> {
    let bundle = std::path::absolute(&o.bundle).map_err(io("resolving", &o.bundle))?;
    let spec = crate::spec::load(&bundle)?;
    let root_path = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .ok_or_else(|| {
            CheckpointError::Invalid(format!(
                "{}/config.json: root.path is missing",
                bundle.display()
            ))
        })?;
    let rootfs = crate::spec::rootfs_path(&bundle, &root_path);
    let images = &o.common.image_path;
    if !images.join(DESCRIPTORS).is_file() {
        return Err(CheckpointError::Invalid(format!(
            "--image-path {}: no checkpoint there ({DESCRIPTORS} missing)",
            images.display()
        )));
    }
    let tty = restored_terminal(&spec, o)?;
    let console = match &o.console_socket {
        Some(p) => {
            let sock = container::connect_console(p)?;
            // Only this process sends on it; CRIU must not inherit it.
            // SAFETY: fcntl on the socket we just connected.
            unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
            Some(sock)
        }
        None => None,
    };
    let replacement = tty
        .map(|t| terminal::Replacement::new(&spec, t))
        .transpose()?;
    // As `run`: signals are held from now on, so none meant for the container is lost.
    let fg = if o.detach {
        if !o.no_subreaper {
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        }
        None
    } else {
        Some(crate::foreground::Foreground::prepare(!o.no_subreaper)?)
    };
    prepare_dirs(&o.common)?;
    let dir = ContainerDir::create(root, id)?;
    let mut undo = Undo {
        dir: Some(dir.path.clone()),
        cgroup: None,
        criu_root: None,
    };
    // CRIU wants the root as a mount point of its own: a bind of the rootfs in the
    // container's state folder (runc does the same).
    let criu_root = dir.path.join("criu-root");
    std::fs::create_dir_all(&criu_root).map_err(io("creating", &criu_root))?;
    nix::mount::mount(
        Some(&rootfs),
        &criu_root,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| CheckpointError::Invalid(format!("binding {} for CRIU: {e}", rootfs.display())))?;
    undo.criu_root = Some(criu_root.clone());
    let cg =
        cgroup::Cgroup::new(&spec, id, o.systemd_cgroup, false).map_err(ContainerError::from)?;
    let cg = undo.cgroup.insert(cg);
    let pid_path = dir.path.join("restore.pid");
    let mut args = criu::base_args("restore", &o.common, "restore.log");
    args.extend([
        "--root".into(),
        criu_root.display().to_string(),
        "--pidfile".into(),
        pid_path.display().to_string(),
        "--restore-detached".into(),
        "--restore-sibling".into(),
    ]);
    if o.no_pivot {
        args.push("--no-pivot-root".into());
    }
    args.extend(criu::external_mounts(&spec, true));
    let descriptors: Vec<String> = std::fs::read(images.join(DESCRIPTORS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for (fd, what) in descriptors.iter().enumerate() {
        if what.starts_with("pipe:") {
            args.extend(["--inherit-fd".into(), format!("fd[{fd}]:{what}")]);
        }
    }
    let mut inherit = Vec::new();
    if let Some(r) = &replacement {
        args.extend(r.restore_args());
        inherit.push(r.pty.slave.as_raw_fd());
    }
    // CRIU, and so the processes it restores, start in the container's cgroup.
    let mut place = |pid: i32| -> Result<(), CheckpointError> {
        cg.apply(pid).map_err(|e| ContainerError::from(e).into())
    };
    run_criu(
        "restore",
        &o.common,
        "restore.log",
        &args,
        &inherit,
        Some(&mut place),
    )?;
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| {
            CheckpointError::Invalid(format!("criu wrote no pid to {}", pid_path.display()))
        })?;
    // The restored process holds the slave now; the master goes where runc sends it.
    let master = match (replacement, &console) {
        (Some(r), Some(sock)) => {
            if let Err(e) = r.send(sock) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                return Err(e);
            }
            None
        }
        (Some(r), None) => Some(r.pty.master),
        (None, _) => None,
    };
    drop(console);
    let cg = undo.cgroup.take().expect("set above");
    let st = State {
        id: id.to_string(),
        pid,
        pid_start: container::start_time(pid).unwrap_or(0),
        bundle,
        rootfs,
        created: state::now_rfc3339(),
        owner: String::new(),
        config: spec,
        cgroup: cg.save(),
        net_devices: Vec::new(),
        ready: true,
    };
    dir.save(&st)?;
    if let Some(p) = &o.pid_file {
        std::fs::write(p, pid.to_string()).map_err(io("writing", p))?;
    }
    undo.dir = None;
    drop(undo);
    let Some(fg) = fg else { return Ok(0) };
    drop(dir);
    let code = fg.wait(nix::unistd::Pid::from_raw(pid), master)?;
    container::delete(root, id, true)?;
    Ok(code)
}

/// runc's checks of the terminal flags, and the terminal the checkpoint recorded when
/// the config asks for one.
fn restored_terminal(
    spec: &oci_spec::runtime::Spec,
    o: &RestoreOpts,
) -> Result<Option<terminal::Recorded>, CheckpointError> {
    let wanted = terminal::wanted(spec);
    if wanted && o.detach && o.console_socket.is_none() {
        return Err(CheckpointError::Invalid(
            "cannot allocate tty if sangja will detach without setting console socket".into(),
        ));
    }
    if (!o.detach || !wanted) && o.console_socket.is_some() {
        return Err(CheckpointError::Invalid(
            "cannot use console socket if sangja will not detach or allocate tty".into(),
        ));
    }
    let images = &o.common.image_path;
    match (wanted, terminal::recorded(images)?) {
        (true, None) => Err(CheckpointError::Invalid(format!(
            "--image-path {}: process.terminal is set but the checkpoint records no terminal ({} missing)",
            images.display(),
            terminal::TTY_INFO
        ))),
        (false, Some(_)) => Err(CheckpointError::Invalid(format!(
            "--image-path {}: the checkpoint has a terminal ({}) but process.terminal is not set in config.json",
            images.display(),
            terminal::TTY_INFO
        ))),
        (_, r) => Ok(r),
    }
}

/// What a failed restore must take away again.
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<cgroup::Cgroup>,
    criu_root: Option<PathBuf>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(r) = self.criu_root.take() {
            let _ = nix::mount::umount2(&r, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.destroy();
        }
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
