//! The container side: `sangja init`, re-executed from the protected binary.
//!
//! Stage 1 joins and creates namespaces (the user namespace first, mapped by the runtime),
//! then clones stage 2 as a sibling so it lands in the new pid namespace as a child of the
//! runtime. Stage 2 builds the root filesystem, applies limits and privileges, reports
//! ready and, for a new container, waits on the exec FIFO until `start`.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{sethostname, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::channel::{describe, Channel, ChannelError};
use super::{Bootstrap, FdKind, InitKind, Msg, INIT_FD_ENV};
use crate::hooks::{self, HookError, Kind};
use crate::namespaces::{self, NsError};
use crate::rootfs::{self, resolve, RootfsError};
use crate::security::{self, capabilities, rlimits, sched, user, SecurityError};
use crate::syscall;
use crate::tty;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Security(#[from] SecurityError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Tty(#[from] tty::TtyError),
    #[error("{0}")]
    Other(String),
}

fn other(msg: impl Into<String>) -> InitError {
    InitError::Other(msg.into())
}

/// Entry point of `sangja init`. Never returns.
pub fn main() -> ! {
    let fd: RawFd = match std::env::var(INIT_FD_ENV).ok().and_then(|v| v.parse().ok()) {
        Some(fd) => fd,
        None => {
            eprintln!("sangja init is started by sangja itself, not by hand");
            std::process::exit(2)
        }
    };
    // SAFETY: the runtime handed us this socket and nothing else owns it.
    let mut chan = unsafe { Channel::from_raw_fd(fd) };
    set_cloexec(fd);
    let boot = match chan.recv() {
        Ok(Msg::Bootstrap(b)) => b,
        Ok(other) => fail(
            &mut chan,
            &format!("init: expected Bootstrap, got {}", describe(&other)),
        ),
        Err(e) => fail(&mut chan, &e.to_string()),
    };
    if let Some(log) = boot.log_fd {
        set_cloexec(log);
        let format = if boot.log_json {
            crate::logging::Format::Json
        } else {
            crate::logging::Format::Text
        };
        crate::logging::init_from_fd(log, format, boot.debug);
    }
    match stage1(&mut chan, &boot) {
        Ok(()) => std::process::exit(0),
        Err(e) => fail(&mut chan, &e.to_string()),
    }
}

fn fail(chan: &mut Channel, msg: &str) -> ! {
    // After `create` has returned nobody reads the channel: the log still tells.
    tracing::error!("container init: {msg}");
    let _ = chan.send(&Msg::Error(msg.to_string()));
    std::process::exit(1)
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor number; failure is harmless here.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

fn expect(
    chan: &mut Channel,
    what: &'static str,
    ok: impl Fn(&Msg) -> bool,
) -> Result<Msg, InitError> {
    let m = chan.recv()?;
    if let Msg::Error(e) = &m {
        return Err(other(e.clone()));
    }
    if !ok(&m) {
        return Err(ChannelError::Unexpected {
            expected: what,
            got: describe(&m),
        }
        .into());
    }
    Ok(m)
}

fn stage1(chan: &mut Channel, boot: &Bootstrap) -> Result<(), InitError> {
    if let Some(a) = boot
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.exec_cpu_affinity().as_ref())
    {
        sched::apply_initial_affinity(a)?;
    }
    let ns = boot
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let plan = match boot.kind {
        InitKind::Create => namespaces::plan(&ns),
        InitKind::Exec => {
            let join = boot
                .join
                .iter()
                .filter_map(|(t, p)| namespaces::from_proc_name(t).map(|t| (t, p.clone())))
                .collect();
            namespaces::Plan {
                join,
                new_user: false,
                unshare: nix::sched::CloneFlags::empty(),
            }
        }
    };
    namespaces::join(&plan.join)?;
    let joined_user = plan
        .join
        .iter()
        .any(|(t, _)| *t == LinuxNamespaceType::User);
    if plan.new_user {
        namespaces::unshare_flags(nix::sched::CloneFlags::CLONE_NEWUSER)?;
        chan.send(&Msg::WriteMaps)?;
        expect(chan, "MapsWritten", |m| matches!(m, Msg::MapsWritten))?;
    }
    if plan.new_user || joined_user {
        // Become the namespace's root so what follows runs with its full privileges.
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(|e| other(format!("setgid 0 in the user namespace: {e}")))?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(|e| other(format!("setuid 0 in the user namespace: {e}")))?;
    }
    // A new cgroup namespace is rooted at the creator's cgroup: stage 2 makes it once the
    // runtime has moved it into the container's (it joins only then, see container.rs).
    namespaces::unshare_flags(plan.unshare - nix::sched::CloneFlags::CLONE_NEWCGROUP)?;
    if plan.unshare.bits() & libc::CLONE_NEWTIME != 0 {
        write_time_offsets(&boot.spec)?;
    }
    let child = syscall::clone_parent()
        .map_err(|e| other(format!("clone of the container process: {e}")))?;
    if child.as_raw() == 0 {
        let err = match stage2(chan, boot) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        fail(chan, &err.to_string());
    }
    chan.send(&Msg::Child(child.as_raw()))?;
    Ok(())
}

