//! Operations on a live container beyond the spec's five (runc's command
//! line, which containerd and podman drive): exec, pause/resume, ps.

use serde_json::{json, Value};

use crate::case::{Case, CaseError, CaseResult};
use crate::cases::util::{pid_dead, shell, sleeper, wait_dead};
use crate::cgroups;
use crate::harness::{Ctx, CHECKER};
use crate::report::Report;
use crate::{ensure, ensure_eq};

pub static CASES: &[Case] = &[
    Case {
        id: "events.oom",
        field: "events (oom) / linux.resources.memory.limit",
        needs: &[crate::host::Need::CgroupV1("memory")],
        note: None,
        run: events_oom,
    },
    Case {
        id: "pause.stops-a-counter",
        field: "pause / resume",
        needs: &[],
        note: None,
        run: pause_counter,
    },
    Case {
        id: "exec.joins-container",
        field: "exec",
        needs: &[],
        note: None,
        run: exec_joins,
    },
    Case {
        id: "exec.process-json",
        field: "exec --process",
        needs: &[],
        note: None,
        run: exec_process_json,
    },
    Case {
        id: "exec.exit-code",
        field: "exec",
        needs: &[],
        note: None,
        run: exec_exit_code,
    },
    Case {
        id: "exec.detach-pid-file",
        field: "exec --detach --pid-file",
        needs: &[],
        note: None,
        run: exec_detach,
    },
    Case {
        id: "exec.stopped",
        field: "exec",
        needs: &[],
        note: None,
        run: exec_stopped,
    },
    Case {
        id: "pause.resume",
        field: "pause/resume",
        needs: &[],
        note: None,
        run: pause_resume,
    },
    Case {
        id: "ps.json",
        field: "ps --format json",
        needs: &[],
        note: None,
        run: ps_json,
    },
    Case {
        id: "exec.flags",
        field: "exec --env/--cwd/--user/--additional-gids/--cap",
        needs: &[],
        note: None,
        run: exec_flags,
    },
    Case {
        id: "exec.process-caps-rlimits",
        field: "exec --process (capabilities, rlimits)",
        needs: &[],
        note: None,
        run: exec_process_caps,
    },
    Case {
        id: "pause.delete-force",
        field: "delete --force (paused)",
        needs: &[],
        note: None,
        run: delete_paused_force,
    },
    Case {
        id: "lifecycle.init-killed-externally",
        field: "state",
        needs: &[],
        note: None,
        run: init_killed_externally,
    },
    Case {
        id: "pause.illegal-transitions",
        field: "pause/resume/exec",
        needs: &[],
        note: None,
        run: pause_illegal,
    },
];

fn running(ctx: &mut Ctx) -> Result<(String, i32), CaseError> {
    let (id, pid) = ctx.create_ok(&sleeper())?;
    let out = ctx.start(&id)?;
    ensure!(out.ok(), "start failed: {}", out.describe());
    Ok((id, pid))
}

fn finish(ctx: &Ctx, id: &str) -> CaseResult {
    let out = ctx.delete(id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    Ok(())
}

fn exec_joins(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = running(ctx)?;
    let out = ctx.rt(&["exec", &id, CHECKER])?;
    ensure!(out.ok(), "exec failed: {}", out.describe());
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    for link in ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user"] {
        let want = crate::report::pid_ns(pid, link);
        ensure_eq!(
            r.ns(link),
            want.as_str(),
            format!("{link} namespace of the exec'd process")
        );
    }
    let init_cg: Vec<String> = cgroups::of_pid(pid).into_iter().map(|m| m.path).collect();
    let exec_cg: Vec<String> = r.0["cgroup"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["path"].as_str().unwrap_or("").to_string())
        .collect();
    ensure_eq!(exec_cg, init_cg, "cgroups of the exec'd process");
    ensure_eq!(r.status("NoNewPrivs"), "1", "NoNewPrivs");
    ensure_eq!(
        r.caps("CapEff"),
        crate::caps::sorted(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]),
        "CapEff"
    );
    ensure_eq!(
        r.env("PATH"),
        Some("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "PATH from the config"
    );
    let fds: Vec<String> = r.0["fds"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    ensure!(
        fds.iter().all(|f| ["0", "1", "2"].contains(&f.as_str())),
        "descriptors beyond stdio in the exec'd process: {}",
        r.0["fds"]
    );
    finish(ctx, &id)
}

fn exec_process_json(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = running(ctx)?;
    let p = ctx.dir.join("process.json");
    let process = json!({"terminal": false, "user": {"uid": 1000, "gid": 1000, "additionalGids": [2000]}, "args": [CHECKER], "env": ["PATH=/bin", "EXECVAR=yes"], "cwd": "/tmp", "noNewPrivileges": true});
    std::fs::write(&p, process.to_string()).map_err(|e| CaseError::Harness(e.to_string()))?;
    let out = ctx.rt(&["exec", "--process", &p.to_string_lossy(), &id])?;
    ensure!(out.ok(), "exec --process failed: {}", out.describe());
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    ensure_eq!(r.env("EXECVAR"), Some("yes"), "env EXECVAR");
    ensure_eq!(r.0["cwd"], Value::from("/tmp"), "cwd");
    ensure_eq!(
        r.status("Uid").split_whitespace().next(),
        Some("1000"),
        "uid"
    );
    ensure_eq!(r.status("Groups"), "2000", "supplementary groups");
    finish(ctx, &id)
}

fn exec_exit_code(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = running(ctx)?;
    let out = ctx.rt(&["exec", &id, "/bin/sh", "-c", "exit 5"])?;
    ensure_eq!(
        out.code,
        Some(5),
        format!("exit code of exec ({})", out.stderr.trim())
    );
    finish(ctx, &id)
}

fn exec_detach(ctx: &mut Ctx) -> CaseResult {
    let (id, init) = running(ctx)?;
    let pidfile = ctx.dir.join("exec.pid");
    let out = ctx.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        &pidfile.to_string_lossy(),
        &id,
        "/bin/sleep",
        "1000",
    ])?;
    ensure!(out.ok(), "exec --detach failed: {}", out.describe());
    let text = std::fs::read_to_string(&pidfile).unwrap_or_default();
    let Ok(pid) = text.trim().parse::<i32>() else {
        crate::fail!("pid file holds {text:?}");
    };
    ensure!(!pid_dead(pid), "exec'd process {pid} not alive");
    let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    ensure_eq!(ns(pid), ns(init), "pid namespace of the detached exec");
    finish(ctx, &id)?;
    wait_dead(pid)
}

