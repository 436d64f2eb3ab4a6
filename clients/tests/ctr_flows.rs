//! containerd 1.6 flows: `ctr` with the stock runc shim (io.containerd.runc.v2) and
//! `--runc-binary` pointing at the runtime under test. The shim calls the runtime
//! with `--root /run/containerd/runc/<ns> --log <bundle>/log.json --log-format json`.

use crate::{lab, Flow, SharedLab};
use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::Failed;
use sangja_clients::cmd::{self, run, wait_for};
use sangja_clients::containerd::Containerd;
use sangja_clients::image::IMAGE;
use sangja_clients::leftovers;
use sangja_clients::pty::{check_shell_terminal, PtySession};
use sangja_clients::runtimes::{check_calls, Runtime, Traced};
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

/// What a flow gets: the daemon, the runtime, and container ids it must claim
/// (so the leftover check and the forced cleanup know them).
struct Ctx<'a> {
    c: &'a Containerd,
    rt: &'a Runtime,
    /// Set for the flow that checks every runtime call: `rt` is then the wrapper.
    traced: Option<&'a Traced>,
    base: String,
    ids: RefCell<Vec<String>>,
}

impl Ctx<'_> {
    fn id(&self, suffix: &str) -> String {
        let id = if suffix.is_empty() {
            self.base.clone()
        } else {
            format!("{}-{suffix}", self.base)
        };
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// `ctr run --runc-binary <rt> <opts> IMAGE <id> <cmd>`, or `--runtime <shim>`
    /// for a runtime under its own shim.
    fn run_cmd(&self, opts: &[&str], id: &str, command: &[&str]) -> Command {
        let mut c = self.c.ctr_cmd(&["run"]);
        match &self.rt.shim {
            Some(shim) => c.arg("--runtime").arg(shim),
            None => c.arg("--runc-binary").arg(&self.rt.path),
        };
        c.args(opts).arg(IMAGE).arg(id).args(command);
        c
    }

    /// A detached `sleep` container, running when this returns; its init pid.
    fn sleeper(&self, id: &str, opts: &[&str]) -> Result<u32> {
        let mut all = vec!["-d"];
        all.extend_from_slice(opts);
        cmd::ok(&mut self.run_cmd(&all, id, &["sleep", "1000"]))?;
        self.c.wait_status(id, "RUNNING")
    }

    /// A task client on the container's shim socket, the one containerd uses.
    fn shim_tasks(&self, id: &str) -> Result<containerd_shim_protos::TaskClient> {
        let socket = self.c.shim_socket(id);
        let client =
            containerd_shim_protos::ttrpc::Client::connect(&format!("unix://{}", socket.display()))
                .with_context(|| format!("connect to the shim at {}", socket.display()))?;
        Ok(containerd_shim_protos::TaskClient::new(client))
    }

    /// Kill, wait for STOPPED, delete the task and the container: what a user does.
    fn stop_and_delete(&self, id: &str) -> Result<()> {
        self.c
            .ctr_ok(&["task", "kill", "--signal", "SIGKILL", id])?;
        self.c.wait_status(id, "STOPPED")?;
        self.delete_stopped(id)
    }

    /// Deletes a stopped task and its container.
    fn delete_stopped(&self, id: &str) -> Result<()> {
        self.c.ctr_ok(&["task", "delete", id])?;
        self.c.ctr_ok(&["container", "delete", id])?;
        Ok(())
    }

    /// The container's cgroup directory in the hierarchy holding `file`.
    fn cgroup_file(&self, id: &str, file: &str) -> Result<String> {
        let rel = format!("{}/{id}", self.c.namespace);
        leftovers::cgroups_named(&rel)
            .into_iter()
            .map(|d| d.join(file))
            .find(|p| p.exists())
            .map(|p| std::fs::read_to_string(&p).map(|s| s.trim().to_string()))
            .transpose()?
            .with_context(|| format!("no cgroup /{rel} with {file} on the host"))
    }
}

type FlowFn = fn(&Ctx) -> Result<()>;

pub fn flows(shared: &SharedLab, runtimes: &[Runtime], rt: &Runtime) -> Vec<Flow> {
    let tools: Vec<String> = ["containerd", "ctr"]
        .iter()
        .filter(|t| !crate::have(t))
        .map(|t| format!("{t} not installed"))
        .collect();
    let no_update = ctr_lacks_task_update();
    let mut table: Vec<(&'static str, FlowFn, Option<String>)> = vec![
        ("run_output", run_output, None),
        ("exit_status", exit_status, None),
        ("wait_after_exit", wait_after_exit, None),
        ("detach_exec", detach_exec, None),
        ("kill_and_wait", kill_and_wait, None),
        ("pause_resume", pause_resume, None),
        ("ps", ps, None),
        ("update", update, no_update),
        ("update_call_as_shim", update_call_as_shim, None),
        ("metrics", metrics, metrics_blocked()),
        ("tty", tty, None),
        ("exec_tty", exec_tty, None),
        ("delete_and_errors", delete_and_errors, None),
        ("runtime_calls", runtime_calls, None),
        ("events", events, None),
    ];
    if rt.shim.is_some() {
        table.push(("shim_killed", shim_killed, None));
        table.push(("sandbox_group", sandbox_group, None));
        table.push((
            "checkpoint_through_criu",
            checkpoint_through_criu,
            criu_missing(),
        ));
        table.push(("update_rpc", update_rpc, None));
        table.push(("restore_from_checkpoint", restore_from_checkpoint, None));
    }
    crate::client_flows("containerd", shared, runtimes, rt, &tools, table, run_flow)
}

