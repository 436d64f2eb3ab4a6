//! hooks: order across create/start/delete, the state each hook reads on
//! stdin, env and args, timeout, and what a failing hook of each kind does.
//!
//! Hooks in the runtime namespace (prestart, createRuntime, createContainer,
//! poststart, poststop) run the host's /bin/sh and write into a host
//! directory; startContainer resolves in the container and writes to the same
//! directory bind-mounted at /shared. The driver adds its own markers between
//! commands, so one log shows which command ran which hook.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

use crate::case::{Case, CaseError, CaseResult};
use crate::cases::util::{share_dir, shell, sleeper, wait_dead};
use crate::config::Config;
use crate::harness::Ctx;
use crate::{ensure, ensure_eq};

const POSTSTART_NOTE: &str = "runc 1.1.5 runs poststart hooks at create (not after start) and fails on a failing poststart hook";

pub static CASES: &[Case] = &[
    Case { id: "hooks.order", field: "hooks", needs: &[], note: Some(POSTSTART_NOTE), run: order },
    Case { id: "hooks.state-on-stdin", field: "hooks (state)", needs: &[], note: Some(POSTSTART_NOTE), run: state_on_stdin },
    Case { id: "hooks.env-and-args", field: "hooks[].env/args", needs: &[], note: None, run: env_and_args },
    Case { id: "hooks.timeout", field: "hooks[].timeout", needs: &[], note: None, run: timeout },
    Case { id: "hooks.prestart-fails", field: "hooks.prestart", needs: &[], note: None, run: prestart_fails },
    Case { id: "hooks.create-runtime-fails", field: "hooks.createRuntime", needs: &[], note: None, run: create_runtime_fails },
    Case { id: "hooks.create-container-fails", field: "hooks.createContainer", needs: &[], note: None, run: create_container_fails },
    Case {
        id: "hooks.start-container-fails",
        field: "hooks.startContainer",
        needs: &[],
        note: Some("runc 1.1.5 runs startContainer hooks in init after `start` returned: start exits 0 and the container just stops; the spec says start MUST generate an error"), run: start_container_fails },
    Case { id: "hooks.poststart-fails", field: "hooks.poststart", needs: &[], note: Some(POSTSTART_NOTE), run: poststart_fails },
    Case { id: "hooks.poststop-fails", field: "hooks.poststop", needs: &[], note: None, run: poststop_fails },
    Case { id: "hooks.missing-path", field: "hooks[].path", needs: &[], note: None, run: missing_path },
];

const HOST_HOOKS: [&str; 5] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "poststart",
    "poststop",
];

/// A hook that saves its stdin as `<name>.json` and appends `<name>` to the log.
fn recording_hook(dir: &str, name: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {dir}/{name}.json; echo {name} >> {dir}/log")]})
}

fn failing_hook(dir: &str, name: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name}-failed >> {dir}/log; exit 3")]})
}

/// A config whose every hook records itself; `fail` makes that one exit 3.
fn hooked(ctx: &Ctx, mut cfg: Config, fail: Option<&str>) -> Result<(Config, PathBuf), CaseError> {
    let host = share_dir(&ctx.dir, &mut cfg, "hooks")?;
    let h = host.to_string_lossy().into_owned();
    for name in HOST_HOOKS {
        let hook = if fail == Some(name) {
            failing_hook(&h, name)
        } else {
            recording_hook(&h, name)
        };
        cfg.set(&format!("/hooks/{name}"), json!([hook]));
    }
    let start = if fail == Some("startContainer") {
        failing_hook("/shared", "startContainer")
    } else {
        recording_hook("/shared", "startContainer")
    };
    cfg.set("/hooks/startContainer", json!([start]));
    Ok((cfg, host))
}

