//! podman 4.3 flows: `podman --runtime <name>` with conmon between podman and the
//! runtime. conmon calls `create --bundle B --pid-file P [--console-socket S] id`,
//! `start`, `exec --detach`, `kill`, `delete --force`, `state`, `pause`/`resume`.

use crate::{check_exec_probe, lab, Flow, SharedLab, EXEC_PROBE};
use anyhow::{ensure, Context, Result};
use libtest_mimic::Failed;
use sangja_clients::cmd::{run, wait_for};
use sangja_clients::image::IMAGE;
use sangja_clients::leftovers;
use sangja_clients::podman::{Podman, RUN_FLAGS};
use sangja_clients::pty::{check_shell_terminal, PtySession};
use sangja_clients::runtimes::{check_calls, Runtime, Traced};
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::Command;

/// A flow's view: the store, the runtime, and the containers it names (each with a
/// cidfile, so even `--rm` containers leave their full id for the leftover check).
struct Ctx<'a> {
    p: &'a Podman,
    rt: &'a Runtime,
    /// Set for the flow that checks every runtime call: `rt` is then the wrapper.
    traced: Option<&'a Traced>,
    base: String,
    dir: PathBuf,
    names: RefCell<Vec<String>>,
}

impl Ctx<'_> {
    fn name(&self, suffix: &str) -> String {
        let n = if suffix.is_empty() {
            self.base.clone()
        } else {
            format!("{}-{suffix}", self.base)
        };
        self.names.borrow_mut().push(n.clone());
        n
    }

    fn cidfile(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.cid"))
    }

    /// `podman --runtime <rt> run --name N --cidfile F <host flags> <opts> IMAGE <cmd>`
    fn run_cmd(&self, opts: &[&str], name: &str, command: &[&str]) -> Command {
        let cid = self.cidfile(name);
        let _ = std::fs::remove_file(&cid);
        let mut c = self.p.with(self.rt, &["run", "--name", name, "--cidfile"]);
        c.arg(&cid)
            .args(RUN_FLAGS)
            .args(opts)
            .arg(IMAGE)
            .args(command);
        c
    }

    fn podman(&self, args: &[&str]) -> Result<sangja_clients::cmd::Outcome> {
        self.p.run(self.rt, args)
    }

    fn podman_ok(&self, args: &[&str]) -> Result<sangja_clients::cmd::Outcome> {
        self.p.ok(self.rt, args)
    }

    /// A detached `sleep` container, running when this returns.
    fn sleeper(&self, name: &str) -> Result<()> {
        run(&mut self.run_cmd(&["-d"], name, &["sleep", "1000"]))?.ok()?;
        Ok(())
    }

    fn state(&self, name: &str) -> Result<String> {
        self.p.inspect(name, "{{.State.Status}}")
    }

    /// v1 freezer.state of the container's cgroup (or v2 cgroup.freeze as words).
    fn freezer_state(&self, name: &str) -> Result<String> {
        let id = self.p.id_of(name)?;
        let dirs = leftovers::cgroups_named(&format!("libpod_parent/libpod-{id}"));
        if let Some(f) = dirs
            .iter()
            .map(|d| d.join("freezer.state"))
            .find(|p| p.exists())
        {
            return Ok(std::fs::read_to_string(f)?.trim().to_string());
        }
        let f = dirs
            .iter()
            .map(|d| d.join("cgroup.freeze"))
            .find(|p| p.exists())
            .with_context(|| format!("no freezer for libpod_parent/libpod-{id}"))?;
        let v = std::fs::read_to_string(f)?;
        Ok(if v.trim() == "1" { "FROZEN" } else { "THAWED" }.into())
    }
}

type FlowFn = fn(&Ctx) -> Result<()>;