/// The shim loads a task's cgroups through every v1 hierarchy its init is in. A
/// hierarchy that exists but is mounted nowhere (`make bench` mounts hugetlb and
/// net_cls,net_prio, and unmounting them with child cgroups left keeps them alive)
/// fails that load: containerd logs "loading cgroup for <pid>: cgroups: cannot find
/// cgroup mount destination" and `ctr task metrics` answers "no metrics received"
/// for every runtime, runc included. `docker stats` reads the same metrics.
pub fn metrics_blocked() -> Option<String> {
    let hidden = leftovers::unmounted_v1_hierarchies();
    (!hidden.is_empty()).then(|| {
        format!(
            "cgroup v1 hierarchies {hidden:?} exist (see /proc/cgroups) but are mounted nowhere: \
             containerd 1.6's shim cannot load any task's cgroups, so `ctr task metrics` fails \
             for every runtime (runc too); mount them again or remove their child cgroups"
        )
    })
}

/// ctr 1.6 has no `task update` (it came with 1.7): then the flow cannot be driven.
fn ctr_lacks_task_update() -> Option<String> {
    let help = Command::new("ctr").args(["task", "--help"]).output().ok()?;
    let text = String::from_utf8_lossy(&help.stdout);
    let has = text.lines().any(|l| l.trim_start().starts_with("update"));
    (!has).then(|| {
        let version = Command::new("ctr")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        format!("`ctr task update` does not exist in this ctr ({version}); the shim's update path is unreachable from ctr")
    })
}

fn run_flow(
    shared: &SharedLab,
    runtimes: &[Runtime],
    rt: &Runtime,
    name: &str,
    f: FlowFn,
) -> Result<(), Failed> {
    let lab = lab(shared, runtimes)?;
    let c = lab
        .containerd
        .as_ref()
        .map_err(|e| format!("the private containerd could not start: {e}"))?;
    let c = c.lock().unwrap_or_else(|e| e.into_inner());
    let traced = if name == "runtime_calls" {
        Some(
            lab.traced_for(&rt.name)
                .ok_or_else(|| format!("no traced wrapper for {}", rt.name))?,
        )
    } else {
        None
    };
    let ctx = Ctx {
        c: &c,
        rt: traced.map_or(rt, |t| &t.rt),
        traced,
        base: format!("{}-{}", rt.name, name.replace('_', "-")),
        ids: RefCell::new(Vec::new()),
    };
    let res = f(&ctx);
    let ids = ctx.ids.take();
    let root = rt.shim_root(&c.namespace);
    if res.is_err() {
        for id in &ids {
            c.force_remove(id);
        }
    }
    let left: Vec<String> = ids
        .iter()
        .filter_map(|id| {
            c.leftovers_of(id, &root)
                .err()
                .map(|e| format!("{id}: {e:#}"))
        })
        .collect();
    match res {
        Err(e) if left.is_empty() => Err(format!("{e:#}").into()),
        Err(e) => Err(format!("{e:#}\nafter forced cleanup still:\n{}", left.join("\n")).into()),
        Ok(()) if left.is_empty() => Ok(()),
        Ok(()) => {
            for id in &ids {
                c.force_remove(id);
            }
            Err(left.join("\n").into())
        }
    }
}

