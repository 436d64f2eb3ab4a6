//! What clients rely on from runc's command line beyond the spec's
//! operations: --pid-file, the JSON log containerd reads, kill --all,
//! update, and the features document (runtime-spec features.md).

use serde_json::{json, Value};

use crate::case::{Case, CaseError, CaseResult};
use crate::cases::util::{pid_dead, sleeper, wait_dead};
use crate::cgroups;
use crate::config::Config;
use crate::harness::Ctx;
use crate::host::Need;
use crate::{ensure, ensure_eq, fail};

pub static CASES: &[Case] = &[
    Case {
        id: "cli.pid-file",
        field: "create --pid-file",
        needs: &[],
        note: None,
        run: pid_file,
    },
    Case {
        id: "cli.log-json",
        field: "--log --log-format json",
        needs: &[],
        note: None,
        run: log_json,
    },
    Case {
        id: "cli.kill-all",
        field: "kill --all",
        needs: &[],
        note: None,
        run: kill_all,
    },
    Case {
        id: "cli.update",
        field: "update --resources",
        needs: &[Need::CgroupV1("pids")],
        note: None,
        run: update,
    },
    Case {
        id: "cli.features",
        field: "features",
        needs: &[],
        note: None,
        run: features,
    },
    Case {
        id: "cli.list",
        field: "list --format json",
        needs: &[],
        note: None,
        run: list,
    },
    Case {
        id: "cli.no-pivot",
        field: "run --no-pivot",
        needs: &[],
        note: None,
        run: no_pivot,
    },
    Case {
        id: "cli.checkpoint-restore",
        field: "checkpoint/restore",
        needs: &[Need::Criu],
        note: None,
        run: checkpoint_restore,
    },
    Case {
        id: "cli.update-memory-cpu",
        field: "update --resources (memory, cpu)",
        needs: &[Need::CgroupV1("memory"), Need::CgroupV1("cpu")],
        note: None,
        run: update_memory_cpu,
    },
    Case {
        id: "cli.update-refused-keeps-limits",
        field: "update --resources",
        needs: &[Need::CgroupV1("cpu")],
        note: None,
        run: update_refused,
    },
];

fn pid_file(ctx: &mut Ctx) -> CaseResult {
    let f = ctx.dir.join("init.pid");
    let arg = f.to_string_lossy().into_owned();
    let (id, _, out) = ctx.create_with(&sleeper(), &["--pid-file", &arg])?;
    ensure!(out.ok(), "create --pid-file failed: {}", out.describe());
    let text = std::fs::read_to_string(&f).unwrap_or_default();
    let st = ctx.state(&id)?;
    ensure_eq!(
        text.trim().parse::<i64>().ok(),
        st["pid"].as_i64(),
        "pid in the pid file vs state"
    );
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    Ok(())
}

/// A failing create with `--log F --log-format json` leaves an error line
/// containerd can report: {"level":"error","msg":...,"time":...}.
fn log_json(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/no/such/program"]);
    let b = ctx.bundle(&cfg)?;
    let id = ctx.new_id();
    let log = ctx.dir.join("log.json");
    let log_arg = log.to_string_lossy().into_owned();
    let bundle = b.to_string_lossy().into_owned();
    let out = ctx.rt(&[
        "--log",
        &log_arg,
        "--log-format",
        "json",
        "create",
        "--bundle",
        &bundle,
        &id,
    ])?;
    ensure!(!out.ok(), "create of a missing program succeeded");
    ctx.nothing_left(&id)?;
    let text = std::fs::read_to_string(&log)
        .map_err(|e| CaseError::Fail(format!("no log file {}: {e}", log.display())))?;
    let errors: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "error")
        .collect();
    let Some(last) = errors.last() else {
        fail!("no {{\"level\":\"error\"}} JSON line in the log: {text:?}");
    };
    ensure!(
        last["msg"]
            .as_str()
            .is_some_and(|m| m.contains("/no/such/program")),
        "last error does not name the program: {last}"
    );
    ensure!(
        last["time"].as_str().is_some_and(|t| t.contains('T')),
        "error line has no RFC 3339 time: {last}"
    );
    Ok(())
}

fn kill_all(ctx: &mut Ctx) -> CaseResult {
    let (id, init) = ctx.create_ok(&sleeper())?;
    ensure!(ctx.start(&id)?.ok(), "start failed");
    let pf = ctx.dir.join("exec.pid");
    let pf_arg = pf.to_string_lossy().into_owned();
    let out = ctx.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        &pf_arg,
        &id,
        "/bin/sleep",
        "1000",
    ])?;
    ensure!(out.ok(), "exec --detach failed: {}", out.describe());
    let second: i32 = std::fs::read_to_string(&pf)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0);
    ensure!(
        second > 0 && !pid_dead(second),
        "exec'd process not running"
    );
    let out = ctx.rt(&["kill", "--all", &id, "KILL"])?;
    ensure!(out.ok(), "kill --all failed: {}", out.describe());
    wait_dead(second)?;
    wait_dead(init)?;
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.delete(&id, false)?;
    ensure!(out.ok(), "delete failed: {}", out.describe());
    Ok(())
}