fn write_time_offsets(spec: &Spec) -> Result<(), InitError> {
    let offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
        .unwrap_or_default();
    let mut text = String::new();
    for (clock, off) in &offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(other(format!(
                "linux.timeOffsets.{clock}: only monotonic and boottime can be offset"
            )));
        }
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if text.is_empty() {
        return Ok(());
    }
    std::fs::write("/proc/self/timens_offsets", text).map_err(|e| {
        other(format!(
            "linux.timeOffsets: writing /proc/self/timens_offsets: {e}"
        ))
    })
}

fn stage2(chan: &mut Channel, boot: &Bootstrap) -> Result<Infallible, InitError> {
    let state_json = match expect(chan, "Go", |m| matches!(m, Msg::Go(_)))? {
        Msg::Go(s) => s,
        _ => unreachable!("checked by expect"),
    };
    let spec = &boot.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| other("process is missing"))?;
    if boot.kind == InitKind::Create && rootfs::Ctx::has_new(spec, LinuxNamespaceType::Cgroup) {
        namespaces::unshare_flags(nix::sched::CloneFlags::CLONE_NEWCGROUP)?;
    }
    nix::unistd::setsid().map_err(|e| other(format!("setsid: {e}")))?;
    let mut console = None;
    if boot.kind == InitKind::Create {
        if !rootfs::Ctx::has_new(spec, LinuxNamespaceType::Mount) {
            return Err(other(
                "linux.namespaces: sangja needs a new mount namespace to build the rootfs",
            ));
        }
        let mut idmapped = Vec::new();
        for (index, source, recursive) in rootfs::idmap::requests(spec) {
            let tree = rootfs::idmap::clone_tree(index, &source, recursive)
                .map_err(|e| other(e.to_string()))?;
            chan.send(&Msg::Fd(FdKind::IdmapTree(index)))?;
            chan.send_fd(tree.as_raw_fd())?;
            expect(chan, "IdmapSet", |m| matches!(m, Msg::IdmapSet))?;
            idmapped.push((index, tree.as_raw_fd()));
            std::mem::forget(tree); // closed by the mount code once attached
        }
        let ctx = rootfs::prepare(spec, &boot.rootfs, idmapped)?;
        let runtime_hooks = !hooks::of(spec, Kind::Prestart).is_empty()
            || !hooks::of(spec, Kind::CreateRuntime).is_empty();
        if runtime_hooks {
            chan.send(&Msg::RunHooks)?;
            expect(chan, "HooksDone", |m| matches!(m, Msg::HooksDone))?;
        }
        hooks::run_all(
            Kind::CreateContainer,
            &hooks::of(spec, Kind::CreateContainer),
            &state_json,
        )?;
        create_cwd(&ctx, process.cwd())?;
        drop(ctx);
        if boot.no_pivot {
            rootfs::pivot::move_root(&boot.rootfs)?;
        } else {
            rootfs::pivot::pivot_root(&boot.rootfs)?;
        }
        rootfs::pivot::root_propagation(spec)?;
        if process.terminal().unwrap_or(false) {
            console = Some(tty::setup_console(
                process,
                boot.console_fd,
                boot.relay_tty,
                true,
            )?);
        }
        if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            sethostname(h).map_err(|e| other(format!("hostname {h:?}: {e}")))?;
        }
        if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            set_domainname(d)?;
        }
        write_sysctls(spec)?;
        let linux = spec.linux().as_ref();
        rootfs::masked::readonly(
            &linux
                .and_then(|l| l.readonly_paths().clone())
                .unwrap_or_default(),
        )?;
        rootfs::masked::mask(
            &linux
                .and_then(|l| l.masked_paths().clone())
                .unwrap_or_default(),
        )?;
        rootfs::finalize(spec)?;
    }
    if boot.kind == InitKind::Exec && process.terminal().unwrap_or(false) {
        console = Some(tty::setup_console(
            process,
            boot.console_fd,
            boot.relay_tty,
            false,
        )?);
    }
    if let Some(master) = console.and_then(|c| c.master) {
        chan.send(&Msg::Fd(FdKind::PtyMaster))?;
        chan.send_fd(master.as_raw_fd())?;
    }
    if let Some(l) = process.rlimits() {
        rlimits::apply(l)?;
    }
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        sched::apply_personality(p)?;
    }
    if let Some(p) = process.io_priority() {
        sched::apply_io_priority(p)?;
    }
    if let Some(s) = process.scheduler() {
        sched::apply_scheduler(s)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        security::set_oom_score_adj(adj)?;
    }
    if !boot.no_new_keyring && boot.kind == InitKind::Create {
        join_session_keyring(&boot.id);
    }
    let exe = find_executable(process)?;
    let argv: Vec<CString> = process
        .args()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(cstring)
        .collect::<Result<_, _>>()?;
    // As runc: a missing HOME comes from the container's /etc/passwd, read here in the
    // container's root before the uid switch (dockerd sets none).
    let envp: Vec<CString> = user::env_with_home(
        process.env().as_deref().unwrap_or_default(),
        process.user().uid(),
    )
    .into_iter()
    .map(cstring)
    .collect::<Result<_, _>>()?;
    let caps = capabilities::sets(process.capabilities().as_ref())?;
    let nnp = process.no_new_privileges().unwrap_or(false);
    // The filter becomes its cBPF program here, so loading it later is one seccomp(2)
    // call. A profile denies whatever it does not name, and one written before openat2,
    // clone3 or close_range existed denies those: every system call the init makes
    // after the load must be one the user process needs anyway. So all the work is done
    // first, and the filter goes in where runc loads it at the earliest (see below).
    let mut filter = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(
            sangja_seccomp::compile(s)
                .and_then(sangja_seccomp::Filter::prepare)
                .map_err(|e| other(e.to_string()))?,
        ),
        None => None,
    };
    security::lsm::apply_on_exec(process)?;
    // As runc: the cwd is entered before the uid switch, and again after it only when
    // root could not (a directory only the container user may search).
    let cwd_entered = try_enter_cwd(process.cwd())?;
    if nnp {
        security::set_no_new_privs()?;
    }
    capabilities::apply_bounding(&caps)?;
    user::switch(process.user(), setgroups_allowed(spec))?;
    if !cwd_entered {
        enter_cwd(process.cwd())?;
    }
    reset_signals();
    if let Err(e) = syscall::cloexec_from(3 + boot.preserve_fds) {
        return Err(other(format!("marking descriptors close-on-exec: {e}")));
    }
    if !nnp {
        if let Some(f) = filter.take() {
            // Without no_new_privs the kernel takes a filter only from a process holding
            // CAP_SYS_ADMIN, so it goes in before the final capability sets, as runc
            // does. The uid switch kept the permitted set: raised to effective for the
            // load, it leaves only capset(2) and prctl(2) to run under the filter (runc
            // also runs its uid switch and chdir there).
            capabilities::raise_permitted()?;
            load_seccomp(chan, &f)?;
        }
    }
    capabilities::apply_rest(&caps)?;
    if let Some(f) = filter.take_if(|f| f.needs_listener()) {
        // The notify listener must reach the runtime while `create` runs (it hands the
        // fd to the agent at listenerPath): load now, over the still open channel.
        load_seccomp(chan, &f)?;
    }

    chan.send(&Msg::Ready)?;
    let state_json = match expect(chan, "Ack", |m| matches!(m, Msg::Ack(_)))? {
        Msg::Ack(s) => s,
        _ => unreachable!("checked by expect"),
    };
    let mut fifo = None;
    if boot.kind == InitKind::Create {
        let fd = boot.fifo_fd.ok_or_else(|| other("no exec fifo"))?;
        // Blocks until `start` opens the other end.
        let path = syscall::fd_path(fd);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(Path::new(path.to_str().unwrap_or_default()))
            .map_err(|e| other(format!("opening the exec fifo: {e}")))?;
        // SAFETY: closing the O_PATH descriptor the runtime gave us; we hold the opened one.
        unsafe { libc::close(fd) };
        f.write_all(b"R")
            .map_err(|e| other(format!("writing the exec fifo: {e}")))?;
        fifo = Some(f);
    }
    if let Some(a) = process.exec_cpu_affinity() {
        if let Err(e) = sched::apply_final_affinity(a) {
            report(&mut fifo, &e.to_string());
            return Err(e.into());
        }
    }
    // Kept alive to the end: freeing it could return memory to the kernel under the filter.
    let last = filter.take();
    if let Some(f) = &last {
        // With no_new_privs and no listener the filter can wait for the last moment:
        // from here on the init makes no system call but execve (and the
        // startContainer hooks, which run under the filter as in runc).
        if let Err(e) = f.load() {
            let msg = e.to_string();
            report(&mut fifo, &msg);
            return Err(other(msg));
        }
    }
    let start_hooks = hooks::of(spec, Kind::StartContainer);
    if boot.kind == InitKind::Create && !start_hooks.is_empty() {
        if let Err(e) = hooks::run_all(Kind::StartContainer, &start_hooks, &state_json) {
            report(&mut fifo, &e.to_string());
            return Err(e.into());
        }
    }
    let err = nix::unistd::execve(&exe, &argv, &envp).unwrap_err();
    let msg = format!("exec {}: {err}", exe.to_string_lossy());
    report(&mut fifo, &msg);
    Err(other(msg))
}