fn mark(dir: &Path, line: &str) -> Result<(), CaseError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log"))
        .map_err(|e| CaseError::Harness(e.to_string()))?;
    writeln!(f, "{line}").map_err(|e| CaseError::Harness(e.to_string()))
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn order(ctx: &mut Ctx) -> CaseResult {
    let (cfg, dir) = hooked(ctx, sleeper(), None)?;
    let (id, pid) = ctx.create_ok(&cfg)?;
    mark(&dir, "=create")?;
    let out = ctx.start(&id)?;
    ensure!(out.ok(), "start failed: {}", out.describe());
    mark(&dir, "=start")?;
    ensure!(ctx.kill(&id, "KILL")?.ok(), "kill failed");
    ctx.wait_status(&id, "stopped")?;
    wait_dead(pid)?;
    let out = ctx.delete(&id, false)?;
    ensure!(out.ok(), "delete failed: {}", out.describe());
    mark(&dir, "=delete")?;
    let want = [
        "prestart",
        "createRuntime",
        "createContainer",
        "=create",
        "startContainer",
        "poststart",
        "=start",
        "poststop",
        "=delete",
    ];
    ensure_eq!(
        log(&dir),
        want.map(String::from).to_vec(),
        "hooks in order, with the commands that ran them"
    );
    Ok(())
}

fn read_state(dir: &Path, name: &str) -> Result<Value, CaseError> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json")))
        .map_err(|e| CaseError::Fail(format!("{name} hook saved no state: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| CaseError::Fail(format!("{name} hook's stdin is not JSON ({e}): {text:?}")))
}

fn state_on_stdin(ctx: &mut Ctx) -> CaseResult {
    let mut base = sleeper();
    base.set("/annotations", json!({"org.example.hook": "yes"}));
    let (cfg, dir) = hooked(ctx, base, None)?;
    let (id, b, out) = ctx.create(&cfg)?;
    ensure!(out.ok(), "create failed: {}", out.describe());
    ensure!(ctx.start(&id)?.ok(), "start failed");
    ensure!(ctx.delete(&id, true)?.ok(), "delete --force failed");
    let bundle = b.canonicalize().unwrap_or(b);
    for (name, status) in [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let st = read_state(&dir, name)?;
        ensure_eq!(st["id"], Value::from(id.clone()), format!("{name}: id"));
        ensure_eq!(st["status"], Value::from(status), format!("{name}: status"));
        ensure_eq!(
            st["bundle"].as_str().unwrap_or(""),
            bundle.to_string_lossy(),
            format!("{name}: bundle")
        );
        ensure_eq!(
            st["annotations"]["org.example.hook"],
            Value::from("yes"),
            format!("{name}: annotations")
        );
        ensure!(
            st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
            "{name}: no ociVersion"
        );
        if name != "poststop" {
            ensure!(
                st["pid"].as_i64().is_some_and(|p| p > 0),
                "{name}: no pid in {st}"
            );
        }
    }
    Ok(())
}

fn env_and_args(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    let dir = share_dir(&ctx.dir, &mut cfg, "hooks")?;
    let d = dir.to_string_lossy().into_owned();
    cfg.set(
        "/hooks/createRuntime",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("env > {d}/env; echo \"$0|$1\" > {d}/args"), "zero", "one"], "env": ["HOOKVAR=hook value"]}]),
    );
    let (id, _) = ctx.create_ok(&cfg)?;
    ensure!(ctx.delete(&id, true)?.ok(), "delete --force failed");
    let env = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
    ensure!(
        env.lines().any(|l| l == "HOOKVAR=hook value"),
        "hook env lacks HOOKVAR: {env:?}"
    );
    for l in env.lines() {
        let k = l.split('=').next().unwrap_or("");
        ensure!(
            ["HOOKVAR", "PWD", "OLDPWD", "SHLVL", "_"].contains(&k),
            "hook env has {l:?}, which the config did not give"
        );
    }
    ensure_eq!(
        std::fs::read_to_string(dir.join("args"))
            .unwrap_or_default()
            .trim(),
        "zero|one",
        "hook args"
    );
    Ok(())
}