fn exec_stopped(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&shell("exit 0"))?;
    ensure!(ctx.start(&id)?.ok(), "start failed");
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.rt(&["exec", &id, "/bin/true"])?;
    ensure!(!out.ok(), "exec into a stopped container succeeded");
    ensure!(
        !out.stderr.trim().is_empty(),
        "exec failed without a message"
    );
    let out = ctx.delete(&id, false)?;
    ensure!(out.ok(), "delete failed: {}", out.describe());
    Ok(())
}

fn pause_resume(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = running(ctx)?;
    let out = ctx.rt(&["pause", &id])?;
    ensure!(out.ok(), "pause failed: {}", out.describe());
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("paused"),
        "status after pause"
    );
    if let Ok(st) = cgroups::read(pid, "freezer", "freezer.state") {
        ensure_eq!(st, "FROZEN", "freezer.state after pause");
    }
    let out = ctx.rt(&["resume", &id])?;
    ensure!(out.ok(), "resume failed: {}", out.describe());
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("running"),
        "status after resume"
    );
    if let Ok(st) = cgroups::read(pid, "freezer", "freezer.state") {
        ensure_eq!(st, "THAWED", "freezer.state after resume");
    }
    finish(ctx, &id)
}

fn ps_json(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = running(ctx)?;
    let out = ctx.rt(&["ps", "--format", "json", &id])?;
    ensure!(out.ok(), "ps failed: {}", out.describe());
    let pids: Vec<i64> = serde_json::from_str(out.stdout.trim()).map_err(|e| {
        CaseError::Fail(format!(
            "ps output is not a JSON array of pids ({e}): {:?}",
            out.stdout
        ))
    })?;
    ensure_eq!(pids, vec![pid as i64], "pids of the container");
    finish(ctx, &id)
}

fn exec_flags(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = running(ctx)?;
    let out = ctx.rt(&[
        "exec",
        "--env",
        "FLAGVAR=set",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        "--additional-gids",
        "2000",
        "--cap",
        "CAP_CHOWN",
        &id,
        CHECKER,
    ])?;
    ensure!(out.ok(), "exec with flags failed: {}", out.describe());
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    ensure_eq!(r.env("FLAGVAR"), Some("set"), "--env");
    ensure_eq!(r.0["cwd"], Value::from("/tmp"), "--cwd");
    ensure_eq!(
        r.status("Uid").split_whitespace().next(),
        Some("1000"),
        "--user uid"
    );
    ensure_eq!(
        r.status("Gid").split_whitespace().next(),
        Some("1000"),
        "--user gid"
    );
    ensure_eq!(r.status("Groups"), "2000", "--additional-gids");
    ensure!(
        r.caps("CapBnd").contains(&"CAP_CHOWN".to_string()),
        "--cap CAP_CHOWN not in the bounding set: {:?}",
        r.caps("CapBnd")
    );
    finish(ctx, &id)
}