/// runc creates a missing cwd inside the rootfs before entering it. The lookup stays in
/// the root and refuses magic links, so `cwd: /proc/self/fd/N` can never name a
/// descriptor the init holds on a host directory (the CVE-2024-21626 class).
#[cfg(not(feature = "break-cwd-check"))]
fn create_cwd(ctx: &rootfs::Ctx, cwd: &Path) -> Result<(), InitError> {
    resolve::open_in_root(rootfs::ctx_root(ctx), cwd, resolve::Create::Dir)
        .map(drop)
        .map_err(|e| {
            other(format!(
                "process.cwd {}: creating it inside the rootfs: {e}",
                cwd.display()
            ))
        })
}

/// Proof build only (`break-cwd-check`, see runtime/Cargo.toml): a plain path under the
/// rootfs, following whatever links lie on the way, /proc/self/fd/N included.
#[cfg(feature = "break-cwd-check")]
fn create_cwd(ctx: &rootfs::Ctx, cwd: &Path) -> Result<(), InitError> {
    std::fs::create_dir_all(ctx.rootfs.join(resolve::clean(cwd)))
        .map_err(|e| other(format!("process.cwd {}: {e}", cwd.display())))
}

/// Enters process.cwd, or answers false when the current user may not (runc then tries
/// again after the uid switch); any other failure is an error.
fn try_enter_cwd(cwd: &Path) -> Result<bool, InitError> {
    match chdir_in_root(cwd) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => Ok(false),
        Err(e) => Err(cwd_err(cwd, e)),
    }
}

