//! The runtime's side of starting an init: fork, re-exec from the protected executable,
//! and hand over the channel.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::unistd::{fork, ForkResult, Pid};

use super::channel::Channel;
use super::INIT_FD_ENV;
use crate::syscall;

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("creating the init channel: {0}")]
    Channel(std::io::Error),
    #[error("forking the init process: {0}")]
    Fork(nix::Error),
}

/// Forks a child that re-executes `exe` as `sangja init`. Returns the child's pid and our
/// end of the channel. The child keeps stdio and every descriptor not marked close-on-exec
/// (the caller's `--preserve-fds` range among them).
pub fn spawn_init(exe: &OwnedFd) -> Result<(Pid, Channel), SpawnError> {
    let (parent, child) = Channel::pair().map_err(SpawnError::Channel)?;
    let child_fd = child.raw_fd();
    let argv = [
        CString::new("sangja").expect("static"),
        CString::new("init").expect("static"),
    ];
    let envp = [CString::new(format!("{INIT_FD_ENV}={child_fd}")).expect("no NUL in a number")];
    // SAFETY: the runtime is single-threaded, so the child may do anything before exec;
    // it only clears one descriptor flag and execs.
    match unsafe { fork() }.map_err(SpawnError::Fork)? {
        ForkResult::Child => {
            let _ = fcntl(child.raw_fd_borrowed(), FcntlArg::F_SETFD(FdFlag::empty()));
            let errno = syscall::execveat_fd(exe.as_fd(), &argv, &envp);
            let msg = format!("sangja init: exec of the runtime failed: {errno}\n");
            // SAFETY: write to stderr from the child before _exit; nothing else runs.
            unsafe {
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(127)
            }
        }
        ForkResult::Parent { child: pid } => {
            drop(child);
            Ok((pid, parent))
        }
    }
}
