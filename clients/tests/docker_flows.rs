//! Docker Engine 20.10 flows: `/usr/bin/docker --runtime <name>` against a private
//! dockerd on the suite's containerd, through containerd's stock runc shim with the
//! runtime named in daemon.json. Every runtime call dockerd makes in a flow goes
//! through the suite's logging wrapper and must exit 0, except the failures a flow
//! provokes on purpose (it says which and how many).

use crate::{check_exec_probe, lab, Flow, SharedLab, EXEC_PROBE};
use anyhow::{ensure, Context, Result};
use libtest_mimic::Failed;
use sangja_clients::cmd::{run, wait_for, Outcome};
use sangja_clients::docker::{self, Docker};
use sangja_clients::image::IMAGE;
use sangja_clients::leftovers;
use sangja_clients::pty::check_shell_terminal;
use sangja_clients::runtimes::{check_calls, Call, Runtime, Traced};
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::Command;

/// A flow's view: the daemon, the runtime under test (as dockerd names it and its
/// traced wrapper), and a scratch dir.
struct Ctx<'a> {
    d: &'a Docker,
    /// The wrapper dockerd runs: its file name is what go-runc puts in messages.
    rt: &'a Runtime,
    /// `docker run --runtime <name>`.
    name: String,
    traced: &'a Traced,
    base: String,
    dir: PathBuf,
    /// Images the flow made, removed after it.
    images: RefCell<Vec<String>>,
}

/// What a flow expects of the runtime calls dockerd made.
#[derive(Default)]
struct Want {
    /// Verbs that must have been called.
    verbs: &'static [&'static str],
    /// `(verb, flag)`: some call of the verb carried the flag.
    flags: &'static [(&'static str, &'static str)],
    /// `(verb, n)`: exactly n calls of the verb fail, as the flow intends.
    failing: &'static [(&'static str, usize)],
}

impl Ctx<'_> {
    fn cname(&self, suffix: &str) -> String {
        if suffix.is_empty() {
            self.base.clone()
        } else {
            format!("{}-{suffix}", self.base)
        }
    }

    /// `docker run --name N --runtime <rt> --network none --pull never <opts> IMAGE <cmd>`:
    /// no network changes, and never a registry lookup.
    fn run_cmd(&self, opts: &[&str], name: &str, command: &[&str]) -> Command {
        let mut c = self.d.cmd(&[
            "run",
            "--name",
            name,
            "--runtime",
            &self.name,
            "--network",
            "none",
            "--pull",
            "never",
        ]);
        c.args(opts).arg(IMAGE).args(command);
        c
    }

    fn run(&self, opts: &[&str], name: &str, command: &[&str]) -> Result<Outcome> {
        run(&mut self.run_cmd(opts, name, command))
    }

    fn docker(&self, args: &[&str]) -> Result<Outcome> {
        self.d.docker(args)
    }

    fn ok(&self, args: &[&str]) -> Result<Outcome> {
        self.d.ok(args)
    }

    /// A detached container running `script`, up when this returns: the script must
    /// `touch /tmp/ready` once its traps are set.
    fn detached(&self, name: &str, opts: &[&str], script: &str) -> Result<()> {
        let mut all = vec!["-d"];
        all.extend_from_slice(opts);
        self.run(&all, name, &["sh", "-c", script])?.ok()?;
        wait_for(&format!("{name} to be ready"), || {
            Ok(self
                .docker(&["exec", name, "test", "-e", "/tmp/ready"])?
                .success()
                .then_some(()))
        })
    }

    /// A detached `sleep`, running when this returns.
    fn sleeper(&self, name: &str, opts: &[&str]) -> Result<()> {
        self.detached(name, opts, "touch /tmp/ready; exec sleep 1000")
    }

    fn status(&self, name: &str) -> Result<String> {
        self.d.inspect(name, "{{.State.Status}}")
    }

    /// A file of the container's cgroup (`/<cgroup parent>/<id>`) on the host, from the
    /// hierarchy that has it.
    fn cgroup_file(&self, name: &str, files: &[&str]) -> Result<String> {
        let id = self.d.inspect(name, "{{.Id}}")?;
        let rel = format!("{}/{id}", self.d.cgroup_parent);
        let dirs = leftovers::cgroups_named(&rel);
        let path = files
            .iter()
            .flat_map(|f| dirs.iter().map(move |d| d.join(f)))
            .find(|p| p.exists())
            .with_context(|| format!("no cgroup /{rel} with any of {files:?} on the host"))?;
        Ok(std::fs::read_to_string(&path)?.trim().to_string())
    }

    /// v1 freezer.state, or v2 cgroup.freeze in the same words.
    fn freezer(&self, name: &str) -> Result<String> {
        let v = self.cgroup_file(name, &["freezer.state", "cgroup.freeze"])?;
        Ok(match v.as_str() {
            "1" => "FROZEN".into(),
            "0" => "THAWED".into(),
            _ => v,
        })
    }
}