pub fn flows(shared: &SharedLab, runtimes: &[Runtime], rt: &Runtime) -> Vec<Flow> {
    let missing: Vec<String> = ["podman", "conmon"]
        .iter()
        .filter(|t| !crate::have(t))
        .map(|t| format!("{t} not installed"))
        .collect();
    let table: [(&'static str, FlowFn); 9] = [
        ("run_rm_output", run_rm_output),
        ("exit_code_and_env", exit_code_and_env),
        ("detach_exec_stop_rm", detach_exec_stop_rm),
        ("pause_unpause", pause_unpause),
        ("top", top),
        ("run_it", run_it),
        ("exec_it", exec_it),
        ("errors", errors),
        ("runtime_calls", runtime_calls),
    ];
    crate::client_flows(
        "podman",
        shared,
        runtimes,
        rt,
        &missing,
        table.into_iter().map(|(n, f)| (n, f, None)).collect(),
        run_flow,
    )
}

fn run_flow(
    shared: &SharedLab,
    runtimes: &[Runtime],
    rt: &Runtime,
    name: &str,
    f: FlowFn,
) -> Result<(), Failed> {
    let lab = lab(shared, runtimes)?;
    let p = lab
        .podman
        .as_ref()
        .map_err(|e| format!("the private podman store could not be set up: {e}"))?;
    let p = p.lock().unwrap_or_else(|e| e.into_inner());
    let dir = lab.dir.path().join("cidfiles");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let traced = if name == "runtime_calls" {
        Some(
            lab.traced_for(&rt.name)
                .ok_or_else(|| format!("no traced wrapper for {}", rt.name))?,
        )
    } else {
        None
    };
    let ctx = Ctx {
        p: &p,
        rt: traced.map_or(rt, |t| &t.rt),
        traced,
        base: format!("{}-{}", rt.name, name.replace('_', "-")),
        dir,
        names: RefCell::new(Vec::new()),
    };
    let res = f(&ctx);
    let names = ctx.names.take();
    if res.is_err() {
        for n in &names {
            p.force_remove(n);
        }
    }
    let mut left = Vec::new();
    for n in &names {
        // No cidfile: podman never got as far as creating the container.
        let Ok(id) = std::fs::read_to_string(ctx.cidfile(n)) else {
            continue;
        };
        if let Err(e) = p.leftovers_of(rt, id.trim()) {
            left.push(format!("{n}: {e:#}"));
        }
    }
    match res {
        Err(e) if left.is_empty() => Err(format!("{e:#}").into()),
        Err(e) => Err(format!("{e:#}\nafter forced cleanup still:\n{}", left.join("\n")).into()),
        Ok(()) if left.is_empty() => Ok(()),
        Ok(()) => {
            for n in &names {
                p.force_remove(n);
            }
            Err(left.join("\n").into())
        }
    }
}

/// `podman run --rm`: stdout and stderr reach the user separately.
fn run_rm_output(x: &Ctx) -> Result<()> {
    let n = x.name("");
    let out = run(&mut x.run_cmd(
        &["--rm"],
        &n,
        &["sh", "-c", "echo out-$((6*7)); echo err-$((6*7)) >&2"],
    ))?
    .ok()?;
    ensure!(
        out.stdout.contains("out-42"),
        "{}",
        out.describe("lacks out-42")
    );
    ensure!(
        out.stderr.contains("err-42"),
        "{}",
        out.describe("lacks err-42 on stderr")
    );
    Ok(())
}

/// Exit codes pass through; `-e` reaches the process environment.
fn exit_code_and_env(x: &Ctx) -> Result<()> {
    let n = x.name("env");
    let out = run(&mut x.run_cmd(
        &["--rm", "-e", "FOO=bar", "-e", "N=42"],
        &n,
        &["sh", "-c", "echo \"env-$FOO-$N\"; exit 5"],
    ))?
    .code_is(5)?;
    ensure!(
        out.stdout.contains("env-bar-42"),
        "{}",
        out.describe("lacks env-bar-42")
    );
    for code in [0, 255] {
        let n = x.name(&code.to_string());
        run(&mut x.run_cmd(&["--rm"], &n, &["sh", "-c", &format!("exit {code}")]))?
            .code_is(code)?;
    }
    Ok(())
}

/// `run -d`, `exec` (runtime `exec --detach` under conmon), `stop` delivering SIGTERM
/// to a trapping init, its exit code recorded, then `rm`.
fn detach_exec_stop_rm(x: &Ctx) -> Result<()> {
    let n = x.name("");
    run(&mut x.run_cmd(
        &["-d"],
        &n,
        &[
            "sh",
            "-c",
            "trap 'exit 3' TERM; touch /tmp/ready; while :; do sleep 0.1; done",
        ],
    ))?
    .ok()?;
    // Only stop once the trap is set: an init without a handler ignores SIGTERM.
    wait_for("the trap to be set", || {
        Ok(x.podman(&["exec", &n, "test", "-e", "/tmp/ready"])?
            .success()
            .then_some(()))
    })?;
    let mut probe = vec!["exec", "-e", "X=y", &n];
    probe.extend(EXEC_PROBE);
    check_exec_probe(x.podman(&probe)?)?;
    // A failed exec is the runtime's message with podman's exit code; the
    // container lives on.
    let out = x.podman(&["exec", &n, "/nonexistent-cmd"])?;
    ensure!(
        out.code == Some(127) && out.stderr.contains("/nonexistent-cmd"),
        "{}",
        out.describe("exec of a missing command should exit 127 naming it")
    );
    let out = x.podman(&["exec", "--workdir", "/nonexistent-dir", &n, "true"])?;
    ensure!(
        !out.success() && out.stderr.contains("/nonexistent-dir"),
        "{}",
        out.describe("exec in a missing workdir should fail naming it")
    );
    x.podman_ok(&["exec", &n, "true"])?;
    x.podman_ok(&["stop", "--time", "60", &n])?;
    let state = x.state(&n)?;
    let code = x.p.inspect(&n, "{{.State.ExitCode}}")?;
    ensure!(
        state == "exited" && code == "3",
        "after stop: state {state}, exit code {code} (the trap exits 3)"
    );
    x.podman_ok(&["rm", &n])?;
    Ok(())
}

/// `pause`/`unpause`: state and the freezer cgroup follow; the container works after.
fn pause_unpause(x: &Ctx) -> Result<()> {
    let n = x.name("");
    x.sleeper(&n)?;
    x.podman_ok(&["pause", &n])?;
    let (state, frozen) = (x.state(&n)?, x.freezer_state(&n)?);
    ensure!(
        state == "paused" && frozen == "FROZEN",
        "after pause: state {state}, freezer {frozen}"
    );
    x.podman_ok(&["unpause", &n])?;
    let (state, thawed) = (x.state(&n)?, x.freezer_state(&n)?);
    ensure!(
        state == "running" && thawed == "THAWED",
        "after unpause: state {state}, freezer {thawed}"
    );
    let out = x.podman_ok(&["exec", &n, "echo", "alive"])?;
    ensure!(
        out.stdout.contains("alive"),
        "{}",
        out.describe("exec after unpause")
    );
    x.podman_ok(&["rm", "--force", "--time", "0", &n])?;
    Ok(())
}

/// `podman top` shows init and an exec'd background process.
fn top(x: &Ctx) -> Result<()> {
    let n = x.name("");
    x.sleeper(&n)?;
    x.podman_ok(&["exec", "--detach", &n, "sleep", "999"])?;
    let out = wait_for("`podman top` to show both sleeps", || {
        let out = x.podman_ok(&["top", &n, "pid", "args"])?;
        let both = out.stdout.contains("sleep 1000") && out.stdout.contains("sleep 999");
        Ok(both.then_some(out))
    })?;
    ensure!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some("1")),
        "{}",
        out.describe("lacks pid 1")
    );
    x.podman_ok(&["rm", "--force", "--time", "0", &n])?;
    Ok(())
}