/// `ctr run --rm`: stdout and stderr of the container reach the user separately.
fn run_output(x: &Ctx) -> Result<()> {
    let id = x.id("");
    let out = cmd::ok(&mut x.run_cmd(
        &["--rm"],
        &id,
        &["sh", "-c", "echo out-$((6*7)); echo err-$((6*7)) >&2"],
    ))?;
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

/// The container's exit code is ctr's exit code.
fn exit_status(x: &Ctx) -> Result<()> {
    for code in [0, 7, 255] {
        let id = x.id(&code.to_string());
        run(&mut x.run_cmd(&["--rm"], &id, &["sh", "-c", &format!("exit {code}")]))?
            .code_is(code)?;
    }
    Ok(())
}

/// A Wait that reaches the shim only after the process exited still gets its
/// status. containerd's client sends Wait from a goroutine, so with a quick exit it
/// can land after Start and the exit: `ctr run --rm` of `exit 255` hung for 120 s
/// when the shim kept the status only for Waits already subscribed.
fn wait_after_exit(x: &Ctx) -> Result<()> {
    use containerd_shim_protos::shim::shim::WaitRequest;
    use containerd_shim_protos::ttrpc;
    let id = x.id("");
    cmd::ok(&mut x.run_cmd(&["-d"], &id, &["sh", "-c", "exit 42"]))?;
    x.c.wait_status(&id, "STOPPED")?;
    let tasks = x.shim_tasks(&id)?;
    let req = WaitRequest {
        id: id.clone(),
        ..Default::default()
    };
    let got = tasks
        .wait(ttrpc::context::with_timeout(10_000_000_000), &req)
        .context("Wait RPC after the exit (a shim that lost the status times out)")?;
    ensure!(
        got.exit_status == 42,
        "Wait after the exit answered status {}, not 42",
        got.exit_status
    );
    x.delete_stopped(&id)
}

/// `ctr run -d`, then `ctr task exec` (runtime `exec --process F --detach`): output,
/// exit code, and the exec'd process really is inside the container.
fn detach_exec(x: &Ctx) -> Result<()> {
    let id = x.id("");
    x.sleeper(&id, &[])?;
    // The leftover check looks for this socket after delete: prove it finds it.
    let socket = x.c.shim_socket(&id);
    ensure!(
        socket.exists(),
        "shim socket {} not found while the task runs",
        socket.display()
    );
    let out = x.c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        &format!("{id}-probe"),
        &id,
        "sh",
        "-c",
        "echo exec-$((6*7)); tr '\\0' ' ' < /proc/1/cmdline; echo; exit 4",
    ])?;
    let out = out.code_is(4)?;
    ensure!(
        out.stdout.contains("exec-42"),
        "{}",
        out.describe("lacks exec-42")
    );
    ensure!(
        out.stdout.contains("sleep 1000"),
        "{}",
        out.describe("pid 1 seen from the exec is not the container's sleep")
    );
    // A second exec with the same container, after the first one finished.
    x.c.ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        &format!("{id}-again"),
        &id,
        "true",
    ])?;
    x.stop_and_delete(&id)
}

/// `ctr task kill` delivers SIGTERM to a foreground `ctr run`, whose exit code is
/// the container's; `kill --all` with SIGKILL stops every process.
fn kill_and_wait(x: &Ctx) -> Result<()> {
    let id = x.id("");
    let mut child = x
        .run_cmd(
            &["--rm"],
            &id,
            &[
                "sh",
                "-c",
                "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done",
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Only signal once the trap is set: an init without a handler ignores SIGTERM.
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if line == "ready" {
                let _ = tx.send(());
            }
            seen.push(line);
        }
        seen
    });
    let stderr = cmd::drain(child.stderr.take());
    let ready = wait_for("the container to print ready", || match rx.try_recv() {
        Ok(()) => Ok(Some(())),
        Err(mpsc::TryRecvError::Empty) => Ok(None),
        Err(mpsc::TryRecvError::Disconnected) => bail!("ctr run ended before ready"),
    });
    if let Err(e) = ready {
        let _ = child.kill();
        let _ = child.wait();
        let err = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        return Err(e.context(format!("ctr run stderr: {err}")));
    }
    x.c.ctr_ok(&["task", "kill", &id])?;
    let status = cmd::wait_guarded(&mut child, "ctr run (killed)")?;
    let seen = reader.join().unwrap_or_default();
    let err = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    ensure!(
        status.code() == Some(3) && seen.iter().any(|l| l == "got-term"),
        "ctr run after `ctr task kill`: {status}, stdout {seen:?}, stderr {err}"
    );

    // kill --all: the shim runs `kill --all <id> 9`; children die with init.
    let id2 = x.id("all");
    cmd::ok(&mut x.run_cmd(
        &["-d"],
        &id2,
        &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
    ))?;
    x.c.wait_status(&id2, "RUNNING")?;
    x.c.ctr_ok(&["task", "kill", "--all", "--signal", "SIGKILL", &id2])?;
    x.c.wait_status(&id2, "STOPPED")?;
    let del = x.c.ctr_ok(&["task", "delete", &id2])?;
    ensure!(
        del.stderr.contains("exit code 137"),
        "{}",
        del.describe("should report exit code 137 after SIGKILL")
    );
    x.c.ctr_ok(&["container", "delete", &id2])?;
    Ok(())
}

/// `ctr task pause`/`resume`: the freezer cgroup really freezes and thaws.
fn pause_resume(x: &Ctx) -> Result<()> {
    let id = x.id("");
    x.sleeper(&id, &[])?;
    x.c.ctr_ok(&["task", "pause", &id])?;
    x.c.wait_status(&id, "PAUSED")?;
    let frozen = freezer_state(x, &id)?;
    ensure!(
        frozen == "FROZEN",
        "paused task's freezer state is {frozen}"
    );
    x.c.ctr_ok(&["task", "resume", &id])?;
    x.c.wait_status(&id, "RUNNING")?;
    let thawed = freezer_state(x, &id)?;
    ensure!(
        thawed == "THAWED",
        "resumed task's freezer state is {thawed}"
    );
    let out = x.c.ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        &format!("{id}-alive"),
        &id,
        "echo",
        "alive",
    ])?;
    ensure!(
        out.stdout.contains("alive"),
        "{}",
        out.describe("exec after resume")
    );
    x.stop_and_delete(&id)
}

/// v1 freezer.state, or the v2 cgroup.freeze translated to the same words.
fn freezer_state(x: &Ctx, id: &str) -> Result<String> {
    x.cgroup_file(id, "freezer.state").or_else(|_| {
        x.cgroup_file(id, "cgroup.freeze")
            .map(|v| if v == "1" { "FROZEN" } else { "THAWED" }.to_string())
    })
}