fn enter_cwd(cwd: &Path) -> Result<(), InitError> {
    chdir_in_root(cwd).map_err(|e| cwd_err(cwd, e))
}

fn cwd_err(cwd: &Path, e: nix::errno::Errno) -> InitError {
    other(format!("process.cwd {}: {e}", cwd.display()))
}

/// Enters process.cwd resolved inside the container's root without magic links, so
/// `/proc/self/fd/N` never leads to a host directory some descriptor of the init still
/// names (the CVE-2024-21626 class, `exec --cwd` included).
#[cfg(not(feature = "break-cwd-check"))]
fn chdir_in_root(cwd: &Path) -> Result<(), nix::errno::Errno> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::OpenOptionsExt;
    let root = File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open("/")
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let dir = resolve::open_in_root(root.as_fd(), cwd, resolve::Create::No)?;
    nix::unistd::fchdir(dir.as_fd())
}

/// Proof build only (`break-cwd-check`, see runtime/Cargo.toml): a plain chdir, which
/// follows /proc/self/fd/N wherever it points.
#[cfg(feature = "break-cwd-check")]
fn chdir_in_root(cwd: &Path) -> Result<(), nix::errno::Errno> {
    nix::unistd::chdir(cwd)
}

/// Loads the seccomp filter; a notify listener fd goes to the runtime, which passes it on.
fn load_seccomp(chan: &mut Channel, f: &sangja_seccomp::Prepared) -> Result<(), InitError> {
    if let Some(fd) = f.load().map_err(|e| other(e.to_string()))? {
        chan.send(&Msg::Fd(FdKind::SeccompListener))?;
        chan.send_fd(fd.as_raw_fd())?;
    }
    Ok(())
}