type FlowFn = fn(&Ctx) -> Result<Want>;

pub fn flows(shared: &SharedLab, runtimes: &[Runtime], rt: &Runtime) -> Vec<Flow> {
    let mut missing: Vec<String> = docker::missing().into_iter().collect();
    missing.extend(
        ["containerd", "ctr"]
            .iter()
            .filter(|t| !crate::have(t))
            .map(|t| format!("{t} not installed (dockerd runs on the suite's containerd)")),
    );
    let table: [(&'static str, FlowFn, Option<String>); 14] = [
        ("run_rm_output", run_rm_output, None),
        ("exit_codes", exit_codes, None),
        ("detach_exec_logs_stop_rm", detach_exec_logs_stop_rm, None),
        ("run_it", run_it, None),
        ("exec_it", exec_it, None),
        ("pause_unpause", pause_unpause, None),
        ("top", top, None),
        ("stats", stats, crate::ctr_flows::metrics_blocked()),
        ("kill_signal", kill_signal, None),
        ("update_memory", update_memory, None),
        ("restart", restart, None),
        ("security_options", security_options, None),
        ("limits", limits, None),
        ("build", build, None),
    ];
    crate::client_flows(
        "docker",
        shared,
        runtimes,
        rt,
        &missing,
        table.into(),
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
    let d = lab
        .docker
        .as_ref()
        .map_err(|e| format!("the private dockerd could not be set up: {e}"))?;
    let d = d.lock().unwrap_or_else(|e| e.into_inner());
    let traced = lab
        .docker_traced_for(&rt.name)
        .ok_or_else(|| format!("no traced wrapper for {}", rt.name))?;
    let dir = lab
        .dir
        .path()
        .join("docker-flows")
        .join(format!("{}-{name}", rt.name));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    traced.reset().map_err(|e| e.to_string())?;
    let ctx = Ctx {
        d: &d,
        rt: &traced.rt,
        name: docker::runtime_name(&rt.name),
        traced,
        base: format!("{}-{}", rt.name, name.replace('_', "-")),
        dir,
        images: RefCell::new(Vec::new()),
    };
    let res = f(&ctx);
    let images = ctx.images.take();
    let images: Vec<&str> = images.iter().map(String::as_str).collect();
    if res.is_err() {
        d.force_clean(&images);
    } else {
        for image in &images {
            let _ = d.docker(&["rmi", image]);
        }
    }
    let calls = traced.calls().unwrap_or_default();
    let left = d.leftovers(&container_ids(&calls)).err();
    let res = res.and_then(|want| check_docker_calls(&calls, &want));
    match (res, left) {
        (Err(e), None) => Err(format!("{e:#}").into()),
        (Err(e), Some(l)) => {
            d.force_clean(&images);
            Err(format!("{e:#}\nand after the flow:\n{l:#}").into())
        }
        (Ok(()), None) => Ok(()),
        (Ok(()), Some(l)) => {
            d.force_clean(&images);
            Err(format!("{l:#}").into())
        }
    }
}

/// The container ids the runtime was asked to create (the last word of `create`).
fn container_ids(calls: &[Call]) -> Vec<String> {
    let mut ids: Vec<String> = calls
        .iter()
        .filter(|c| c.verb == "create")
        .filter_map(|c| c.args.split_whitespace().last().map(str::to_string))
        .collect();
    ids.dedup();
    ids
}

/// The failures the flow provoked are set aside (and must all have happened); every
/// other call must have succeeded, with the verbs and flags the flow wants.
fn check_docker_calls(calls: &[Call], want: &Want) -> Result<()> {
    let mut budget: Vec<(&str, usize)> = want.failing.to_vec();
    let mut rest = Vec::new();
    for c in calls {
        let expected = budget
            .iter_mut()
            .find(|(v, n)| c.code != 0 && *v == c.verb && *n > 0);
        match expected {
            Some((_, n)) => *n -= 1,
            None => rest.push(c.clone()),
        }
    }
    let unmet: Vec<String> = budget
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| format!("{n} more failing `{v}`"))
        .collect();
    ensure!(
        unmet.is_empty(),
        "the flow provoked runtime failures that never happened ({}); the calls were:\n{}",
        unmet.join(", "),
        calls
            .iter()
            .map(|c| format!("  exit {}: {}", c.code, c.args))
            .collect::<Vec<_>>()
            .join("\n")
    );
    check_calls(&rest, want.verbs, want.flags)
}

/// `docker run --rm`: stdout and stderr of the container reach the user separately.
fn run_rm_output(x: &Ctx) -> Result<Want> {
    let out = x
        .run(
            &["--rm"],
            &x.cname(""),
            &[
                "sh",
                "-c",
                "echo out-$((6*7)); echo err-$((6*7)) >&2; echo home=$HOME",
            ],
        )?
        .ok()?;
    ensure!(
        out.stdout.contains("out-42") && !out.stdout.contains("err-42"),
        "{}",
        out.describe("stdout should hold out-42 alone")
    );
    // dockerd sets no HOME: the runtime fills it from the image's /etc/passwd, as runc.
    ensure!(
        out.stdout.lines().any(|l| l == "home=/root"),
        "{}",
        out.describe("HOME should be root's home from /etc/passwd")
    );
    ensure!(
        out.stderr.contains("err-42"),
        "{}",
        out.describe("lacks err-42 on stderr")
    );
    Ok(Want {
        verbs: &["create", "start", "delete"],
        flags: &[("create", "--log-format"), ("delete", "--force")],
        ..Want::default()
    })
}

/// A container the runtime fails to start, and what docker makes of it.
struct StartFailure {
    suffix: &'static str,
    opts: &'static [&'static str],
    command: &'static [&'static str],
    code: i32,
    /// What the runtime's message must say for docker to pick `code`.
    says: &'static str,
}

