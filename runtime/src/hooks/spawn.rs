//! Starting a hook process with the plainest system calls: pipe2, fork (the clone
//! system call), dup2, execve.
//!
//! startContainer hooks run inside the container under its seccomp filter, as runc runs
//! them. std's Command cannot be used there: it spawns through posix_spawn (glibc runs
//! that on clone3 and falls back to clone only on ENOSYS) or, in its fork path, asks for
//! a socketpair first, and a profile written before those calls were common denies them
//! with EPERM. Everything the child needs is prepared before the fork, so the child only
//! makes async-signal-safe calls.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use oci_spec::runtime::Hook;

/// A started hook: its pid and the parent's ends of its stdin, stdout and stderr.
pub(super) struct Spawned {
    pub pid: Pid,
    pub stdin: Option<File>,
    pub stdout: Option<File>,
    pub stderr: Option<File>,
}

fn cstring(what: &str, bytes: &[u8]) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| format!("{what} holds a NUL byte"))
}

/// Forks and executes the hook with its args (args[0] is argv[0]; the path when there
/// are none) and env (the runtime's own environment when the hook has none).
pub(super) fn spawn(h: &Hook) -> Result<Spawned, String> {
    let path = cstring("path", h.path().as_os_str().as_bytes())?;
    let argv: Vec<CString> = match h.args().as_deref() {
        Some(args) if !args.is_empty() => args
            .iter()
            .map(|a| cstring("args", a.as_bytes()))
            .collect::<Result<_, _>>()?,
        _ => vec![path.clone()],
    };
    let envp: Vec<CString> = match h.env() {
        Some(env) => env
            .iter()
            .map(|kv| cstring("env", kv.as_bytes()))
            .collect::<Result<_, _>>()?,
        None => std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                cstring("the runtime's environment", &kv)
            })
            .collect::<Result<_, _>>()?,
    };
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv_p, envp_p) = (ptrs(&argv), ptrs(&envp));
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("starting: pipe: {e}"));
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // The child writes its errno here when execve fails; a successful exec closes it.
    let (exec_r, exec_w) = pipe()?;
    let stdio = [(&in_r, 0), (&out_w, 1), (&err_w, 2)];
    // SAFETY: the child makes only async-signal-safe calls (sigprocmask, signal, dup2,
    // fcntl, execve, write, _exit) on memory prepared before the fork.
    match unsafe { fork() }.map_err(|e| format!("starting: fork: {e}"))? {
        ForkResult::Child => unsafe {
            // The runtime ignores SIGPIPE and `run` blocks signals: not so the hook.
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            for (fd, target) in stdio {
                let fd = fd.as_raw_fd();
                if fd == target {
                    libc::fcntl(fd, libc::F_SETFD, 0);
                } else {
                    libc::dup2(fd, target);
                }
            }
            libc::execve(path.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr());
            let errno = Errno::last_raw().to_ne_bytes();
            libc::write(exec_w.as_raw_fd(), errno.as_ptr().cast(), errno.len());
            libc::_exit(127)
        },
        ForkResult::Parent { child } => {
            drop((in_r, out_w, err_w, exec_w));
            let mut errno = [0u8; 4];
            let mut exec_r = File::from(exec_r);
            if let Ok(4) = read_full(&mut exec_r, &mut errno) {
                let _ = waitpid(child, None);
                let e = std::io::Error::from_raw_os_error(i32::from_ne_bytes(errno));
                return Err(format!("starting: {e}"));
            }
            let file = |fd: OwnedFd| Some(File::from(fd));
            Ok(Spawned {
                pid: child,
                stdin: file(in_w),
                stdout: file(out_r),
                stderr: file(err_r),
            })
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Spawned {
    /// The exit status once the hook has ended, without waiting.
    pub fn try_wait(&self) -> Result<Option<WaitStatus>, String> {
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => Ok(None),
            Ok(s) => Ok(Some(s)),
            Err(Errno::EINTR) => Ok(None),
            Err(e) => Err(format!("waiting for the hook: {e}")),
        }
    }

    /// SIGKILL and reap (a hook past its timeout).
    pub fn kill(&self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// The status as std words it ("exit status: 3", "signal: 9 (SIGKILL)"), for messages.
pub(super) fn describe(s: WaitStatus) -> Option<String> {
    match s {
        WaitStatus::Exited(_, 0) => None,
        WaitStatus::Exited(_, code) => Some(format!("exit status: {code}")),
        WaitStatus::Signaled(_, sig, _) => Some(format!("signal: {} ({sig:?})", sig as i32)),
        other => Some(format!("{other:?}")),
    }
}