fn exec_process_caps(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = running(ctx)?;
    let p = ctx.dir.join("process.json");
    let caps = ["CAP_KILL", "CAP_SYS_CHROOT"];
    let process = json!({
        "terminal": false, "user": {"uid": 0, "gid": 0}, "args": [CHECKER], "env": ["PATH=/bin"], "cwd": "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512}],
        "noNewPrivileges": true
    });
    std::fs::write(&p, process.to_string()).map_err(|e| CaseError::Harness(e.to_string()))?;
    let out = ctx.rt(&["exec", "--process", &p.to_string_lossy(), &id])?;
    ensure!(out.ok(), "exec --process failed: {}", out.describe());
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    ensure_eq!(
        r.caps("CapBnd"),
        crate::caps::sorted(&caps),
        "CapBnd of the exec'd process"
    );
    ensure_eq!(
        r.caps("CapEff"),
        crate::caps::sorted(&caps),
        "CapEff of the exec'd process"
    );
    ensure_eq!(
        r.rlimit("RLIMIT_NOFILE"),
        (Value::from(256), Value::from(512)),
        "RLIMIT_NOFILE of the exec'd process"
    );
    finish(ctx, &id)
}

fn delete_paused_force(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = running(ctx)?;
    let out = ctx.rt(&["pause", &id])?;
    ensure!(out.ok(), "pause failed: {}", out.describe());
    let out = ctx.delete(&id, true)?;
    ensure!(
        out.ok(),
        "delete --force of a paused container failed: {}",
        out.describe()
    );
    wait_dead(pid)?;
    let st = ctx.rt(&["state", &id])?;
    ensure!(!st.ok(), "state still answers after delete --force");
    Ok(())
}

/// The init killed from outside the runtime: state says stopped, delete works.
fn init_killed_externally(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = running(ctx)?;
    // SAFETY: kill takes integers; pid is this case's container init.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    wait_dead(pid)?;
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.delete(&id, false)?;
    ensure!(
        out.ok(),
        "delete after the init was killed failed: {}",
        out.describe()
    );
    Ok(())
}

/// resume of a running container and exec into a paused one are refused and
/// leave the state as it was. (Pausing a created container is allowed: runc
/// freezes it; the spec does not define pause.)
fn pause_illegal(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&sleeper())?;
    ensure!(ctx.start(&id)?.ok(), "start failed");
    let out = ctx.rt(&["resume", &id])?;
    ensure!(!out.ok(), "resume of a running container succeeded");
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("running"),
        "status after the refused resume"
    );
    ensure!(ctx.rt(&["pause", &id])?.ok(), "pause failed");
    let out = ctx.rt(&["exec", &id, "/bin/true"])?;
    ensure!(
        !out.ok(),
        "exec into a paused container succeeded (without --ignore-paused)"
    );
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("paused"),
        "status after the refused exec"
    );
    finish(ctx, &id)
}

/// A process over the container's memory limit is OOM-killed and `events` reports it.
fn events_oom(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    let limit = 32 * 1024 * 1024;
    cfg.set(
        "/linux/resources/memory",
        json!({"limit": limit, "swap": limit}),
    );
    let (id, _) = ctx.create_ok(&cfg)?;
    let out = ctx.start(&id)?;
    ensure!(out.ok(), "start failed: {}", out.describe());
    let log = ctx.dir.join(format!("{id}.events"));
    let file = std::fs::File::create(&log).map_err(|e| CaseError::Harness(e.to_string()))?;
    let mut events = std::process::Command::new(&ctx.runtime.path)
        .arg("--root")
        .arg(&ctx.root)
        .args(["events", "--interval", "1s", &id])
        .stdout(file)
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| CaseError::Harness(format!("starting events: {e}")))?;
    // `tail` keeps a line in memory until it sees a newline; /dev/zero has none.
    let out = ctx.rt(&["exec", &id, "/bin/tail", "/dev/zero"]);
    let mut seen = false;
    for _ in 0..100 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().any(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v["type"] == "oom" && v["id"] == id.as_str())
        }) {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = events.kill();
    let _ = events.wait();
    let out = out?;
    ensure!(
        !out.ok(),
        "the memory hog was not killed: {}",
        out.describe()
    );
    ensure!(
        seen,
        "events printed no oom line: {:?}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    finish(ctx, &id)
}

/// Frozen processes do not run: a counter stands still while paused and moves on resume.
fn pause_counter(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = shell(
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/counter; done",
    );
    cfg.set("/root/readonly", json!(false));
    let (id, bundle, out) = ctx.create(&cfg)?;
    ensure!(out.ok(), "create failed: {}", out.describe());
    let out = ctx.start(&id)?;
    ensure!(out.ok(), "start failed: {}", out.describe());
    let counter = bundle.join("rootfs/tmp/counter");
    let read = || -> Option<u64> { std::fs::read_to_string(&counter).ok()?.trim().parse().ok() };
    let settle = || std::thread::sleep(std::time::Duration::from_millis(300));
    settle();
    let out = ctx.rt(&["pause", &id])?;
    ensure!(out.ok(), "pause failed: {}", out.describe());
    let a = read();
    settle();
    let b = read();
    ensure!(
        a.is_some() && a == b,
        "the counter moved while paused: {a:?} then {b:?}"
    );
    let out = ctx.rt(&["resume", &id])?;
    ensure!(out.ok(), "resume failed: {}", out.describe());
    settle();
    let c = read();
    ensure!(
        c > b,
        "the counter did not move after resume: {b:?} then {c:?}"
    );
    finish(ctx, &id)
}
