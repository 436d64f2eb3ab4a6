//! A process in the foreground of `run` or `exec`: signals forwarded to it, its terminal
//! relayed, its exit status returned (128+signal when killed).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct ForegroundError {
    what: &'static str,
    source: nix::Error,
}

pub struct Foreground {
    mask: SigSet,
}

impl Foreground {
    /// Blocks signals before anything starts, so none meant for the container is lost
    /// (the container init restores the mask before exec), and optionally becomes a
    /// subreaper so reparented processes of the container are reaped here.
    pub fn prepare(subreaper: bool) -> Result<Foreground, ForegroundError> {
        let mut mask = SigSet::all();
        mask.remove(Signal::SIGKILL);
        mask.remove(Signal::SIGSTOP);
        mask.thread_block().map_err(|source| ForegroundError {
            what: "blocking signals",
            source,
        })?;
        if subreaper {
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        }
        Ok(Foreground { mask })
    }

    /// Forwards signals to `pid` and relays its terminal until it exits; returns its status.
    pub fn wait(self, pid: Pid, master: Option<OwnedFd>) -> Result<i32, ForegroundError> {
        forward(pid, &self.mask, master)
    }
}

fn forward(pid: Pid, mask: &SigSet, master: Option<OwnedFd>) -> Result<i32, ForegroundError> {
    let sfd =
        SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC).map_err(|source| ForegroundError {
            what: "signalfd",
            source,
        })?;
    let stdin = std::io::stdin();
    let raw = master.as_ref().and_then(|m| make_raw(&stdin, m));
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut exit: Option<i32> = None;
    while exit.is_none() || master_open {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &master {
            if master_open {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            }
            if stdin_open && exit.is_none() {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        // Once the process is gone, drain what is left of its output, then stop.
        let timeout = if exit.is_some() {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) => break,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(source) => {
                return Err(ForegroundError {
                    what: "poll",
                    source,
                })
            }
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    reap(pid, &mut exit);
                } else if sig == libc::SIGWINCH {
                    if let Some(m) = &master {
                        give_callers_size(m.as_fd());
                    }
                } else {
                    let _ = nix::sys::signal::kill(pid, Signal::try_from(sig).ok());
                }
            }
        }
        let mut i = 1;
        if let Some(m) = &master {
            if master_open {
                if ready[i] && !copy(m.as_raw_fd(), 1) {
                    master_open = false;
                }
                i += 1;
            }
            if stdin_open
                && exit.is_none()
                && ready.get(i).copied().unwrap_or(false)
                && !copy(0, m.as_raw_fd())
            {
                stdin_open = false;
            }
        }
    }
    drop(raw);
    let _ = SigSet::all().thread_unblock();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    Ok(exit.unwrap_or(0))
}

fn reap(pid: Pid, exit: &mut Option<i32>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => *exit = Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => *exit = Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Copies what is readable from one descriptor to another; false at end of input.
fn copy(from: i32, to: i32) -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: read into a buffer we own.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted;
    }
    let mut off = 0;
    while off < n as usize {
        // SAFETY: write from a buffer we own.
        let w = unsafe { libc::write(to, buf[off..].as_ptr().cast(), n as usize - off) };
        if w <= 0 {
            return false;
        }
        off += w as usize;
    }
    true
}

/// Gives the container's pty the window size of the caller's terminal (our stdin), if it
/// has one. Done as soon as the master reaches the runtime, before the process runs, so
/// the process never starts on a 0x0 terminal, then again on every SIGWINCH.
pub fn give_callers_size(master: BorrowedFd) {
    if let Some((rows, cols)) = crate::tty::get_size(libc::STDIN_FILENO) {
        if rows > 0 && cols > 0 {
            let _ = crate::tty::set_size(master.as_raw_fd(), rows, cols);
        }
    }
}

/// The caller's terminal in raw mode for the relay; its modes come back when this is
/// dropped, on every way out of the relay.
struct RawMode<'a> {
    lock: std::io::StdinLock<'a>,
    saved: termios::Termios,
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.lock, termios::SetArg::TCSANOW, &self.saved);
    }
}

/// Puts the caller's terminal in raw mode for the relay; None when stdin is no terminal.
fn make_raw<'a>(stdin: &'a std::io::Stdin, master: &OwnedFd) -> Option<RawMode<'a>> {
    let lock = stdin.lock();
    let saved = termios::tcgetattr(&lock).ok()?;
    give_callers_size(master.as_fd());
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(&lock, termios::SetArg::TCSANOW, &raw).ok()?;
    Some(RawMode { lock, saved })
}