/// Exit codes as docker maps them: the process's own (0, 7); 127 for a command that
/// does not exist, 126 for one that cannot be executed, 125 for any other failure to
/// start, each decided by the docker client from the runtime's own message.
fn exit_codes(x: &Ctx) -> Result<Want> {
    for code in [0, 7] {
        x.run(
            &["--rm"],
            &x.cname(&code.to_string()),
            &["sh", "-c", &format!("exit {code}")],
        )?
        .code_is(code)?;
    }
    let failed = format!("{} create failed: ", x.rt.command_name());
    let cases = [
        StartFailure {
            suffix: "missing",
            opts: &[],
            command: &["/nonexistent-cmd"],
            code: 127,
            says: "no such file or directory",
        },
        StartFailure {
            suffix: "not-in-path",
            opts: &[],
            command: &["nosuchcmd"],
            code: 127,
            says: "executable file not found",
        },
        StartFailure {
            suffix: "noexec",
            opts: &[],
            command: &["/etc/passwd"],
            code: 126,
            says: "permission denied",
        },
        // Past root's hard limit here (no CAP_SYS_RESOURCE): setrlimit fails in the
        // runtime with EPERM, which docker classifies as neither of the above.
        StartFailure {
            suffix: "rlimit",
            opts: &["--ulimit", "nofile=1048577:1048577"],
            command: &["true"],
            code: 125,
            says: "rlimit",
        },
    ];
    for StartFailure {
        suffix,
        opts,
        command,
        code,
        says,
    } in cases
    {
        let mut all = vec!["--rm"];
        all.extend_from_slice(opts);
        let out = x.run(&all, &x.cname(suffix), command)?;
        ensure!(
            out.code == Some(code) && out.stderr.contains(&failed) && out.stderr.contains(says),
            "{}",
            out.describe(&format!(
                "should exit {code} with the runtime's own message ({failed:?}) saying {says:?}"
            ))
        );
    }
    // A runtime dockerd does not know: 125 before any runtime call.
    let out = run(x
        .d
        .cmd(&[
            "run",
            "--rm",
            "--runtime",
            "no-such-runtime",
            "--network",
            "none",
        ])
        .arg(IMAGE)
        .arg("true"))?;
    ensure!(
        out.code == Some(125) && out.stderr.contains("no-such-runtime"),
        "{}",
        out.describe("an unknown --runtime should exit 125 naming it")
    );
    Ok(Want {
        verbs: &["create", "start", "delete"],
        failing: &[("create", 4)],
        ..Want::default()
    })
}