fn update(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set("/linux/resources/pids", json!({"limit": 10}));
    let (id, pid) = ctx.create_ok(&cfg)?;
    ensure!(ctx.start(&id)?.ok(), "start failed");
    let res = ctx.dir.join("resources.json");
    std::fs::write(&res, json!({"pids": {"limit": 20}}).to_string())
        .map_err(|e| CaseError::Harness(e.to_string()))?;
    let out = ctx.rt_stdin(&["update", "--resources", "-", &id], &res)?;
    ensure!(out.ok(), "update --resources - failed: {}", out.describe());
    let after_json = cgroups::read(pid, "pids", "pids.max").map_err(CaseError::Fail)?;
    let out = ctx.rt(&["update", "--pids-limit", "30", &id])?;
    ensure!(out.ok(), "update --pids-limit failed: {}", out.describe());
    let after_flag = cgroups::read(pid, "pids", "pids.max").map_err(CaseError::Fail)?;
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    ensure_eq!(after_json, "20", "pids.max after update --resources -");
    ensure_eq!(after_flag, "30", "pids.max after update --pids-limit");
    Ok(())
}

fn features(ctx: &mut Ctx) -> CaseResult {
    let out = ctx.rt(&["features"])?;
    ensure!(out.ok(), "features failed: {}", out.describe());
    let f: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| CaseError::Fail(format!("features is not JSON ({e})")))?;
    ensure!(
        f["ociVersionMin"].as_str().is_some() && f["ociVersionMax"].as_str().is_some(),
        "ociVersionMin/Max missing"
    );
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let hooks = list(&f["hooks"]);
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        ensure!(hooks.iter().any(|x| x == h), "hooks lacks {h}: {hooks:?}");
    }
    let opts = list(&f["mountOptions"]);
    for o in ["ro", "rbind", "nosuid", "noexec", "nodev"] {
        ensure!(opts.iter().any(|x| x == o), "mountOptions lacks {o}");
    }
    let ns = list(&f["linux"]["namespaces"]);
    for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        ensure!(
            ns.iter().any(|x| x == n),
            "linux.namespaces lacks {n}: {ns:?}"
        );
    }
    let caps = list(&f["linux"]["capabilities"]);
    ensure!(
        caps.iter().any(|c| c == "CAP_SYS_ADMIN") && caps.iter().any(|c| c == "CAP_CHOWN"),
        "linux.capabilities incomplete: {caps:?}"
    );
    ensure_eq!(
        f["linux"]["seccomp"]["enabled"],
        Value::from(true),
        "linux.seccomp.enabled"
    );
    let actions = list(&f["linux"]["seccomp"]["actions"]);
    for a in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
    ] {
        ensure!(
            actions.iter().any(|x| x == a),
            "linux.seccomp.actions lacks {a}"
        );
    }
    ensure_eq!(
        f["linux"]["cgroup"]["v1"],
        Value::from(true),
        "linux.cgroup.v1"
    );
    Ok(())
}

fn list(ctx: &mut Ctx) -> CaseResult {
    let (id, pid) = ctx.create_ok(&sleeper())?;
    let out = ctx.rt(&["list", "--format", "json"])?;
    ensure!(out.ok(), "list failed: {}", out.describe());
    let v: Value = serde_json::from_str(out.stdout.trim())
        .map_err(|e| CaseError::Fail(format!("list output is not JSON ({e}): {:?}", out.stdout)))?;
    let entry = v
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == id.as_str())
        .cloned();
    let out = ctx.rt(&["list", "--quiet"])?;
    let quiet = out.stdout.lines().any(|l| l.trim() == id);
    let del = ctx.delete(&id, true)?;
    ensure!(del.ok(), "delete --force failed: {}", del.describe());
    let Some(e) = entry else {
        fail!("list --format json does not show {id}: {v}");
    };
    ensure_eq!(e["status"], Value::from("created"), "status in list");
    ensure_eq!(e["pid"].as_i64(), Some(pid as i64), "pid in list");
    ensure!(quiet, "list --quiet does not print the id");
    Ok(())
}