/// `ctr task ps` (runtime `ps --format json`) lists init and exec'd processes.
fn ps(x: &Ctx) -> Result<()> {
    let id = x.id("");
    let init = x.sleeper(&id, &[])?;
    let bg = format!("{id}-bg");
    x.c.ctr_ok(&[
        "task",
        "exec",
        "--detach",
        "--exec-id",
        &bg,
        &id,
        "sleep",
        "999",
    ])?;
    let out = x.c.ctr_ok(&["task", "ps", &id])?;
    let pids: Vec<u32> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    ensure!(
        pids.contains(&init),
        "{}",
        out.describe(&format!("lacks init pid {init}"))
    );
    let cmdlines: Vec<String> = pids
        .iter()
        .map(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default()
        })
        .collect();
    ensure!(
        cmdlines.iter().any(|c| c.trim() == "sleep 999"),
        "exec'd sleep 999 missing from `ctr task ps`: pids {pids:?} are {cmdlines:?}"
    );
    let res = x.stop_and_delete(&id);
    x.c.remove_fifos(&bg);
    res
}

/// Would run `ctr task update` (runtime `update --resources -`); only reached with a
/// ctr that has the command.
fn update(x: &Ctx) -> Result<()> {
    let id = x.id("");
    x.sleeper(&id, &[])?;
    x.c.ctr_ok(&["task", "update", "--memory-limit", "50331648", &id])?;
    let limit = x
        .cgroup_file(&id, "memory.limit_in_bytes")
        .or_else(|_| x.cgroup_file(&id, "memory.max"))?;
    ensure!(limit == "50331648", "memory limit after update is {limit}");
    x.stop_and_delete(&id)
}

/// ctr 1.6 cannot make the shim call `update`, so this sends the exact call the
/// shim makes (go-runc: global flags, `update --resources - <id>`, LinuxResources
/// JSON on stdin) to a container the shim started, in the shim's state root, and
/// checks the host cgroups. Not a substitute for `update` above; the closest ctr
/// 1.6 allows.
fn update_call_as_shim(x: &Ctx) -> Result<()> {
    use std::io::Write;
    let id = x.id("");
    x.sleeper(&id, &[])?;
    let root = x.rt.shim_root(&x.c.namespace);
    let log = x.c.bundle(&id).join("log.json");
    let mut child = Command::new(&x.rt.path)
        .arg("--root")
        .arg(&root)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "update", "--resources", "-", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(br#"{"memory":{"limit":50331648},"cpu":{"shares":512},"pids":{"limit":77}}"#)?;
    let out = cmd::drain(child.stderr.take());
    let status = cmd::wait_guarded(&mut child, "update --resources -")?;
    let err = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    ensure!(
        status.success(),
        "update --resources - failed ({status}): {err}\nlog.json: {logged}"
    );
    for (file, want) in [
        ("memory.limit_in_bytes", "50331648"),
        ("cpu.shares", "512"),
        ("pids.max", "77"),
    ] {
        let got = x.cgroup_file(&id, file)?;
        ensure!(got == want, "{file} after update is {got}, not {want}");
    }
    // The task still works after its limits changed under the shim.
    x.c.ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        &format!("{id}-after"),
        &id,
        "true",
    ])?;
    x.stop_and_delete(&id)
}

/// `ctr task metrics`: the shim reads the container's cgroups, so they must be where
/// the runtime was told to put them, with the limits asked for.
fn metrics(x: &Ctx) -> Result<()> {
    let id = x.id("");
    let limit = "67108864";
    let init = x.sleeper(&id, &["--memory-limit", limit])?;
    let out = x.c.ctr(&["task", "metrics", &id])?;
    if !out.success() {
        // The shim loads the cgroups from /proc/<init>/cgroup: show what it saw.
        let cgroups = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap_or_default();
        let mounted = leftovers::cgroup_roots();
        bail!(
            "{}\n/proc/{init}/cgroup:\n{cgroups}\ncgroup mounts: {mounted:?}\ncontainerd log tail:\n{}",
            out.describe("failed"),
            tail(&x.c.daemon_log(), 8)
        );
    }
    let value = |key: &str| {
        out.stdout.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(key)).then(|| f.next().unwrap_or("").to_string())
        })
    };
    let shown = value("memory.limit_in_bytes").or_else(|| value("memory.max"));
    ensure!(
        shown.as_deref() == Some(limit),
        "{}",
        out.describe(&format!("memory limit should be {limit}"))
    );
    let pids = value("pids.current").and_then(|v| v.parse::<u64>().ok());
    ensure!(
        pids.is_some_and(|n| n >= 1),
        "{}",
        out.describe("pids.current should count the sleep")
    );
    let usage = value("memory.usage_in_bytes")
        .or_else(|| value("memory.usage"))
        .and_then(|v| v.parse::<u64>().ok());
    ensure!(
        usage.is_some_and(|n| n > 0),
        "{}",
        out.describe("memory usage should be non-zero")
    );
    let host = x
        .cgroup_file(&id, "memory.limit_in_bytes")
        .or_else(|_| x.cgroup_file(&id, "memory.max"))?;
    ensure!(
        host == limit,
        "host cgroup memory limit is {host}, not {limit}"
    );
    x.stop_and_delete(&id)
}