/// `run -d`, `exec` (runtime `exec --detach` under the shim), `logs`, `stop`
/// delivering SIGTERM to a trapping init, its exit code recorded, then `rm`.
fn detach_exec_logs_stop_rm(x: &Ctx) -> Result<Want> {
    let n = x.cname("");
    x.detached(
        &n,
        &[],
        "trap 'echo got-term; exit 3' TERM; echo started-$((6*7)); touch /tmp/ready; \
         while :; do sleep 0.1; done",
    )?;
    let mut probe = vec!["exec", "-e", "X=y", &n];
    probe.extend(EXEC_PROBE);
    check_exec_probe(x.docker(&probe)?)?;
    // dockerd 20.10 answers every exec the runtime refuses with 126 (runc too), the
    // runtime's message on the client's stdout. The container lives on.
    let out = x.docker(&["exec", &n, "/nonexistent-cmd"])?;
    ensure!(
        out.code == Some(126)
            && out.stdout.contains("exec failed: ")
            && out.stdout.contains("/nonexistent-cmd"),
        "{}",
        out.describe("exec of a missing command should exit 126 with the runtime's message")
    );
    x.ok(&["exec", &n, "true"])?;
    let logs = x.ok(&["logs", &n])?;
    ensure!(
        logs.stdout.contains("started-42"),
        "{}",
        logs.describe("logs lack started-42")
    );
    x.ok(&["stop", "--time", "60", &n])?;
    let (state, code) = (x.status(&n)?, x.d.inspect(&n, "{{.State.ExitCode}}")?);
    ensure!(
        state == "exited" && code == "3",
        "after stop: state {state}, exit code {code} (the trap exits 3)"
    );
    let logs = x.ok(&["logs", &n])?;
    ensure!(
        logs.stdout.contains("got-term"),
        "{}",
        logs.describe("the trap never ran: logs lack got-term")
    );
    x.ok(&["rm", &n])?;
    Ok(Want {
        verbs: &["create", "start", "exec", "kill", "delete"],
        flags: &[("exec", "--detach"), ("exec", "--process")],
        failing: &[("exec", 1)],
    })
}

/// `docker run -it` under a pty we own: the shim passes `--console-socket`; the
/// container sees a terminal of our size; the exit code comes back.
fn run_it(x: &Ctx) -> Result<Want> {
    check_shell_terminal(
        x.run_cmd(&["-it", "--rm"], &x.cname(""), &["sh"]),
        "docker run -it",
        3,
    )?;
    Ok(Want {
        verbs: &["create", "start", "delete"],
        flags: &[("create", "--console-socket")],
        ..Want::default()
    })
}

