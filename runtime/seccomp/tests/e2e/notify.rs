use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};

use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
use libtest_mimic::{Completion, Failed};
use serde_json::json;

use crate::support::{check, equal, TempDir, PROBE};

/// The probe loads a NOTIFY filter and sends the fd to our socket; we play the agent:
/// check the state it sent, receive the notification and answer getppid with 4242.
pub fn listener_answers() -> Result<(), Failed> {
    answer_with_flags(&[])
}

/// The same with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19), which only
/// changes how the waiting task takes signals; the exchange must work as before.
pub fn listener_answers_wait_killable() -> Result<Completion, Failed> {
    if !sangja_seccomp::features()
        .supported_flags()
        .iter()
        .flatten()
        .any(|f| f == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
    {
        return crate::skipped(
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs Linux 5.19 or libseccomp 2.6",
        );
    }
    answer_with_flags(&["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]).map(|()| Completion::Completed)
}

fn answer_with_flags(flags: &[&str]) -> Result<(), Failed> {
    let dir = TempDir::new("notify")?;
    let sock_path = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock_path).map_err(|e| format!("bind: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock_path,
        "listenerMetadata": "meta-1", "flags": flags,
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]});
    let file = dir.path().join("seccomp.json");
    std::fs::write(&file, serde_json::to_vec(&profile).unwrap()).map_err(|e| e.to_string())?;

    let mut child = Command::new(PROBE)
        .arg(&file)
        .args(["syscall", "getppid"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {PROBE}: {e}"))?;
    let result = agent(&listener, child.id());
    if result.is_err() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    result?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    check(out.status.success(), || {
        format!(
            "probe failed: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    check(stdout.contains("ret=4242 errno=0"), || {
        format!("probe saw: {stdout}")
    })
}

fn agent(listener: &UnixListener, pid: u32) -> Result<(), Failed> {
    // Wait for the probe's connection without blocking forever should it die first.
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    return Err("the probe exited before connecting".into());
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept: {e}").into()),
        }
    };
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    let (body, fd) = sangja_seccomp::listener::recv_fd(conn.as_fd()).map_err(|e| e.to_string())?;
    let state: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("state JSON: {e}"))?;
    equal(&state["fds"], &json!(["seccompFd"]), "fds")?;
    equal(&state["pid"], &json!(pid), "pid")?;
    equal(&state["metadata"], &json!("meta-1"), "metadata")?;
    equal(&state["ociVersion"], &json!("1.2.0"), "ociVersion")?;
    equal(
        &state["state"]["status"],
        &json!("creating"),
        "state.status",
    )?;
    equal(&state["state"]["pid"], &json!(pid), "state.pid")?;

    // Blocks until the probe calls getppid; fails with ENOENT should the probe die first.
    let req = ScmpNotifReq::receive(fd.as_raw_fd())
        .map_err(|e| format!("SECCOMP_IOCTL_NOTIF_RECV: {e}"))?;
    equal(req.pid, pid, "notification pid")?;
    equal(
        req.data.syscall,
        ScmpSyscall::from_name("getppid").unwrap(),
        "notified syscall",
    )?;
    ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
        .respond(fd.as_raw_fd())
        .map_err(|e| format!("SECCOMP_IOCTL_NOTIF_SEND: {e}").into())
}
