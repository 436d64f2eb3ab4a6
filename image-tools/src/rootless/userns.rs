//! Work that must happen as the container's ids rather than the caller's: unpacking a
//! root whose files belong to subordinate ids, and removing it again (the caller cannot
//! delete inside directories a subordinate id owns). `sangja-image` runs itself (the
//! hidden `userns-helper` command) in a new user namespace: the child unshares it and
//! says so on one pipe, the parent writes its maps with newuidmap/newgidmap (a process
//! cannot map subordinate ids into its own namespace) and lets it go on the other; the
//! child is then uid 0 there, with the namespace's capabilities, and chown to an image
//! id N makes the file the host id N maps to. A fresh exec, never a fork of this
//! (possibly threaded) process: unshare(CLONE_NEWUSER) needs a single thread.

use super::{IdRange, Mapping, RootlessError};
use nix::fcntl::OFlag;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The hidden command the helper runs as.
pub const COMMAND: &str = "userns-helper";

fn helper_err(what: &str) -> impl Fn(String) -> RootlessError + '_ {
    move |msg| RootlessError::Helper {
        what: what.to_string(),
        msg,
    }
}

/// Runs `sangja-image [--store STORE] userns-helper ... OP` in a user namespace with
/// `mapping`; `what` names the work in errors. Fails with the helper's own stderr.
pub fn run_helper(
    mapping: &Mapping,
    store: Option<&Path>,
    op: &[OsString],
    what: &str,
) -> Result<(), RootlessError> {
    let err = helper_err(what);
    let exe = std::env::current_exe().map_err(|e| err(format!("finding sangja-image: {e}")))?;
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| err(format!("pipe: {e}")));
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let inherit = [ready_w.as_raw_fd(), go_r.as_raw_fd()];
    let mut cmd = Command::new(&exe);
    if let Some(store) = store {
        cmd.arg("--store").arg(store);
    }
    cmd.arg(COMMAND)
        .arg("--ready-fd")
        .arg(inherit[0].to_string())
        .arg("--go-fd")
        .arg(inherit[1].to_string())
        .args(op)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only fcntl, which is async-signal-safe; it keeps the
    // child's two pipe ends open across its exec.
    unsafe {
        cmd.pre_exec(move || {
            for fd in inherit {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| err(format!("starting {}: {e}", exe.display())))?;
    drop((ready_w, go_r));
    let pid = child.id();
    let mapped = (|| {
        let mut byte = [0u8; 1];
        let n = File::from(ready_r).read(&mut byte).unwrap_or(0);
        if n != 1 {
            return Err(None);
        }
        write_maps(pid, mapping).map_err(Some)?;
        let mut go = File::from(go_w);
        go.write_all(b"g").map_err(|_| None)
    })();
    // On failure the go pipe is closed unwritten: the helper reads EOF and exits.
    let out = child
        .wait_with_output()
        .map_err(|e| err(format!("waiting for it: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match mapped {
        Err(Some(e)) => Err(e),
        Err(None) => Err(err(format!(
            "it exited ({}) before mapping: {stderr}",
            out.status
        ))),
        Ok(()) if !out.status.success() => Err(err(format!("{}: {stderr}", out.status))),
        Ok(()) => {
            // Its warnings (device nodes skipped) are the user's to see.
            if !stderr.is_empty() {
                eprintln!("{stderr}");
            }
            Ok(())
        }
    }
}

fn write_maps(pid: u32, mapping: &Mapping) -> Result<(), RootlessError> {
    map_with_tool("newuidmap", pid, &mapping.uids)?;
    map_with_tool("newgidmap", pid, &mapping.gids)
}

fn map_with_tool(tool: &'static str, pid: u32, maps: &[IdRange]) -> Result<(), RootlessError> {
    let mut cmd = Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container.to_string(),
            m.host.to_string(),
            m.size.to_string(),
        ]);
    }
    let err = |msg: String| RootlessError::MapTool { tool, pid, msg };
    let out = cmd.output().map_err(|e| {
        err(if e.kind() == std::io::ErrorKind::NotFound {
            "not found: mapping subordinate ids needs it (apt uidmap)".into()
        } else {
            e.to_string()
        })
    })?;
    if !out.status.success() {
        return Err(err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The helper's side, first thing in the process: a new user namespace, announced on
/// `ready_fd`, then waiting on `go_fd` until the parent has mapped it.
pub fn enter(ready_fd: RawFd, go_fd: RawFd) -> Result<(), RootlessError> {
    let err = helper_err("entering the namespace");
    // SAFETY: the two descriptors are the pipe ends run_helper left open for us; nothing
    // else in this process owns them.
    let (ready, go) = unsafe { (OwnedFd::from_raw_fd(ready_fd), OwnedFd::from_raw_fd(go_fd)) };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|e| err(format!("unshare(CLONE_NEWUSER): {e}")))?;
    File::from(ready)
        .write_all(b"u")
        .map_err(|e| err(format!("telling the parent: {e}")))?;
    let mut byte = [0u8; 1];
    match File::from(go).read(&mut byte) {
        Ok(1) => Ok(()),
        _ => Err(err("the parent did not map the namespace".into())),
    }
}