/// `docker exec -it` under a pty we own: the shim runs `exec --console-socket`; the
/// exec'd shell has a terminal of our size and its exit code comes back.
fn exec_it(x: &Ctx) -> Result<Want> {
    let n = x.cname("");
    x.sleeper(&n, &[])?;
    check_shell_terminal(x.d.cmd(&["exec", "-it", &n, "sh"]), "docker exec -it", 6)?;
    x.ok(&["rm", "--force", &n])?;
    Ok(Want {
        verbs: &["create", "start", "exec", "kill", "delete"],
        flags: &[("exec", "--console-socket")],
        ..Want::default()
    })
}

/// `pause`/`unpause`: state and the freezer cgroup follow; the container works after.
fn pause_unpause(x: &Ctx) -> Result<Want> {
    let n = x.cname("");
    x.sleeper(&n, &[])?;
    x.ok(&["pause", &n])?;
    let (state, frozen) = (x.status(&n)?, x.freezer(&n)?);
    ensure!(
        state == "paused" && frozen == "FROZEN",
        "after pause: state {state}, freezer {frozen}"
    );
    x.ok(&["unpause", &n])?;
    let (state, thawed) = (x.status(&n)?, x.freezer(&n)?);
    ensure!(
        state == "running" && thawed == "THAWED",
        "after unpause: state {state}, freezer {thawed}"
    );
    let out = x.ok(&["exec", &n, "echo", "alive"])?;
    ensure!(
        out.stdout.contains("alive"),
        "{}",
        out.describe("exec after unpause")
    );
    x.ok(&["rm", "--force", &n])?;
    Ok(Want {
        verbs: &[
            "create", "start", "pause", "resume", "exec", "kill", "delete",
        ],
        ..Want::default()
    })
}

/// `docker top` (runtime `ps --format json`) shows init and an exec'd process.
fn top(x: &Ctx) -> Result<Want> {
    let n = x.cname("");
    x.sleeper(&n, &[])?;
    x.ok(&["exec", "--detach", &n, "sleep", "999"])?;
    wait_for("`docker top` to show both sleeps", || {
        let out = x.ok(&["top", &n, "-o", "pid,args"])?;
        Ok((out.stdout.contains("sleep 1000") && out.stdout.contains("sleep 999")).then_some(()))
    })?;
    x.ok(&["rm", "--force", &n])?;
    Ok(Want {
        verbs: &["create", "start", "exec", "ps", "kill", "delete"],
        flags: &[("ps", "json")],
        ..Want::default()
    })
}

/// `docker stats --no-stream`: the shim reads the container's cgroups, so they must
/// be where the runtime put them, with the memory limit asked for.
fn stats(x: &Ctx) -> Result<Want> {
    let n = x.cname("");
    x.sleeper(&n, &["--memory", "64m"])?;
    let out = x.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.PIDs}}",
        &n,
    ])?;
    // e.g. "<name> 356KiB / 64MiB 1"
    let line = out.stdout.trim();
    let pids = line
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    ensure!(
        line.starts_with(&n) && line.contains("/ 64MiB") && pids >= 1,
        "{}",
        out.describe("should show the 64MiB limit and at least one pid")
    );
    x.ok(&["rm", "--force", &n])?;
    Ok(Want {
        verbs: &["create", "start", "kill", "delete"],
        ..Want::default()
    })
}