/// `podman run -it` under a pty we own: conmon passes `--console-socket`; the
/// container sees a terminal of our size; the exit code comes back.
fn run_it(x: &Ctx) -> Result<()> {
    let n = x.name("");
    check_shell_terminal(
        x.run_cmd(&["-it", "--rm"], &n, &["sh"]),
        "podman run -it",
        3,
    )?;
    Ok(())
}

/// `podman exec -it` under a pty we own: conmon runs `exec --console-socket`; the
/// exec'd shell has a terminal of our size and its exit code comes back.
fn exec_it(x: &Ctx) -> Result<()> {
    let n = x.name("");
    x.sleeper(&n)?;
    check_shell_terminal(
        x.p.with(x.rt, &["exec", "-it", &n, "sh"]),
        "podman exec -it",
        6,
    )?;
    x.podman_ok(&["rm", "--force", "--time", "0", &n])?;
    Ok(())
}

/// A runtime failure reaches the podman user as the runtime's own message (podman
/// reads it from the JSON log), classified the way scripts rely on: 127 for a
/// command that does not exist, 126 for one that cannot be executed.
fn errors(x: &Ctx) -> Result<()> {
    let name = &x.rt.name;
    let n = x.name("missing");
    let out = run(&mut x.run_cmd(&["--rm"], &n, &["/nonexistent-cmd"]))?;
    ensure!(
        out.code == Some(127)
            && out.stderr.contains(&format!("{name}: "))
            && out.stderr.contains("/nonexistent-cmd")
            && out.stderr.contains("command that was not found"),
        "{}",
        out.describe(&format!(
            "should exit 127 with {name}'s message naming /nonexistent-cmd, classified by podman as not found"
        ))
    );
    let n = x.name("not-in-path");
    let out = run(&mut x.run_cmd(&["--rm"], &n, &["nosuchcmd"]))?;
    ensure!(
        out.code == Some(127)
            && out.stderr.contains("nosuchcmd")
            && out.stderr.contains("command that was not found"),
        "{}",
        out.describe("should exit 127, classified by podman as not found")
    );
    let n = x.name("noexec");
    let out = run(&mut x.run_cmd(&["--rm"], &n, &["/etc/passwd"]))?;
    ensure!(
        out.code == Some(126)
            && out.stderr.contains(&format!("{name}: "))
            && out.stderr.contains("/etc/passwd")
            && out.stderr.contains("permission denied"),
        "{}",
        out.describe(&format!(
            "should exit 126 with {name}'s message naming /etc/passwd, classified by podman as permission denied"
        ))
    );
    Ok(())
}