/// `ctr run -t` under a pty we own: the shim passes `--console-socket`, the runtime
/// sends back the pty master; the container sees a terminal of our size, and the
/// exit code comes back.
fn tty(x: &Ctx) -> Result<()> {
    let id = x.id("");
    check_shell_terminal(x.run_cmd(&["-t", "--rm"], &id, &["sh"]), "ctr run -t", 3)?;
    Ok(())
}

/// `ctr task exec -t` under a pty we own: the shim runs `exec --console-socket`;
/// the exec'd shell has a terminal of our size and its exit code comes back.
fn exec_tty(x: &Ctx) -> Result<()> {
    let id = x.id("");
    x.sleeper(&id, &[])?;
    let exec_id = format!("{id}-t");
    check_shell_terminal(
        x.c.ctr_cmd(&["task", "exec", "-t", "--exec-id", &exec_id, &id, "sh"]),
        "ctr task exec -t",
        6,
    )?;
    x.stop_and_delete(&id)
}

/// `ctr task delete` of a running task is refused, `--force` removes it; runtime
/// failures (create and exec of a missing command) reach the ctr user as the
/// runtime's own message, read by the shim from the JSON log.
fn delete_and_errors(x: &Ctx) -> Result<()> {
    let id = x.id("");
    x.sleeper(&id, &[])?;
    x.c.ctr(&["task", "delete", &id])?.failed()?;
    x.c.ctr_ok(&["task", "delete", "--force", &id])?;
    ensure!(
        x.c.task(&id)?.is_none(),
        "task still listed after delete --force"
    );
    x.c.ctr_ok(&["container", "delete", &id])?;

    let bad = x.id("create-error");
    let out = run(&mut x.run_cmd(&["--rm"], &bad, &["/nonexistent-cmd"]))?.failed()?;
    let name = x.rt.command_name();
    ensure!(
        out.stderr.contains(&format!("{name} create failed: "))
            && out.stderr.contains("/nonexistent-cmd"),
        "{}",
        out.describe(&format!(
            "should carry {name}'s own create error naming /nonexistent-cmd"
        ))
    );
    // `ctr run --rm` leaves the container record when create fails.
    let _ = x.c.ctr(&["container", "delete", &bad]);

    let host = x.id("exec-error");
    x.sleeper(&host, &[])?;
    let out =
        x.c.ctr(&[
            "task",
            "exec",
            "--exec-id",
            &format!("{host}-bad"),
            &host,
            "/nonexistent-cmd",
        ])?
        .failed()?;
    ensure!(
        out.stderr.contains("exec failed: ") && out.stderr.contains("/nonexistent-cmd"),
        "{}",
        out.describe("should carry the runtime's exec error naming /nonexistent-cmd")
    );
    // The container survives a failed exec.
    x.c.ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        &format!("{host}-good"),
        &host,
        "true",
    ])?;
    x.stop_and_delete(&host)
}

/// Every runtime call the shim makes in a whole lifecycle succeeds: the runtime is
/// wrapped so each call and its exit code is logged (failures the shim tolerates,
/// such as a `delete` it retries with `--force`, would otherwise go unseen).
fn runtime_calls(x: &Ctx) -> Result<()> {
    let t = x.traced.context("runtime_calls needs the traced wrapper")?;
    t.reset()?;
    let id = x.id("");
    x.sleeper(&id, &[])?;
    x.c.ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        &format!("{id}-probe"),
        &id,
        "true",
    ])?;
    x.c.ctr_ok(&["task", "ps", &id])?;
    x.c.ctr_ok(&["task", "pause", &id])?;
    x.c.wait_status(&id, "PAUSED")?;
    x.c.ctr_ok(&["task", "resume", &id])?;
    x.c.wait_status(&id, "RUNNING")?;
    x.c.ctr_ok(&["task", "kill", "--signal", "SIGCONT", &id])?;
    x.c.ctr_ok(&["task", "kill", "--all", "--signal", "SIGKILL", &id])?;
    x.c.wait_status(&id, "STOPPED")?;
    x.delete_stopped(&id)?;
    let tty = x.id("tty");
    let s = PtySession::spawn(x.run_cmd(&["-t", "--rm"], &tty, &["sh", "-c", "exit 0"]))?;
    let (code, transcript) = s.finish()?;
    ensure!(code == Some(0), "ctr run -t exited {code:?}:\n{transcript}");
    check_calls(
        &t.calls()?,
        &[
            "create", "start", "exec", "ps", "pause", "resume", "kill", "delete",
        ],
        &[
            ("create", "--console-socket"),
            ("create", "--log-format"),
            ("kill", "--all"),
            ("delete", "--force"),
            ("exec", "--detach"),
        ],
    )
}