/// `docker kill -s USR1` reaches the init's trap and leaves it running; a plain
/// `docker kill` (SIGKILL) ends it with 137.
fn kill_signal(x: &Ctx) -> Result<Want> {
    let n = x.cname("");
    x.detached(
        &n,
        &[],
        "trap 'echo usr1 > /tmp/got-usr1' USR1; touch /tmp/ready; while :; do sleep 0.1; done",
    )?;
    x.ok(&["kill", "-s", "USR1", &n])?;
    wait_for("the USR1 trap to run", || {
        Ok(x.docker(&["exec", &n, "test", "-e", "/tmp/got-usr1"])?
            .success()
            .then_some(()))
    })?;
    ensure!(
        x.status(&n)? == "running",
        "SIGUSR1 with a trap should leave the container running"
    );
    x.ok(&["kill", &n])?;
    wait_for("the container to exit after SIGKILL", || {
        Ok((x.status(&n)? == "exited").then_some(()))
    })?;
    let code = x.d.inspect(&n, "{{.State.ExitCode}}")?;
    ensure!(code == "137", "exit code after SIGKILL is {code}, not 137");
    x.ok(&["rm", &n])?;
    Ok(Want {
        verbs: &["create", "start", "exec", "kill", "delete"],
        ..Want::default()
    })
}

/// The memory limit the container sees, from inside (cgroup v1 or v2).
const MEMORY_LIMIT: &str = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
                            || cat /sys/fs/cgroup/memory.max";

/// `docker update --memory` (runtime `update --resources -`): the new limit is seen
/// from inside the running container and on the host.
fn update_memory(x: &Ctx) -> Result<Want> {
    let n = x.cname("");
    // dockerd 20.10 itself refuses `update --memory` without `--memory-swap` on this
    // host, before any runtime call ("Memory limit should be smaller than already set
    // memoryswap limit", runc too): both change together.
    x.sleeper(&n, &["--memory", "96m", "--memory-swap", "96m"])?;
    x.ok(&["update", "--memory", "64m", "--memory-swap", "64m", &n])?;
    let inside = x.ok(&["exec", &n, "sh", "-c", MEMORY_LIMIT])?;
    ensure!(
        inside.stdout.trim() == "67108864",
        "{}",
        inside.describe("the container should see a 64MiB limit")
    );
    let host = x.cgroup_file(&n, &["memory.limit_in_bytes", "memory.max"])?;
    ensure!(host == "67108864", "the host cgroup limit is {host}");
    x.ok(&["rm", "--force", &n])?;
    Ok(Want {
        verbs: &["create", "start", "update", "exec", "kill", "delete"],
        flags: &[("update", "--resources")],
        ..Want::default()
    })
}

/// `docker restart`: the init is stopped (SIGTERM to its trap) and a new one runs
/// in the same container, which works after.
fn restart(x: &Ctx) -> Result<Want> {
    let n = x.cname("");
    x.detached(
        &n,
        &[],
        "trap 'exit 0' TERM; touch /tmp/ready; while :; do sleep 0.1; done",
    )?;
    let before = x.d.inspect(&n, "{{.State.Pid}} {{.State.StartedAt}}")?;
    x.ok(&["restart", "--time", "60", &n])?;
    let after = x.d.inspect(&n, "{{.State.Pid}} {{.State.StartedAt}}")?;
    let state = x.status(&n)?;
    ensure!(
        state == "running" && after != before,
        "after restart: state {state}, pid/start {after} (before {before})"
    );
    let out = x.ok(&["exec", &n, "echo", "alive"])?;
    ensure!(
        out.stdout.contains("alive"),
        "{}",
        out.describe("exec after restart")
    );
    x.ok(&["rm", "--force", &n])?;
    Ok(Want {
        verbs: &["create", "start", "exec", "kill", "delete"],
        ..Want::default()
    })
}

