//! process: args, env, cwd, user, umask, additionalGids, rlimits, oomScoreAdj,
//! noNewPrivileges, ioPriority, scheduler, execCPUAffinity, personality.

use serde_json::{json, Value};

use crate::case::{Case, CaseError, CaseResult};
use crate::cases::util::expect_error;
use crate::config::Config;
use crate::harness::Ctx;
use crate::host::Need;
use crate::report::Report;
use crate::{ensure, ensure_eq, fail};

const RUNC_LACKS: &str = "runc 1.1.5 lacks this field (ignores it): the spec decides";

pub static CASES: &[Case] = &[
    Case {
        id: "process.args",
        field: "process.args",
        needs: &[],
        note: None,
        run: args,
    },
    Case {
        id: "process.args-path-lookup",
        field: "process.args[0] via PATH",
        needs: &[],
        note: None,
        run: path_lookup,
    },
    Case {
        id: "process.env",
        field: "process.env",
        needs: &[],
        note: None,
        run: env,
    },
    Case {
        id: "process.cwd",
        field: "process.cwd",
        needs: &[],
        note: None,
        run: cwd,
    },
    Case {
        id: "process.user",
        field: "process.user.uid/gid",
        needs: &[],
        note: None,
        run: user,
    },
    Case {
        id: "process.additional-gids",
        field: "process.user.additionalGids",
        needs: &[],
        note: None,
        run: additional_gids,
    },
    Case {
        id: "process.umask",
        field: "process.user.umask",
        needs: &[],
        note: None,
        run: umask,
    },
    Case {
        id: "process.rlimits",
        field: "process.rlimits",
        needs: &[],
        note: None,
        run: rlimits,
    },
    Case {
        id: "process.rlimit-raise-hard",
        field: "process.rlimits",
        needs: &[Need::SysResource],
        note: None,
        run: rlimit_raise,
    },
    Case {
        id: "process.oom-score-adj",
        field: "process.oomScoreAdj",
        needs: &[],
        note: None,
        run: oom_score_adj,
    },
    Case {
        id: "process.oom-score-adj-negative",
        field: "process.oomScoreAdj",
        needs: &[Need::SysResource],
        note: None,
        run: oom_negative,
    },
    Case {
        id: "process.oom-score-adj-out-of-range",
        field: "process.oomScoreAdj",
        needs: &[],
        note: None,
        run: oom_out_of_range,
    },
    Case {
        id: "process.no-new-privileges-off",
        field: "process.noNewPrivileges",
        needs: &[],
        note: None,
        run: nnp_off,
    },
    Case {
        id: "process.io-priority",
        field: "process.ioPriority",
        needs: &[],
        note: Some(RUNC_LACKS),
        run: io_priority,
    },
    Case {
        id: "process.io-priority-bad-class",
        field: "process.ioPriority.class",
        needs: &[],
        note: Some(RUNC_LACKS),
        run: io_priority_bad,
    },
    Case {
        id: "process.scheduler",
        field: "process.scheduler",
        needs: &[],
        note: Some(RUNC_LACKS),
        run: scheduler,
    },
    Case {
        id: "process.scheduler-bad-policy",
        field: "process.scheduler.policy",
        needs: &[],
        note: Some(RUNC_LACKS),
        run: scheduler_bad,
    },
    Case {
        id: "process.exec-cpu-affinity",
        field: "process.execCPUAffinity",
        needs: &[],
        note: Some(RUNC_LACKS),
        run: cpu_affinity,
    },
    Case {
        id: "process.exec-cpu-affinity-bad",
        field: "process.execCPUAffinity.final",
        needs: &[],
        note: Some(RUNC_LACKS),
        run: cpu_affinity_bad,
    },
    Case {
        id: "process.personality",
        field: "linux.personality",
        needs: &[],
        note: Some(RUNC_LACKS),
        run: personality,
    },
    Case {
        id: "process.personality-bad-domain",
        field: "linux.personality.domain",
        needs: &[],
        note: Some(RUNC_LACKS),
        run: personality_bad,
    },
    Case {
        id: "process.terminal",
        field: "process.terminal/consoleSize",
        needs: &[],
        note: None,
        run: terminal,
    },
    Case {
        id: "process.terminal-needs-console-socket",
        field: "process.terminal",
        needs: &[],
        note: None,
        run: terminal_without_socket,
    },
    Case {
        id: "process.env-invalid",
        field: "process.env",
        needs: &[],
        note: None,
        run: env_invalid,
    },
    Case {
        id: "process.additional-gids-invalid",
        field: "process.user.additionalGids",
        needs: &[],
        note: None,
        run: additional_gids_invalid,
    },
];

fn args(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&[
        "/bin/sh",
        "-c",
        "for a in \"$0\" \"$@\"; do echo \"[$a]\"; done",
        "zero",
        "a b",
        "c\"d",
        "",
    ]);
    let (_, out) = ctx.run(&cfg)?;
    ensure!(out.ok(), "run failed: {}", out.describe());
    ensure_eq!(
        out.stdout,
        "[zero]\n[a b]\n[c\"d]\n[]\n",
        "arguments as the process saw them"
    );
    Ok(())
}