/// The last `n` lines of a log.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The pid of `pid`'s parent, from /proc.
fn parent_of(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// The live shim processes started for container `id` (`-id <id>` on their command line).
fn shims_of(x: &Ctx, id: &str) -> Vec<(i32, String)> {
    leftovers::processes_with(&format!("-namespace {} -id {id} ", x.c.namespace))
}

fn sleeping(pid: u32) -> bool {
    leftovers::processes_with("sleep 1000")
        .iter()
        .any(|p| p.0 == pid as i32)
}

/// A shim killed with SIGKILL mid-run: containerd sees its connection close and
/// runs the shim's `delete` action, which removes the container from the runtime
/// (its init dies), unmounts the rootfs and removes the dead shim's socket; then
/// `ctr task delete` and `ctr container delete` leave nothing behind.
fn shim_killed(x: &Ctx) -> Result<()> {
    use nix::sys::signal::{kill, Signal};
    let id = x.id("");
    let init = x.sleeper(&id, &[])?;
    let shims = shims_of(x, &id);
    ensure!(
        shims.len() == 1,
        "expected one shim for {id}, found {shims:?}"
    );
    kill(nix::unistd::Pid::from_raw(shims[0].0), Signal::SIGKILL)?;
    wait_for("the task to stop or go once its shim died", || {
        Ok(match x.c.task(&id)? {
            None => Some(()),
            Some((_, st)) if st == "STOPPED" => Some(()),
            _ => None,
        })
    })
    .with_context(|| format!("containerd log tail:\n{}", tail(&x.c.daemon_log(), 8)))?;
    // The task is usually gone already (containerd's cleanup removed it): then ctr
    // never learns its FIFO paths and leaves them, whatever the shim; remove them.
    let del = x.c.ctr(&["task", "delete", &id])?;
    if !del.success() {
        ensure!(
            del.stderr.contains("not found"),
            "{}",
            del.describe("should succeed or find no task")
        );
        x.c.remove_fifos(&id);
    }
    ensure!(x.c.task(&id)?.is_none(), "task still listed after delete");
    wait_for("the container's init to be gone", || {
        Ok((!sleeping(init)).then_some(()))
    })?;
    x.c.ctr_ok(&["container", "delete", &id])?;
    Ok(())
}

/// Two containers carrying one `io.kubernetes.cri.sandbox-id` run under one shim
/// process (their inits are its children, one socket named by the sandbox id);
/// the shim outlives the first container's delete and exits after the last.
fn sandbox_group(x: &Ctx) -> Result<()> {
    let (a, b) = (x.id("a"), x.id("b"));
    let pod = format!("{}-pod", x.base);
    let ann = format!("io.kubernetes.cri.sandbox-id={pod}");
    let init_a = x.sleeper(&a, &["--annotation", &ann])?;
    let init_b = x.sleeper(&b, &["--annotation", &ann])?;
    let (shims_a, shims_b) = (shims_of(x, &a), shims_of(x, &b));
    ensure!(
        shims_a.len() == 1 && shims_b.is_empty(),
        "one shim (started for {a}) should serve both; shims for {a}: {shims_a:?}, for {b}: {shims_b:?}"
    );
    let shim = shims_a[0].0;
    let parents = (parent_of(init_a), parent_of(init_b));
    ensure!(
        parents == (Some(shim), Some(shim)),
        "inits {init_a} and {init_b} have parents {parents:?}, not the shared shim {shim}"
    );
    let socket = x.c.shim_socket(&pod);
    ensure!(
        socket.exists() && !x.c.shim_socket(&a).exists(),
        "the shared shim should listen on the sandbox's socket {}",
        socket.display()
    );
    x.stop_and_delete(&a)?;
    ensure!(
        !shims_of(x, &a).is_empty(),
        "the shared shim exited with {b} still running"
    );
    x.c.ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        &format!("{b}-after"),
        &b,
        "true",
    ])?;
    x.stop_and_delete(&b)?;
    wait_for("the shared shim to exit", || {
        Ok(shims_of(x, &a).is_empty().then_some(()))
    })?;
    wait_for("the sandbox socket to go", || {
        Ok((!socket.exists()).then_some(()))
    })?;
    Ok(())
}

/// `ctr events` while a task lives: the shim's task events reach containerd in the
/// order it expects (create, start, exec added/started/exit, paused, resumed, the
/// init's exit, delete), and a memory-limited task killed by the OOM killer gives
/// /tasks/oom and exit status 137.
fn events(x: &Ctx) -> Result<()> {
    let mut watcher =
        x.c.ctr_cmd(&["events"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
    let stdout = watcher.stdout.take().context("ctr events stdout")?;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(l);
        }
    });
    let res = events_flow(x, &lines);
    let _ = watcher.kill();
    let _ = watcher.wait();
    let _ = reader.join();
    res
}