/// Tells a waiting `start` why the process did not start.
fn report(fifo: &mut Option<File>, msg: &str) {
    if let Some(f) = fifo {
        let _ = f.write_all(msg.as_bytes());
    }
}

fn cstring(s: String) -> Result<CString, InitError> {
    CString::new(s).map_err(|e| other(format!("process: a string holds a NUL byte: {e}")))
}

/// Signals blocked or ignored by the runtime must not reach the container process that way
/// (Rust ignores SIGPIPE; `run` blocks signals to forward them). This runs before the
/// seccomp filter, so nothing is left to do about signals between the filter and execve.
fn reset_signals() {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: restoring the default disposition has no preconditions.
        unsafe { libc::signal(sig as libc::c_int, libc::SIG_DFL) };
    }
    // The init still writes to pipes (the exec FIFO, a startContainer hook's stdin) that
    // may have lost their reader: a handler that does nothing turns SIGPIPE into EPIPE,
    // and unlike SIG_IGN, execve resets a handled signal to its default by itself.
    extern "C" fn ignore(_: libc::c_int) {}
    // SAFETY: installs an async-signal-safe handler that touches nothing.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
        act.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGPIPE, &act, std::ptr::null_mut());
    }
}

/// setgroups is allowed unless we are in a user namespace that denies it.
fn setgroups_allowed(_spec: &Spec) -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true)
}

fn set_domainname(name: &str) -> Result<(), InitError> {
    // SAFETY: setdomainname with a valid buffer and length.
    if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } < 0 {
        return Err(other(format!(
            "domainname {name:?}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

fn write_sysctls(spec: &Spec) -> Result<(), InitError> {
    let sysctls = spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default();
    let mut keys: Vec<_> = sysctls.keys().collect();
    keys.sort();
    for key in keys {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, &sysctls[key]).map_err(|e| {
            other(format!(
                "linux.sysctl.{key}: writing {}: {e}",
                path.display()
            ))
        })?;
    }
    Ok(())
}

/// A fresh session keyring named after the container, as runc gives each container, so
/// containers do not share the host's keys.
fn join_session_keyring(id: &str) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = CString::new(format!("_ses.{id}")).unwrap_or_default();
    // SAFETY: keyctl with a valid C string argument.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        tracing::debug!(
            "joining a new session keyring: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Resolves `args[0]` with the container's PATH, so a missing program fails at create.
fn find_executable(process: &Process) -> Result<CString, InitError> {
    let arg0 = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .ok_or_else(|| other("process.args must not be empty"))?;
    let candidates: Vec<PathBuf> = if arg0.contains('/') {
        vec![PathBuf::from(arg0)]
    } else {
        let path = process
            .env()
            .as_ref()
            .and_then(|e| {
                e.iter()
                    .find_map(|kv| kv.strip_prefix("PATH=").map(str::to_string))
            })
            .unwrap_or_else(|| {
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()
            });
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(arg0))
            .collect()
    };
    for c in &candidates {
        let p = if c.is_relative() {
            process.cwd().join(c)
        } else {
            c.clone()
        };
        match std::fs::metadata(&p) {
            Ok(m) => {
                use std::os::unix::fs::PermissionsExt;
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    return CString::new(c.as_os_str().as_bytes())
                        .map_err(|e| other(e.to_string()));
                }
                // runc's words: podman maps them to exit status 126 and 127.
                if arg0.contains('/') {
                    return Err(other(format!("exec: {arg0:?}: permission denied")));
                }
            }
            Err(e) if arg0.contains('/') => {
                let reason = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => e.to_string(),
                };
                return Err(other(format!(
                    "exec: {arg0:?}: stat {}: {reason}",
                    c.display()
                )));
            }
            Err(_) => {}
        }
    }

    Err(other(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}