fn path_lookup(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["sangja-check"])
        .set("/process/env", json!(["PATH=/nowhere:/bin"]));
    let (_, out) = ctx.run(&cfg)?;
    ensure!(
        out.ok(),
        "run of a bare name found through PATH failed: {}",
        out.describe()
    );
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    ensure_eq!(r.0["args"][0], Value::from("sangja-check"), "argv[0]");
    Ok(())
}

fn env(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/process/env",
        json!(["PATH=/bin", "A=1", "B=with space", "EMPTY=", "EQ=a=b"]),
    );
    let r = ctx.check(cfg, &[])?;
    for (k, v) in [
        ("PATH", "/bin"),
        ("A", "1"),
        ("B", "with space"),
        ("EMPTY", ""),
        ("EQ", "a=b"),
    ] {
        ensure_eq!(r.env(k), Some(v), format!("env {k}"));
    }
    Ok(())
}

fn cwd(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/cwd", json!("/home/tester"));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(r.0["cwd"], Value::from("/home/tester"), "cwd");
    Ok(())
}

fn ids(r: &Report, key: &str) -> Vec<String> {
    r.status(key)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn user(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/user", json!({"uid": 1000, "gid": 1001}));
    let r = ctx.check(cfg, &["touch", "/tmp/x"])?;
    ensure_eq!(
        ids(&r, "Uid"),
        vec!["1000"; 4],
        "Uid (real, effective, saved, fs)"
    );
    ensure_eq!(ids(&r, "Gid"), vec!["1001"; 4], "Gid");
    ensure_eq!(r.status("Groups"), "", "supplementary groups");
    // A non-root user keeps no capabilities in its effective set.
    ensure_eq!(r.caps("CapEff"), Vec::<String>::new(), "CapEff of uid 1000");
    Ok(())
}

fn additional_gids(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/process/user",
        json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000]}),
    );
    let r = ctx.check(cfg, &[])?;
    let mut groups = ids(&r, "Groups");
    groups.sort();
    ensure_eq!(
        groups,
        vec!["2000".to_string(), "3000".to_string()],
        "supplementary groups"
    );
    Ok(())
}

fn umask(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/user/umask", json!(0o077));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(r.0["umask"], Value::from(0o077), "umask");
    Ok(())
}

fn rlimits(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/process/rlimits",
        json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
            {"type": "RLIMIT_NPROC", "soft": 900, "hard": 950},
            {"type": "RLIMIT_MSGQUEUE", "soft": 8192, "hard": 8192},
            {"type": "RLIMIT_NICE", "soft": 0, "hard": 0},
        ]),
    );
    let r = ctx.check(cfg, &[])?;
    for (name, soft, hard) in [
        ("RLIMIT_NOFILE", 512, 1000),
        ("RLIMIT_CORE", 0, 4096),
        ("RLIMIT_NPROC", 900, 950),
        ("RLIMIT_MSGQUEUE", 8192, 8192),
        ("RLIMIT_NICE", 0, 0),
    ] {
        ensure_eq!(
            r.rlimit(name),
            (Value::from(soft), Value::from(hard)),
            format!("{name} (soft, hard)")
        );
    }
    Ok(())
}

fn rlimit_raise(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576}]),
    );
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.rlimit("RLIMIT_NOFILE"),
        (Value::from(1048576), Value::from(1048576)),
        "RLIMIT_NOFILE"
    );
    Ok(())
}

fn oom_score_adj(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/oomScoreAdj", json!(500));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(r.0["oom_score_adj"], Value::from("500"), "oom_score_adj");
    Ok(())
}

fn oom_negative(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/oomScoreAdj", json!(-500));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(r.0["oom_score_adj"], Value::from("-500"), "oom_score_adj");
    Ok(())
}

fn oom_out_of_range(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/process/oomScoreAdj", json!(1001));
    let out = ctx.refused(&cfg, "run")?;
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("oom"),
        "error does not name oomScoreAdj: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn nnp_off(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/noNewPrivileges", json!(false));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(r.status("NoNewPrivs"), "0", "NoNewPrivs");
    Ok(())
}

fn io_priority(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}),
    );
    let r = ctx.check(cfg, &[])?;
    // IOPRIO_CLASS_IDLE = 3.
    ensure_eq!(
        r.0["sched"]["ioprio_class"],
        Value::from(3),
        "I/O priority class"
    );
    let mut cfg = Config::default();
    cfg.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
    );
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        (
            r.0["sched"]["ioprio_class"].clone(),
            r.0["sched"]["ioprio_data"].clone()
        ),
        (Value::from(2), Value::from(6)),
        "I/O priority (class BE, level)"
    );
    Ok(())
}

fn io_priority_bad(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BOGUS", "priority": 1}),
    );
    let out = ctx.refused(&cfg, "run")?;
    expect_error(&out, "IOPRIO_CLASS_BOGUS")
}

fn scheduler(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 7}),
    );
    let r = ctx.check(cfg, &[])?;
    // SCHED_BATCH = 3.
    ensure_eq!(r.0["sched"]["policy"], Value::from(3), "scheduling policy");
    ensure_eq!(r.0["sched"]["nice"], Value::from(7), "nice");
    Ok(())
}