/// `--read-only`, `--cap-drop ALL` and `--security-opt no-new-privileges`, each seen
/// from inside against a container without them.
fn security_options(x: &Ctx) -> Result<Want> {
    let probe = "touch /probe 2>&1 && echo root-writable; \
                 grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status";
    let field = |out: &str, key: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let plain = x
        .run(&["--rm"], &x.cname("plain"), &["sh", "-c", probe])?
        .ok()?;
    ensure!(
        plain.stdout.contains("root-writable")
            && field(&plain.stdout, "CapEff:") != "0000000000000000"
            && field(&plain.stdout, "NoNewPrivs:") == "0",
        "{}",
        plain.describe(
            "a default container should have a writable root, capabilities, NoNewPrivs 0"
        )
    );
    let ro = x
        .run(
            &["--rm", "--read-only"],
            &x.cname("ro"),
            &["sh", "-c", probe],
        )?
        .ok()?;
    ensure!(
        !ro.stdout.contains("root-writable") && ro.stdout.contains("Read-only file system"),
        "{}",
        ro.describe("--read-only: the root should refuse writes")
    );
    let caps = x
        .run(
            &["--rm", "--cap-drop", "ALL"],
            &x.cname("nocaps"),
            &["sh", "-c", probe],
        )?
        .ok()?;
    ensure!(
        field(&caps.stdout, "CapEff:") == "0000000000000000"
            && field(&caps.stdout, "CapBnd:") == "0000000000000000",
        "{}",
        caps.describe("--cap-drop ALL: no effective or bounding capability")
    );
    let nnp = x
        .run(
            &["--rm", "--security-opt", "no-new-privileges"],
            &x.cname("nnp"),
            &["sh", "-c", probe],
        )?
        .ok()?;
    ensure!(
        field(&nnp.stdout, "NoNewPrivs:") == "1",
        "{}",
        nnp.describe("--security-opt no-new-privileges: NoNewPrivs should be 1")
    );
    Ok(Want {
        verbs: &["create", "start", "delete"],
        ..Want::default()
    })
}