fn events_flow(x: &Ctx, lines: &std::sync::Mutex<Vec<String>>) -> Result<()> {
    // ctr events prints `<time> <namespace> <topic> <event JSON>`.
    let topics_of = |id: &str| -> Vec<String> {
        let needle = format!("\"{id}\"");
        lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|l| l.contains(&needle) && l.contains(" /tasks/"))
            .filter_map(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with("/tasks/"))
                    .map(String::from)
            })
            .collect()
    };
    // ctr subscribes asynchronously: wait until it sees a container event.
    let probe = x.id("probe");
    cmd::ok(&mut x.run_cmd(&["--rm"], &probe, &["true"]))?;
    wait_for("ctr events to report a task", || {
        Ok((!topics_of(&probe).is_empty()).then_some(()))
    })?;

    let id = x.id("");
    x.sleeper(&id, &[])?;
    x.c.ctr_ok(&["task", "exec", "--exec-id", &format!("{id}-e"), &id, "true"])?;
    x.c.ctr_ok(&["task", "pause", &id])?;
    x.c.wait_status(&id, "PAUSED")?;
    x.c.ctr_ok(&["task", "resume", &id])?;
    x.c.wait_status(&id, "RUNNING")?;
    x.stop_and_delete(&id)?;
    let want = [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/exit",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
        "/tasks/delete",
    ];
    wait_for("the delete event", || {
        Ok(topics_of(&id)
            .iter()
            .any(|t| t == "/tasks/delete")
            .then_some(()))
    })
    .with_context(|| format!("events of {id}: {:?}", topics_of(&id)))?;
    let got = topics_of(&id);
    ensure!(got == want, "events of {id}: {got:?}, expected {want:?}");

    let oom = x.id("oom");
    // The shell keeps a 64 MiB string: far over the 16 MiB limit.
    let out = run(&mut x.run_cmd(
        &["--rm", "--memory-limit", "16777216"],
        &oom,
        &[
            "sh",
            "-c",
            "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived",
        ],
    ))?;
    ensure!(
        out.code == Some(137),
        "{}",
        out.describe("should be OOM-killed (exit 137)")
    );
    wait_for("the oom event", || {
        Ok(topics_of(&oom)
            .iter()
            .any(|t| t == "/tasks/oom")
            .then_some(()))
    })
    .with_context(|| format!("events of {oom}: {:?}", topics_of(&oom)))?;
    Ok(())
}

/// Why the checkpoint flow cannot run: no CRIU installed (apt criu).
fn criu_missing() -> Option<String> {
    (!crate::have("criu")).then(|| "criu not installed (apt criu)".to_string())
}

fn checkpoint_through_criu(x: &Ctx) -> Result<()> {
    let id = x.id("");
    x.sleeper(&id, &[])?;
    let out = x.c.ctr(&["task", "checkpoint", &id])?;
    if out.success() {
        // A kernel CRIU works on: checkpointed and, by default, left running.
        x.c.wait_status(&id, "RUNNING")?;
        return x.stop_and_delete(&id);
    }
    // Here CRIU 3.17 fails on the kernel's vDSO: its own error line must reach ctr
    // through sangja's log, and the task must run on.
    ensure!(
        out.stderr.contains("criu dump failed") && out.stderr.contains("Error ("),
        "{}",
        out.describe("should carry CRIU's own error through sangja checkpoint")
    );
    x.c.wait_status(&id, "RUNNING")?;
    x.c.ctr_ok(&["task", "exec", "--exec-id", "after-ckpt", &id, "true"])?;
    x.stop_and_delete(&id)
}

/// A shim beside a `sangja` that runs the real one with `--criu` naming a recording
/// stand-in for CRIU: its dump succeeds, its restore starts `sleep 1000` (in the cgroup
/// sangja put it in) and writes CRIU's --pidfile, so a restored task really runs. Each
/// call's arguments are appended to `criu.args`, one per line, after a `--call` line.
struct CriuStandIn {
    dir: std::path::PathBuf,
    shim: std::path::PathBuf,
}

impl CriuStandIn {
    fn new(x: &Ctx) -> Result<CriuStandIn> {
        use std::os::unix::fs::PermissionsExt;
        let shim = x.rt.shim.as_ref().context("a shim runtime")?;
        let dir = std::env::temp_dir().join(format!("{}-criu-{}", x.base, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let criu = dir.join("criu");
        let log = dir.join("criu.args");
        std::fs::write(
            &criu,
            format!(
                "#!/bin/sh\nprintf -- '--call\\n' >> '{log}'\nprintf '%s\\n' \"$@\" >> '{log}'\n\
                 [ \"$1\" = restore ] || exit 0\n\
                 pidfile=$(printf '%s\\n' \"$@\" | sed -n '/^--pidfile$/{{n;p}}')\n\
                 setsid sleep 1000 </dev/null >/dev/null 2>&1 &\n\
                 echo $! > \"$pidfile\"\n",
                log = log.display()
            ),
        )?;
        let sangja = dir.join("sangja");
        std::fs::write(
            &sangja,
            format!(
                "#!/bin/sh\nexec '{}' --criu '{}' \"$@\"\n",
                x.rt.path.display(),
                criu.display()
            ),
        )?;
        for f in [&criu, &sangja] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755))?;
        }
        let link = dir.join(sangja_clients::runtimes::SHIM_NAME);
        std::os::unix::fs::symlink(shim, &link)?;
        Ok(CriuStandIn { dir, shim: link })
    }

    /// The arguments of each CRIU call so far.
    fn calls(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.join("criu.args")).unwrap_or_default();
        let mut calls: Vec<Vec<String>> = Vec::new();
        for l in text.lines() {
            if l == "--call" {
                calls.push(Vec::new());
            } else if let Some(c) = calls.last_mut() {
                c.push(l.to_string());
            }
        }
        calls
    }
}