fn timeout(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set(
        "/hooks/createRuntime",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "sleep 20"], "timeout": 1}]),
    );
    let out = ctx.refused(&cfg, "create")?;
    ensure!(
        !out.stderr.trim().is_empty(),
        "create failed without a message"
    );
    Ok(())
}

/// A failing hook of the create phase: create fails, the container is gone,
/// and the lifecycle goes on at poststop.
fn create_phase_fails(ctx: &mut Ctx, name: &str) -> CaseResult {
    let (cfg, dir) = hooked(ctx, sleeper(), Some(name))?;
    let out = ctx.refused(&cfg, "create")?;
    ensure!(
        !out.stderr.trim().is_empty(),
        "create failed without a message"
    );
    let l = log(&dir);
    ensure!(
        l.contains(&format!("{name}-failed")),
        "the {name} hook did not run: {l:?}"
    );
    ensure!(
        !l.iter().any(|x| x == "startContainer" || x == "poststart"),
        "start-phase hooks ran after a failing {name}: {l:?}"
    );
    ensure!(
        l.iter().any(|x| x == "poststop"),
        "poststop hooks did not run after the failed create: {l:?}"
    );
    Ok(())
}

fn prestart_fails(ctx: &mut Ctx) -> CaseResult {
    create_phase_fails(ctx, "prestart")
}

fn create_runtime_fails(ctx: &mut Ctx) -> CaseResult {
    create_phase_fails(ctx, "createRuntime")
}

fn create_container_fails(ctx: &mut Ctx) -> CaseResult {
    create_phase_fails(ctx, "createContainer")
}

fn start_container_fails(ctx: &mut Ctx) -> CaseResult {
    let (mut cfg, dir) = hooked(
        ctx,
        shell("echo process-ran >> /shared/log; exec sleep 1000"),
        Some("startContainer"),
    )?;
    cfg.set("/hooks/poststart", json!([]));
    let (id, pid) = ctx.create_ok(&cfg)?;
    let out = ctx.start(&id)?;
    ensure!(
        !out.ok(),
        "start succeeded though the startContainer hook failed"
    );
    wait_dead(pid)?;
    let l = log(&dir);
    ensure!(
        !l.iter().any(|x| x == "process-ran"),
        "the user process ran after a failing startContainer hook: {l:?}"
    );
    let _ = ctx.delete(&id, true)?;
    Ok(())
}

fn poststart_fails(ctx: &mut Ctx) -> CaseResult {
    let (cfg, dir) = hooked(ctx, sleeper(), Some("poststart"))?;
    let (id, _, out) = ctx.create(&cfg)?;
    ensure!(out.ok(), "create failed: {}", out.describe());
    let out = ctx.start(&id)?;
    ensure!(
        out.ok(),
        "start failed because of a failing poststart hook (the spec says warn and go on): {}",
        out.describe()
    );
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("running"),
        "status after a failing poststart hook"
    );
    ensure!(ctx.delete(&id, true)?.ok(), "delete --force failed");
    ensure!(
        log(&dir).contains(&"poststart-failed".to_string()),
        "the poststart hook did not run"
    );
    Ok(())
}

fn poststop_fails(ctx: &mut Ctx) -> CaseResult {
    let (cfg, dir) = hooked(ctx, shell("exit 0"), Some("poststop"))?;
    let (id, _) = ctx.create_ok(&cfg)?;
    ensure!(ctx.start(&id)?.ok(), "start failed");
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.delete(&id, false)?;
    ensure!(
        out.ok(),
        "delete failed because of a failing poststop hook (the spec says warn and go on): {}",
        out.describe()
    );
    ensure!(
        log(&dir).contains(&"poststop-failed".to_string()),
        "the poststop hook did not run"
    );
    Ok(())
}

fn missing_path(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set("/hooks/createRuntime", json!([{"path": "/no/such/hook"}]));
    let out = ctx.refused(&cfg, "create")?;
    ensure!(
        out.stderr.contains("/no/such/hook") || out.stderr.to_lowercase().contains("hook"),
        "error does not name the hook: {}",
        out.stderr.trim()
    );
    Ok(())
}
