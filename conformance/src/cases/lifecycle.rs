//! The lifecycle: every state transition, the errors for illegal ones (runc's
//! strings, which containerd and podman match on), kill's signal forms,
//! delete with and without --force, and the `state` JSON.

use serde_json::Value;

use crate::case::{Case, CaseResult};
use crate::cases::util::{expect_error, pid_dead, share_dir, shell, sleeper, wait_dead, wait_file};
use crate::harness::Ctx;
use crate::{ensure, ensure_eq};

const DELETE_NOTE: &str = "spec: deleting a container that is not stopped MUST fail; runc deletes a created one without --force and containerd's shim relies on it (created-task delete passes no --force), so runc's behaviour is expected";

pub static CASES: &[Case] = &[
    Case {
        id: "lifecycle.create-start-delete",
        field: "lifecycle",
        needs: &[],
        note: None,
        run: create_start_delete,
    },
    Case {
        id: "lifecycle.state-shape",
        field: "state",
        needs: &[],
        note: None,
        run: state_shape,
    },
    Case {
        id: "lifecycle.created-waits-for-start",
        field: "lifecycle (create/start)",
        needs: &[],
        note: None,
        run: created_waits,
    },
    Case {
        id: "lifecycle.run-exit-code",
        field: "run",
        needs: &[],
        note: None,
        run: run_exit_code,
    },
    Case {
        id: "lifecycle.run-detached",
        field: "run --detach",
        needs: &[],
        note: None,
        run: run_detached,
    },
    Case {
        id: "lifecycle.stopped-on-exit",
        field: "lifecycle (exit)",
        needs: &[],
        note: None,
        run: stopped_on_exit,
    },
    Case {
        id: "lifecycle.duplicate-id",
        field: "create (id)",
        needs: &[],
        note: None,
        run: duplicate_id,
    },
    Case {
        id: "lifecycle.unknown-id",
        field: "state/start/kill/delete",
        needs: &[],
        note: None,
        run: unknown_id,
    },
    Case {
        id: "lifecycle.start-running",
        field: "start",
        needs: &[],
        note: None,
        run: start_running,
    },
    Case {
        id: "lifecycle.start-stopped",
        field: "start",
        needs: &[],
        note: None,
        run: start_stopped,
    },
    Case {
        id: "lifecycle.kill-stopped",
        field: "kill",
        needs: &[],
        note: None,
        run: kill_stopped,
    },
    Case {
        id: "lifecycle.kill-signal-forms",
        field: "kill SIGNAL",
        needs: &[],
        note: None,
        run: kill_forms,
    },
    Case {
        id: "lifecycle.kill-default-term",
        field: "kill",
        needs: &[],
        note: None,
        run: kill_default,
    },
    Case {
        id: "lifecycle.kill-created",
        field: "kill",
        needs: &[],
        note: None,
        run: kill_created,
    },
    Case {
        id: "lifecycle.kill-bad-signal",
        field: "kill SIGNAL",
        needs: &[],
        note: None,
        run: kill_bad_signal,
    },
    Case {
        id: "lifecycle.delete-created",
        field: "delete",
        needs: &[],
        note: Some(DELETE_NOTE),
        run: delete_created,
    },
    Case {
        id: "lifecycle.delete-created-force",
        field: "delete --force",
        needs: &[],
        note: None,
        run: delete_created_force,
    },
    Case {
        id: "lifecycle.delete-running",
        field: "delete",
        needs: &[],
        note: None,
        run: delete_running,
    },
    Case {
        id: "lifecycle.delete-running-force",
        field: "delete --force",
        needs: &[],
        note: None,
        run: delete_running_force,
    },
    Case {
        id: "lifecycle.delete-stopped",
        field: "delete",
        needs: &[],
        note: None,
        run: delete_stopped,
    },
    Case {
        id: "lifecycle.delete-stopped-force",
        field: "delete --force",
        needs: &[],
        note: None,
        run: delete_stopped_force,
    },
];

fn must(out: crate::runtime::CmdOutput, what: &str) -> CaseResult {
    ensure!(out.ok(), "{what} failed: {}", out.describe());
    Ok(())
}

fn gone(ctx: &Ctx, id: &str) -> CaseResult {
    let st = ctx.rt(&["state", id])?;
    expect_error(&st, "does not exist")
}

fn create_start_delete(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = ctx.create_ok(&sleeper())?;
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("created"),
        "status after create"
    );
    ensure!(
        pid > 0 && !pid_dead(pid),
        "init pid {pid} not alive after create"
    );
    must(ctx.start(&id)?, "start")?;
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("running"),
        "status after start"
    );
    must(ctx.kill(&id, "KILL")?, "kill KILL")?;
    let st = ctx.wait_status(&id, "stopped")?;
    ensure_eq!(st["id"], Value::from(id.clone()), "state id once stopped");
    must(ctx.delete(&id, false)?, "delete of a stopped container")?;
    gone(ctx, &id)?;
    wait_dead(pid)
}