/// Every runtime call conmon and podman make in a whole lifecycle succeeds (the
/// runtime is wrapped so each call and its exit code is logged).
fn runtime_calls(x: &Ctx) -> Result<()> {
    let t = x.traced.context("runtime_calls needs the traced wrapper")?;
    t.reset()?;
    let n = x.name("");
    run(&mut x.run_cmd(
        &["-d"],
        &n,
        &[
            "sh",
            "-c",
            "trap 'exit 3' TERM; touch /tmp/ready; while :; do sleep 0.1; done",
        ],
    ))?
    .ok()?;
    wait_for("the trap to be set", || {
        Ok(x.podman(&["exec", &n, "test", "-e", "/tmp/ready"])?
            .success()
            .then_some(()))
    })?;
    x.podman_ok(&["pause", &n])?;
    x.podman_ok(&["unpause", &n])?;
    x.podman_ok(&["stop", "--time", "60", &n])?;
    x.podman_ok(&["rm", &n])?;
    let it = x.name("it");
    let s = PtySession::spawn(x.run_cmd(&["-it", "--rm"], &it, &["sh", "-c", "exit 0"]))?;
    let (code, transcript) = s.finish()?;
    ensure!(
        code == Some(0),
        "podman run -it exited {code:?}:\n{transcript}"
    );
    check_calls(
        &t.calls()?,
        &[
            "create", "start", "exec", "pause", "resume", "kill", "delete",
        ],
        // --log-format=json: podman reads errors from the JSON log only for runtimes
        // listed in runtime_supports_json.
        &[
            ("create", "--console-socket"),
            ("create", "--log-format=json"),
            ("exec", "--detach"),
        ],
    )
}
