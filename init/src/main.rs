//! `sangja-init [--] CMD [ARG...]`: PID 1 of a `run --init` container, as docker's tini.
//!
//! Every signal is blocked here and waited for with sigwaitinfo: SIGCHLD reaps every
//! exited child (the command's and the orphans the kernel hands to PID 1), any other
//! signal sent to us (by `stop`/`kill`, from outside) goes on to the command. A signal
//! the terminal raised (Ctrl-C: si_code SI_KERNEL) already reached the command, which
//! shares our foreground process group, and is not sent twice. When the command exits,
//! so do we, with its status (128+N when signal N killed it).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("sangja-init: usage: sangja-init [--] CMD [ARG...]");
        exit(1);
    }
    // SAFETY: plain signal-mask calls on this thread (the only one) with local sets.
    let all = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        all
    };
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]);
    // SAFETY: only async-signal-safe calls between fork and exec: the command starts
    // with nothing blocked (std resets the mask too; this says it where it matters).
    unsafe {
        cmd.pre_exec(|| {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c.id() as libc::pid_t,
        Err(e) => {
            eprintln!("sangja-init: exec {:?}: {e}", args[0]);
            exit(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    loop {
        // SAFETY: sigwaitinfo into a local siginfo.
        let (sig, code) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            (sig, info.si_code)
        };
        if sig < 0 {
            continue;
        }
        if sig == libc::SIGCHLD {
            if let Some(status) = reap(child) {
                exit(status);
            }
        } else if code != libc::SI_KERNEL {
            // SAFETY: kill(2) of our own child, which we have not reaped yet.
            unsafe {
                libc::kill(child, sig);
            }
        }
    }
}

/// Reaps every exited child; the command's exit status once it is among them.
fn reap(child: libc::pid_t) -> Option<i32> {
    let mut result = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid into a local int.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return result;
        }
        if pid == child {
            if libc::WIFEXITED(status) {
                result = Some(libc::WEXITSTATUS(status));
            } else if libc::WIFSIGNALED(status) {
                result = Some(128 + libc::WTERMSIG(status));
            }
        }
    }
}