fn state_shape(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set(
        "/annotations",
        serde_json::json!({"org.example.key": "value"}),
    );
    let (id, b, out) = ctx.create(&cfg)?;
    must(out, "create")?;
    let st = ctx.state(&id)?;
    ensure!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "ociVersion missing: {st}"
    );
    ensure_eq!(st["id"], Value::from(id.clone()), "id");
    ensure_eq!(st["status"], Value::from("created"), "status");
    ensure!(
        st["pid"].as_i64().is_some_and(|p| p > 0),
        "pid missing: {st}"
    );
    let bundle = b.canonicalize().unwrap_or(b.clone());
    ensure_eq!(
        st["bundle"].as_str().unwrap_or(""),
        bundle.to_string_lossy(),
        "bundle (absolute path)"
    );
    ensure_eq!(
        st["annotations"]["org.example.key"],
        Value::from("value"),
        "annotations"
    );
    must(ctx.delete(&id, true)?, "delete --force")?;
    Ok(())
}

/// After create the user process has not run; start runs it.
fn created_waits(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = shell("echo started > /shared/mark; exec sleep 1000");
    let shared = share_dir(&ctx.dir, &mut cfg, "shared")?;
    let (id, _) = ctx.create_ok(&cfg)?;
    // Give a wrongly started process a moment to show itself: a state check,
    // not a timing assertion (the case passes however long start takes).
    std::thread::sleep(std::time::Duration::from_millis(200));
    ensure!(
        !shared.join("mark").exists(),
        "the user process ran before start"
    );
    must(ctx.start(&id)?, "start")?;
    ensure_eq!(
        wait_file(&shared.join("mark"))?.trim(),
        "started",
        "mark written by the process"
    );
    must(ctx.delete(&id, true)?, "delete --force")
}

fn run_exit_code(ctx: &mut Ctx) -> CaseResult {
    let (id, out) = ctx.run(&shell("exit 7"))?;
    ensure_eq!(
        out.code,
        Some(7),
        format!("exit code of run ({})", out.stderr.trim())
    );
    gone(ctx, &id)
}

fn run_detached(ctx: &mut Ctx) -> CaseResult {
    let b = ctx.bundle(&sleeper())?;
    let id = ctx.new_id();
    must(
        ctx.rt(&["run", "--detach", "--bundle", &b.to_string_lossy(), &id])?,
        "run --detach",
    )?;
    let st = ctx.state(&id)?;
    ensure_eq!(
        st["status"],
        Value::from("running"),
        "status after run --detach"
    );
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    must(ctx.kill(&id, "KILL")?, "kill")?;
    ctx.wait_status(&id, "stopped")?;
    must(ctx.delete(&id, false)?, "delete")?;
    wait_dead(pid)
}

fn stopped_on_exit(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = ctx.create_ok(&shell("exit 0"))?;
    must(ctx.start(&id)?, "start")?;
    ctx.wait_status(&id, "stopped")?;
    wait_dead(pid)?;
    must(ctx.delete(&id, false)?, "delete")
}

fn duplicate_id(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&sleeper())?;
    let b = ctx.bundle(&sleeper())?;
    let out = ctx.rt(&["create", "--bundle", &b.to_string_lossy(), &id])?;
    expect_error(&out, "container with given ID already exists")?;
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("created"),
        "first container's status after the refused create"
    );
    must(ctx.delete(&id, true)?, "delete --force")
}

fn unknown_id(ctx: &mut Ctx) -> CaseResult {
    let id = "sangja-conformance-no-such-container";
    for args in [
        vec!["state", id],
        vec!["start", id],
        vec!["kill", id, "KILL"],
        vec!["delete", id],
    ] {
        let out = ctx.rt(&args)?;
        expect_error(&out, "container does not exist")?;
    }
    Ok(())
}

fn start_running(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&sleeper())?;
    must(ctx.start(&id)?, "start")?;
    expect_error(
        &ctx.start(&id)?,
        "cannot start an already running container",
    )?;
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("running"),
        "status after the refused start"
    );
    must(ctx.delete(&id, true)?, "delete --force")
}

fn start_stopped(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&shell("exit 0"))?;
    must(ctx.start(&id)?, "start")?;
    ctx.wait_status(&id, "stopped")?;
    expect_error(
        &ctx.start(&id)?,
        "cannot start a container that has stopped",
    )?;
    must(ctx.delete(&id, false)?, "delete")
}

fn kill_stopped(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&shell("exit 0"))?;
    must(ctx.start(&id)?, "start")?;
    ctx.wait_status(&id, "stopped")?;
    expect_error(&ctx.kill(&id, "KILL")?, "container not running")?;
    must(ctx.delete(&id, false)?, "delete")
}

/// A container whose init traps `sig` and writes its name to /shared/got.
/// PID 1 of a pid namespace only receives signals it handles, hence the trap.
fn trapping(
    ctx: &mut Ctx,
    sig: &str,
) -> Result<(String, std::path::PathBuf), crate::case::CaseError> {
    let mut cfg = shell(&format!("trap 'echo {sig} > /shared/got; exit 0' {sig}; echo ready > /shared/ready; while :; do sleep 0.05; done"));
    let shared = share_dir(&ctx.dir, &mut cfg, "shared")?;
    let (id, _) = ctx.create_ok(&cfg)?;
    must(ctx.start(&id)?, "start")?;
    wait_file(&shared.join("ready"))?;
    Ok((id, shared))
}