/// `--pids-limit`, `--memory` and `--cpus` read from inside the container (v1 or v2
/// files), and the pids limit enforced: a fork loop stops at it.
fn limits(x: &Ctx) -> Result<Want> {
    let script = "v1=/sys/fs/cgroup; \
        echo pids=$(cat $v1/pids/pids.max 2>/dev/null || cat $v1/pids.max); \
        echo mem=$(cat $v1/memory/memory.limit_in_bytes 2>/dev/null || cat $v1/memory.max); \
        if [ -e $v1/cpu/cpu.cfs_quota_us ]; then \
          echo cpu=$(cat $v1/cpu/cpu.cfs_quota_us)/$(cat $v1/cpu/cpu.cfs_period_us); \
        else echo cpu=$(tr ' ' / < $v1/cpu.max); fi";
    let out = x
        .run(
            &[
                "--rm",
                "--pids-limit",
                "17",
                "--memory",
                "48m",
                "--cpus",
                "0.5",
            ],
            &x.cname(""),
            &["sh", "-c", script],
        )?
        .ok()?;
    for want in ["pids=17", "mem=50331648", "cpu=50000/100000"] {
        ensure!(
            out.stdout.lines().any(|l| l.trim() == want),
            "{}",
            out.describe(&format!("the container should see {want}"))
        );
    }
    // Enforcement: a subshell forks sleeps until the limit refuses one; the init then
    // waits without forking (exec) while the host reads the pids cgroup.
    let n = x.cname("forks");
    x.run(
        &["-d", "--pids-limit", "17"],
        &n,
        &[
            "sh",
            "-c",
            "(i=0; while [ $i -lt 40 ]; do sleep 1000 & i=$((i+1)); done) 2>/dev/null; exec sleep 1001",
        ],
    )?
    .ok()?;
    let events = wait_for("the fork loop to hit the pids limit", || {
        let events = x.cgroup_file(&n, &["pids.events"])?;
        let hits = events
            .lines()
            .find_map(|l| l.strip_prefix("max "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        Ok((hits > 0).then_some(events))
    })?;
    let current: u64 = x.cgroup_file(&n, &["pids.current"])?.parse()?;
    ensure!(
        current <= 17,
        "pids.current is {current} over a limit of 17 (pids.events: {events})"
    );
    x.ok(&["rm", "--force", &n])?;
    Ok(Want {
        verbs: &["create", "start", "kill", "delete"],
        ..Want::default()
    })
}

const DOCKERFILE: &str = "FROM busybox:sangja-clients
ENV GREETING=hello-env
WORKDIR /app
COPY payload.txt ./
RUN echo \"$GREETING\" > env.out && pwd > pwd.out \\
 && echo 'worker:x:1234:1234::/app:/bin/sh' >> /etc/passwd && chown 1234 /app
USER worker
RUN id -u > /app/uid.out && cat /app/payload.txt > /app/copy.out
CMD [\"sh\", \"-c\", \"cat /app/env.out /app/pwd.out /app/uid.out /app/copy.out; id -un\"]
";

/// `docker build` with the classic builder (DOCKER_BUILDKIT=0) while the runtime is
/// dockerd's default (daemon.json "default-runtime", reloaded): RUN, COPY, ENV, WORKDIR
/// and USER build, the image shows their effects, and the runtime call log holds a
/// create and a start of every RUN step's container.
fn build(x: &Ctx) -> Result<Want> {
    let ctx = x.dir.join("context");
    std::fs::create_dir_all(&ctx)?;
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE)?;
    std::fs::write(ctx.join("payload.txt"), "payload-42\n")?;
    let tag = format!("sangja-clients-build:{}", x.base);
    x.images.borrow_mut().push(tag.clone());
    x.d.set_default_runtime(Some(&x.name))?;
    let built = (|| {
        let mut c = x.d.cmd(&[
            "build",
            "--no-cache",
            "--force-rm",
            "--network",
            "none",
            "-t",
            &tag,
        ]);
        c.env("DOCKER_BUILDKIT", "0").arg(&ctx);
        run(&mut c)?.ok()
    })();
    // Whatever the build did, later flows get dockerd's own default back.
    x.d.set_default_runtime(None)?;
    let built = built?;
    let run_steps = run_step_containers(&built.stdout);
    ensure!(
        run_steps.len() == 2,
        "{}",
        built.describe("should show the two RUN steps each `Running in <container>`")
    );
    let calls = x.traced.calls()?;
    for short in &run_steps {
        for verb in ["create", "start"] {
            ensure!(
                calls.iter().any(|c| c.verb == verb
                    && c.code == 0
                    && c.args
                        .split_whitespace()
                        .last()
                        .is_some_and(|id| id.starts_with(short.as_str()))),
                "no successful `{verb}` of RUN container {short} by {}: the calls were\n{}",
                x.name,
                calls
                    .iter()
                    .map(|c| format!("  exit {}: {}", c.code, c.args))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    let config = x.d.inspect(
        &tag,
        "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.Env}}",
    )?;
    ensure!(
        config.starts_with("worker /app ") && config.contains("GREETING=hello-env"),
        "image config is {config}"
    );
    let out = run(&mut x.d.cmd(&[
        "run",
        "--rm",
        "--runtime",
        &x.name,
        "--network",
        "none",
        "--pull",
        "never",
        &tag,
    ]))?
    .ok()?;
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    ensure!(
        lines == ["hello-env", "/app", "1234", "payload-42", "worker"],
        "{}",
        out.describe("the image should hold ENV, WORKDIR, USER and COPY effects of its RUN steps")
    );
    Ok(Want {
        verbs: &["create", "start", "delete"],
        ..Want::default()
    })
}

/// The short container ids the classic builder prints for RUN steps
/// (`Step n/m : RUN ...` then ` ---> Running in <id>`).
fn run_step_containers(output: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut in_run = false;
    for line in output.lines() {
        let line = line.trim();
        if let Some(step) = line.strip_prefix("Step ") {
            in_run = step
                .split_once(" : ")
                .is_some_and(|(_, insn)| insn.starts_with("RUN "));
        } else if let Some(id) = line.strip_prefix("---> Running in ") {
            if in_run {
                ids.push(id.trim().to_string());
            }
        }
    }
    ids
}