impl Drop for CriuStandIn {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `ctr container checkpoint --task`, then `ctr container restore --live`: the shim
/// keeps the checkpoint at Create and runs `sangja restore --detach` at Start, CRIU
/// being a recording stand-in (the real CRIU 3.17 cannot run on this kernel: `criu
/// check` fails on its vDSO, so no memory image is ever really restored here).
fn restore_from_checkpoint(x: &Ctx) -> Result<()> {
    let standin = CriuStandIn::new(x)?;
    let id = x.id("");
    let ckpt = format!("sangja.test/{id}-checkpoint:1");
    let res = restore_flow(x, &standin, &id, &ckpt);
    if res.is_err() {
        // The shim runs sangja through the stand-in's directory: clean up before it goes.
        x.c.force_remove(&id);
        let _ = x.c.ctr(&["image", "rm", &ckpt]);
    }
    res
}

fn restore_flow(x: &Ctx, standin: &CriuStandIn, id: &str, ckpt: &str) -> Result<()> {
    let shim = standin.shim.to_string_lossy().into_owned();
    let (id, ckpt) = (id.to_string(), ckpt.to_string());
    cmd::ok(
        &mut x
            .c
            .ctr_cmd(&["run", "-d", "--runtime", &shim, IMAGE, &id, "sleep", "1000"]),
    )?;
    let first = x.c.wait_status(&id, "RUNNING")?;
    x.c.ctr_ok(&["container", "checkpoint", "--task", &id, &ckpt])?;
    let calls = standin.calls();
    ensure!(
        calls.len() == 1 && calls[0].first().map(String::as_str) == Some("dump"),
        "one criu dump expected: {calls:?}"
    );
    ensure!(
        calls[0]
            .windows(2)
            .any(|w| w[0] == "--tree" && w[1] == first.to_string()),
        "the dump is not of the task's init {first}: {:?}",
        calls[0]
    );
    x.c.wait_status(&id, "RUNNING")?;
    x.stop_and_delete(&id)?;

    // Without a terminal, ctr returns once the restored task has started.
    x.c.ctr_ok(&["container", "restore", "--live", &id, &ckpt])?;
    let pid = x.c.wait_status(&id, "RUNNING")?;
    let calls = standin.calls();
    let r = calls
        .iter()
        .find(|c| c.first().map(String::as_str) == Some("restore"))
        .with_context(|| format!("no criu restore: {calls:?}"))?;
    for f in ["--restore-detached", "--restore-sibling"] {
        ensure!(r.iter().any(|a| a == f), "{f} missing: {r:?}");
    }
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))?;
    ensure!(
        cmdline
            .split('\0')
            .collect::<Vec<_>>()
            .starts_with(&["sleep", "1000"]),
        "task pid {pid} is not what CRIU restored: {cmdline:?}"
    );
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    ensure!(
        cg.contains(&format!("/{}/{id}", x.c.namespace)),
        "the restored process is outside the task's cgroup: {cg}"
    );
    // sangja's own record of the restored container is the task.
    let st = Command::new(&x.rt.path)
        .arg("--root")
        .arg(x.rt.shim_root(&x.c.namespace))
        .args(["state", &id])
        .output()?;
    let st: serde_json::Value = serde_json::from_slice(&st.stdout)
        .with_context(|| String::from_utf8_lossy(&st.stderr).into_owned())?;
    ensure!(
        st["status"] == "running" && st["pid"] == pid,
        "sangja state {st} for task pid {pid}"
    );
    x.c.ctr_ok(&["task", "exec", "--exec-id", "after-restore", &id, "true"])?;
    x.stop_and_delete(&id)?;
    x.c.ctr_ok(&["image", "rm", &ckpt])?;
    Ok(())
}

/// The shim's Update RPC, sent over the task socket containerd itself uses (ctr 1.6
/// has no `task update`): LinuxResources JSON in, host cgroups changed, task alive.
fn update_rpc(x: &Ctx) -> Result<()> {
    use containerd_shim_protos::protobuf::well_known_types::any::Any;
    use containerd_shim_protos::shim::shim::UpdateTaskRequest;
    use containerd_shim_protos::ttrpc;
    let id = x.id("");
    x.sleeper(&id, &[])?;
    let tasks = x.shim_tasks(&id)?;
    let req = UpdateTaskRequest {
        id: id.clone(),
        resources: Some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
            value: br#"{"memory":{"limit":50331648},"cpu":{"shares":512},"pids":{"limit":77}}"#
                .to_vec(),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    tasks
        .update(ttrpc::context::with_timeout(30_000_000_000), &req)
        .context("Update RPC")?;
    for (file, want) in [
        ("memory.limit_in_bytes", "50331648"),
        ("cpu.shares", "512"),
        ("pids.max", "77"),
    ] {
        let got = x.cgroup_file(&id, file)?;
        ensure!(got == want, "{file} after Update is {got}, not {want}");
    }
    x.c.ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        &format!("{id}-after"),
        &id,
        "true",
    ])?;
    x.stop_and_delete(&id)
}