fn no_pivot(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&[crate::harness::CHECKER, "ls", "/"]);
    let b = ctx.bundle(&cfg)?;
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--no-pivot", "--bundle", &b.to_string_lossy(), &id])?;
    ensure!(out.ok(), "run --no-pivot failed: {}", out.describe());
    let r = crate::report::Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    let names = crate::cases::util::strings(&r.probe(0)["value"]);
    ensure!(
        names.iter().any(|n| n == "bin") && names.iter().any(|n| n == "proc"),
        "/ is not the rootfs: {names:?}"
    );
    ensure!(r.mount_has("/", "ro"), "root not read-only with --no-pivot");
    Ok(())
}

/// checkpoint stops the container and leaves its image; restore brings it
/// back running under the same id from the same bundle.
fn checkpoint_restore(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = crate::cases::util::shell(
        "i=0; while :; do i=$((i+1)); echo $i > /shared/count; sleep 0.1; done",
    );
    let shared = crate::cases::util::share_dir(&ctx.dir, &mut cfg, "shared")?;
    let (id, bundle, out) = ctx.create(&cfg)?;
    ensure!(out.ok(), "create failed: {}", out.describe());
    ensure!(ctx.start(&id)?.ok(), "start failed");
    crate::cases::util::wait_file(&shared.join("count"))?;
    let img = ctx.dir.join("images").to_string_lossy().into_owned();
    let out = ctx.rt(&["checkpoint", "--image-path", &img, &id])?;
    ensure!(out.ok(), "checkpoint failed: {}", out.describe());
    let bundle = bundle.to_string_lossy().into_owned();
    let out = ctx.rt(&[
        "restore",
        "--detach",
        "--image-path",
        &img,
        "--bundle",
        &bundle,
        &id,
    ])?;
    ensure!(out.ok(), "restore failed: {}", out.describe());
    ensure_eq!(
        ctx.state(&id)?["status"],
        Value::from("running"),
        "status after restore"
    );
    // The restored loop goes on counting from where it was.
    let before: u64 = std::fs::read_to_string(shared.join("count"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0);
    let started = std::time::Instant::now();
    let mut advanced = false;
    while started.elapsed() < std::time::Duration::from_secs(30) {
        let now: u64 = std::fs::read_to_string(shared.join("count"))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
        if now > before {
            advanced = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    ensure!(
        advanced,
        "the restored process does not run (count stuck at {before})"
    );
    Ok(())
}

fn update_memory_cpu(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set(
        "/linux/resources",
        json!({"memory": {"limit": 67108864}, "cpu": {"shares": 512}}),
    );
    let (id, pid) = ctx.create_ok(&cfg)?;
    ensure!(ctx.start(&id)?.ok(), "start failed");
    let res = ctx.dir.join("resources.json");
    std::fs::write(&res, json!({"memory": {"limit": 134217728}, "cpu": {"shares": 256, "quota": 20000, "period": 100000}}).to_string())
        .map_err(|e| CaseError::Harness(e.to_string()))?;
    let out = ctx.rt_stdin(&["update", "--resources", "-", &id], &res)?;
    let read = |c: &str, f: &str| cgroups::read(pid, c, f).unwrap_or_else(|e| e);
    let got = vec![
        read("memory", "memory.limit_in_bytes"),
        read("cpu", "cpu.shares"),
        read("cpu", "cpu.cfs_quota_us"),
    ];
    let del = ctx.delete(&id, true)?;
    ensure!(out.ok(), "update --resources - failed: {}", out.describe());
    ensure!(del.ok(), "delete --force failed: {}", del.describe());
    ensure_eq!(
        got,
        vec!["134217728", "256", "20000"],
        "memory.limit_in_bytes, cpu.shares, cfs_quota_us after update"
    );
    Ok(())
}

/// An update the kernel refuses (a quota below 1ms) fails and leaves the
/// limits in force as they were.
fn update_refused(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set(
        "/linux/resources/cpu",
        json!({"shares": 512, "quota": 50000, "period": 100000}),
    );
    let (id, pid) = ctx.create_ok(&cfg)?;
    ensure!(ctx.start(&id)?.ok(), "start failed");
    let res = ctx.dir.join("resources.json");
    std::fs::write(
        &res,
        json!({"cpu": {"quota": 500, "period": 100000}}).to_string(),
    )
    .map_err(|e| CaseError::Harness(e.to_string()))?;
    let out = ctx.rt_stdin(&["update", "--resources", "-", &id], &res)?;
    let quota = cgroups::read(pid, "cpu", "cpu.cfs_quota_us").unwrap_or_else(|e| e);
    let del = ctx.delete(&id, true)?;
    ensure!(!out.ok(), "update with a 500us quota succeeded");
    ensure!(del.ok(), "delete --force failed: {}", del.describe());
    ensure_eq!(quota, "50000", "cpu.cfs_quota_us after the refused update");
    Ok(())
}