fn kill_forms(ctx: &mut Ctx) -> CaseResult {
    for form in ["USR1", "SIGUSR1", "10", "HUP", "SIGHUP", "1"] {
        let sig = match form {
            "USR1" | "SIGUSR1" | "10" => "USR1",
            _ => "HUP",
        };
        let (id, shared) = trapping(ctx, sig)?;
        must(ctx.kill(&id, form)?, &format!("kill {form}"))?;
        let got = wait_file(&shared.join("got"))?;
        ensure_eq!(
            got.trim(),
            sig,
            format!("signal the container received for `kill {form}`")
        );
        ctx.wait_status(&id, "stopped")?;
        must(ctx.delete(&id, false)?, "delete")?;
    }
    for form in ["KILL", "SIGKILL", "9"] {
        let (id, pid) = ctx.create_ok(&sleeper())?;
        must(ctx.start(&id)?, "start")?;
        must(ctx.kill(&id, form)?, &format!("kill {form}"))?;
        ctx.wait_status(&id, "stopped")?;
        wait_dead(pid)?;
        must(ctx.delete(&id, false)?, "delete")?;
    }
    Ok(())
}

fn kill_default(ctx: &mut Ctx) -> CaseResult {
    let (id, shared) = trapping(ctx, "TERM")?;
    must(ctx.rt(&["kill", &id])?, "kill without a signal")?;
    ensure_eq!(
        wait_file(&shared.join("got"))?.trim(),
        "TERM",
        "signal of a bare kill"
    );
    ctx.wait_status(&id, "stopped")?;
    must(ctx.delete(&id, false)?, "delete")
}

/// kill of a created container signals its init (runc and the spec agree).
fn kill_created(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = ctx.create_ok(&sleeper())?;
    must(ctx.kill(&id, "KILL")?, "kill of a created container")?;
    ctx.wait_status(&id, "stopped")?;
    wait_dead(pid)?;
    must(ctx.delete(&id, false)?, "delete")
}

fn kill_bad_signal(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&sleeper())?;
    must(ctx.start(&id)?, "start")?;
    for bad in ["SIGNOPE", "NOPE", "99999", "-1"] {
        let out = ctx.kill(&id, bad)?;
        ensure!(!out.ok(), "kill {bad} succeeded");
        ensure!(
            !out.stderr.trim().is_empty(),
            "kill {bad} failed without a message"
        );
    }
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("running"),
        "status after the refused kills"
    );
    must(ctx.delete(&id, true)?, "delete --force")
}

/// A created container (never started) is deleted without --force, its init
/// killed, as runc does (see the note).
fn delete_created(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = ctx.create_ok(&sleeper())?;
    must(ctx.delete(&id, false)?, "delete of a created container")?;
    gone(ctx, &id)?;
    wait_dead(pid)
}

fn delete_created_force(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = ctx.create_ok(&sleeper())?;
    must(
        ctx.delete(&id, true)?,
        "delete --force of a created container",
    )?;
    gone(ctx, &id)?;
    wait_dead(pid)
}

fn delete_running(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = ctx.create_ok(&sleeper())?;
    must(ctx.start(&id)?, "start")?;
    let out = ctx.delete(&id, false)?;
    ensure!(
        !out.ok(),
        "delete of a running container without --force succeeded"
    );
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("running"),
        "status after the refused delete"
    );
    ensure!(!pid_dead(pid), "process died after the refused delete");
    must(ctx.delete(&id, true)?, "delete --force")?;
    wait_dead(pid)
}

fn delete_running_force(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = ctx.create_ok(&sleeper())?;
    must(ctx.start(&id)?, "start")?;
    must(
        ctx.delete(&id, true)?,
        "delete --force of a running container",
    )?;
    gone(ctx, &id)?;
    wait_dead(pid)
}

fn delete_stopped(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&shell("exit 3"))?;
    must(ctx.start(&id)?, "start")?;
    ctx.wait_status(&id, "stopped")?;
    must(ctx.delete(&id, false)?, "delete of a stopped container")?;
    gone(ctx, &id)
}

fn delete_stopped_force(ctx: &mut Ctx) -> CaseResult {
    let (id, _) = ctx.create_ok(&shell("exit 3"))?;
    must(ctx.start(&id)?, "start")?;
    ctx.wait_status(&id, "stopped")?;
    must(
        ctx.delete(&id, true)?,
        "delete --force of a stopped container",
    )?;
    gone(ctx, &id)?;
    // Deleting it again: it no longer exists; --force does not hide that for
    // state, but delete --force of a missing container succeeds in runc.
    let again = ctx.delete(&id, true)?;
    ensure!(
        again.ok(),
        "delete --force of an already deleted container failed: {}",
        again.describe()
    );
    Ok(())
}