fn scheduler_bad(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/process/scheduler", json!({"policy": "SCHED_BOGUS"}));
    let out = ctx.refused(&cfg, "run")?;
    expect_error(&out, "SCHED_BOGUS")
}

fn cpu_affinity(ctx: &mut Ctx) -> CaseResult {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let last = cpus - 1;
    let mut cfg = Config::default();
    cfg.set(
        "/process/execCPUAffinity",
        json!({"initial": "0", "final": last.to_string()}),
    );
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.status("Cpus_allowed_list"),
        last.to_string().as_str(),
        "CPU affinity of the process (execCPUAffinity.final)"
    );
    Ok(())
}

fn cpu_affinity_bad(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).set(
        "/process/execCPUAffinity",
        json!({"final": "not-a-cpu-list"}),
    );
    let out = ctx.refused(&cfg, "run")?;
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("affinity") || e.contains("not-a-cpu-list") || e.contains("cpu"),
        "error does not name execCPUAffinity: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn personality(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/linux/personality", json!({"domain": "LINUX32"}));
    let r = ctx.check(cfg, &[])?;
    // PER_LINUX32 = 0x0008.
    ensure_eq!(
        r.0["sched"]["personality"].as_i64().map(|p| p & 0xff),
        Some(8),
        "personality domain"
    );
    Ok(())
}

fn personality_bad(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/linux/personality", json!({"domain": "BOGUS"}));
    let out = ctx.refused(&cfg, "run")?;
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("personality") || e.contains("bogus"),
        "error does not name the personality: {}",
        out.stderr.trim()
    );
    Ok(())
}

/// terminal: true on create needs --console-socket (where the pty master goes).
fn terminal_without_socket(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = crate::cases::util::sleeper();
    cfg.set("/process/terminal", json!(true));
    let out = ctx.refused(&cfg, "create")?;
    let e = out.stderr.to_lowercase();
    if !(e.contains("console") || e.contains("tty") || e.contains("terminal")) {
        fail!(
            "error does not explain the missing console socket: {}",
            out.stderr.trim()
        );
    }
    Ok(())
}

/// terminal: true with --console-socket: the pty master arrives on the
/// socket, the process has the pty as stdio with the configured size, and
/// /dev/console is the pty.
fn terminal(ctx: &mut Ctx) -> CaseResult {
    use crate::console;
    use std::time::Duration;
    let mut cfg = Config::default();
    cfg.args(&[crate::harness::CHECKER])
        .set("/process/terminal", json!(true))
        .set("/process/consoleSize", json!({"height": 30, "width": 100}));
    let sock = ctx.dir.join("console.sock");
    let rx = console::receive_in_background(&sock, Duration::from_secs(60))
        .map_err(|e| CaseError::Harness(format!("console socket: {e}")))?;
    let sock_arg = sock.to_string_lossy().into_owned();
    let (id, _, out) = ctx.create_with(&cfg, &["--console-socket", &sock_arg])?;
    ensure!(
        out.ok(),
        "create --console-socket failed: {}",
        out.describe()
    );
    let master = match rx.join() {
        Ok(Ok(fd)) => fd,
        Ok(Err(e)) => fail!("no pty master on the console socket: {e}"),
        Err(_) => fail!("console receiver panicked"),
    };
    let out = ctx.start(&id)?;
    ensure!(out.ok(), "start failed: {}", out.describe());
    let text = console::read_all(&master, Duration::from_secs(30));
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.delete(&id, false)?;
    ensure!(out.ok(), "delete failed: {}", out.describe());
    let r = Report::parse(&text).map_err(CaseError::Fail)?;
    ensure_eq!(
        r.0["tty"]["stdin_isatty"],
        Value::from(true),
        "stdin is a terminal"
    );
    ensure_eq!(
        (r.0["tty"]["rows"].clone(), r.0["tty"]["cols"].clone()),
        (Value::from(30), Value::from(100)),
        "terminal size (consoleSize)"
    );
    for fd in ["0", "1", "2"] {
        let t = r.0["fds"][fd].as_str().unwrap_or("");
        ensure!(t.starts_with("/dev/pts/"), "fd {fd} is {t:?}, not the pty");
    }
    let Some(c) = r.device("/dev/console") else {
        fail!("/dev/console missing with terminal: true");
    };
    ensure_eq!(
        (c["type"].as_str(), c["major"].as_u64()),
        (Some("c"), Some(136)),
        "/dev/console (the pty slave)"
    );
    Ok(())
}

fn env_invalid(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .push("/process/env", json!("NOEQUALS"));
    let out = ctx.refused(&cfg, "run")?;
    expect_error(&out, "NOEQUALS")
}

/// (gid_t)-1 is not a group id: setgroups refuses it.
fn additional_gids_invalid(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/process/user/additionalGids", json!([4294967295u64]));
    let out = ctx.refused(&cfg, "run")?;
    ensure!(!out.stderr.trim().is_empty(), "refused without a message");
    Ok(())
}
