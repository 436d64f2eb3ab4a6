//! Seccomp profiles the suite did not write: allow-lists from before today's system calls
//! existed, made from docker's default profile as the host has it, and a profile that
//! allows only what the user process itself needs.
//!
//! A profile denies every call it does not name. One from 2017 names neither openat2 nor
//! clone3 nor close_range, so a runtime whose init still makes such a call of its own
//! after loading the filter fails there, with every bundle (issue 18). The cases combine
//! such a profile with what the init does around the filter: the uid switch and cwd,
//! no_new_privs or not, startContainer hooks (run under the filter), `exec`, and a
//! NOTIFY listener. No architectures are listed, so no -ENOSYS prelude softens a denial.

use serde_json::{json, Value};

use crate::case::{Case, CaseError, CaseResult};
use crate::config::Config;
use crate::harness::{Ctx, CHECKER};
use crate::host::{Need, DOCKER_SECCOMP_PROFILE};
use crate::report::Report;
use crate::{ensure, ensure_eq};

pub static CASES: &[Case] = &[
    Case {
        id: "seccomp.old-allowlist",
        field: "linux.seccomp (a 2017-era allow-list, noNewPrivileges=false)",
        needs: &[Need::DockerSeccompProfile],
        note: None,
        run: old_allowlist,
    },
    Case {
        id: "seccomp.old-allowlist-user",
        field: "linux.seccomp (a 2017-era allow-list) + process.user/cwd/rlimits",
        needs: &[Need::DockerSeccompProfile],
        note: None,
        run: old_allowlist_user,
    },
    Case {
        id: "seccomp.old-allowlist-hooks",
        field: "linux.seccomp (a 2017-era allow-list) + hooks.startContainer",
        needs: &[Need::DockerSeccompProfile],
        note: None,
        run: old_allowlist_hooks,
    },
    Case {
        id: "seccomp.old-allowlist-exec",
        field: "linux.seccomp (a 2017-era allow-list) + exec",
        needs: &[Need::DockerSeccompProfile],
        note: None,
        run: old_allowlist_exec,
    },
    Case {
        id: "seccomp.old-allowlist-notify",
        field: "linux.seccomp (a 2017-era allow-list) + SCMP_ACT_NOTIFY",
        needs: &[Need::DockerSeccompProfile],
        note: None,
        run: old_allowlist_notify,
    },
    Case {
        id: "seccomp.minimal-allowlist",
        field: "linux.seccomp (only what /bin/true needs, plus execve)",
        needs: &[],
        note: Some("runc 1.1.5's init opens and writes the exec FIFO, closes its pipes and runs Go's scheduler after loading the filter, so a profile naming only the user process's calls stops it; the spec leaves the runtime's own calls out of the profile"),
        run: minimal_allowlist,
    },
];

/// System calls Linux gained after 4.14 (November 2017), and the 32-bit time64 calls of
/// 5.1: what a profile of that time could not name.
const NEWER_THAN_2017: &[&str] = &[
    "io_pgetevents",
    "rseq",
    "pidfd_send_signal",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pidfd_open",
    "clone3",
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "mount_setattr",
    "quotactl_fd",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
    "futex_waitv",
    "set_mempolicy_home_node",
    "cachestat",
    "fchmodat2",
    "map_shadow_stack",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "statmount",
    "listmount",
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
    "mseal",
    "setxattrat",
    "getxattrat",
    "listxattrat",
    "removexattrat",
    "open_tree_attr",
    "clock_gettime64",
    "clock_settime64",
    "clock_adjtime64",
    "timer_gettime64",
    "timer_settime64",
    "timerfd_gettime64",
    "timerfd_settime64",
];

fn newer_than_2017(name: &str) -> bool {
    NEWER_THAN_2017.contains(&name) || name.ends_with("_time64")
}

/// The capabilities a config grants in any set: docker's profile allows some calls
/// only with a capability (includes.caps) or only without one (excludes.caps).
fn granted_caps(cfg: &Config) -> Vec<String> {
    let mut caps: Vec<String> = [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ]
    .iter()
    .filter_map(|set| cfg.get(&format!("/process/capabilities/{set}")))
    .filter_map(Value::as_array)
    .flatten()
    .filter_map(|c| c.as_str().map(str::to_string))
    .collect();
    caps.sort();
    caps.dedup();
    caps
}

/// docker's default profile as a 2017 runtime would have had it: its allow rules that
/// apply to amd64 and to `cfg`'s capabilities, minus every call Linux gained after
/// 4.14, and a default of EPERM (docker's ENOSYS default came later).
pub fn old_allowlist_profile(cfg: &Config) -> Result<Value, CaseError> {
    let text = std::fs::read_to_string(DOCKER_SECCOMP_PROFILE)
        .map_err(|e| CaseError::Harness(format!("{DOCKER_SECCOMP_PROFILE}: {e}")))?;
    let docker: Value = serde_json::from_str(&text)
        .map_err(|e| CaseError::Harness(format!("{DOCKER_SECCOMP_PROFILE}: {e}")))?;
    let caps = granted_caps(cfg);
    let has = |list: &Value, what: &str| -> bool {
        list.as_array()
            .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(what)))
    };
    let mut rules = Vec::new();
    for rule in docker["syscalls"].as_array().into_iter().flatten() {
        if rule["action"] != "SCMP_ACT_ALLOW" {
            continue;
        }
        let inc = &rule["includes"];
        let exc = &rule["excludes"];
        let needs_caps = inc["caps"].as_array().into_iter().flatten();
        if needs_caps
            .filter_map(Value::as_str)
            .any(|c| !caps.iter().any(|g| g == c))
        {
            continue;
        }
        if inc["arches"].is_array() && !has(&inc["arches"], "amd64") {
            continue;
        }
        if inc["minKernel"].is_string() || has(&exc["arches"], "amd64") {
            continue;
        }
        if caps.iter().any(|c| has(&exc["caps"], c)) {
            continue;
        }
        let names: Vec<&str> = rule["names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|n| !newer_than_2017(n))
            .collect();
        if names.is_empty() {
            continue;
        }
        let mut r = json!({"names": names, "action": "SCMP_ACT_ALLOW"});
        if let Some(args) = rule["args"].as_array().filter(|a| !a.is_empty()) {
            r["args"] = Value::Array(args.clone());
        }
        rules.push(r);
    }
    if rules.is_empty() {
        return Err(CaseError::Harness(format!(
            "{DOCKER_SECCOMP_PROFILE}: no allow rule left for amd64"
        )));
    }
    Ok(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules}))
}

/// `cfg` under the old allow-list.
fn with_old_allowlist(mut cfg: Config) -> Result<Config, CaseError> {
    let profile = old_allowlist_profile(&cfg)?;
    cfg.set("/linux/seccomp", profile);
    Ok(cfg)
}

/// The filter is in force in the process and denies what the profile does not name.
fn filtered(r: &Report, nnp: &str) -> CaseResult {
    ensure_eq!(r.status("Seccomp"), "2", "Seccomp mode (filter)");
    ensure_eq!(r.status("NoNewPrivs"), nnp, "NoNewPrivs");
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::EPERM as i64),
        "errno of openat2, which the old profile does not name"
    );
    Ok(())
}

/// runtime-tools' shape: noNewPrivileges false, so the runtime loads the filter while it
/// still holds CAP_SYS_ADMIN, before its last steps.
fn old_allowlist(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/noNewPrivileges", json!(false));
    let cfg = with_old_allowlist(cfg)?;
    let r = ctx.check(cfg, &["syscall", "openat2"])?;
    filtered(&r, "0")?;
    ensure_eq!(r.0["cwd"].as_str().unwrap_or(""), "/", "cwd");
    Ok(())
}

/// A non-root user with supplementary groups, a cwd the runtime creates, an rlimit:
/// every step around the filter that touches the process's identity.
fn old_allowlist_user(ctx: &mut Ctx) -> CaseResult {
    for nnp in [true, false] {
        let mut cfg = Config::default();
        cfg.set("/process/noNewPrivileges", json!(nnp))
            .set(
                "/process/user",
                json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]}),
            )
            .set("/process/cwd", json!("/home/app"))
            .set(
                "/process/rlimits",
                json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]),
            );
        let cfg = with_old_allowlist(cfg)?;
        let r = ctx.check(cfg, &["syscall", "openat2"])?;
        filtered(&r, if nnp { "1" } else { "0" })?;
        let what = |w: &str| format!("{w} (noNewPrivileges={nnp})");
        ensure_eq!(
            r.status("Uid").split_whitespace().collect::<Vec<_>>(),
            vec!["1000"; 4],
            what("Uid")
        );
        ensure_eq!(r.status("Groups"), "2000", what("supplementary groups"));
        ensure_eq!(r.0["cwd"].as_str().unwrap_or(""), "/home/app", what("cwd"));
    }
    Ok(())
}

/// startContainer hooks run in the container after `start`, under its filter: the
/// runtime must start them with calls the profile allows (fork, not clone3).
fn old_allowlist_hooks(ctx: &mut Ctx) -> CaseResult {
    for nnp in [true, false] {
        let mut cfg = Config::default();
        cfg.set("/process/noNewPrivileges", json!(nnp))
            .set("/root/readonly", json!(false))
            .set(
                "/hooks/startContainer",
                json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo ran > /tmp/start-hook"]}]),
            );
        let mut cfg = with_old_allowlist(cfg)?;
        cfg.args(&["/bin/sh", "-c", "cat /tmp/start-hook"]);
        let (_, out) = ctx.run(&cfg)?;
        ensure!(
            out.ok(),
            "run failed with a startContainer hook (noNewPrivileges={nnp}): {}",
            out.describe()
        );
        ensure_eq!(
            out.stdout.trim(),
            "ran",
            format!("what the startContainer hook wrote (noNewPrivileges={nnp})")
        );
    }
    Ok(())
}

/// `exec` joins the container and loads the same filter before its own execve.
fn old_allowlist_exec(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = with_old_allowlist(Config::default())?;
    cfg.args(&["/bin/sleep", "1000"]);
    let (id, _) = ctx.create_ok(&cfg)?;
    let out = ctx.start(&id)?;
    ensure!(out.ok(), "start failed: {}", out.describe());
    let out = ctx.rt(&["exec", "--cwd", "/tmp", &id, CHECKER, "syscall", "openat2"])?;
    let deleted = ctx.delete(&id, true)?;
    ensure!(out.ok(), "exec failed: {}", out.describe());
    ensure!(
        deleted.ok(),
        "delete --force failed: {}",
        deleted.describe()
    );
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    filtered(&r, "1")?;
    ensure_eq!(r.0["cwd"].as_str().unwrap_or(""), "/tmp", "cwd of exec");
    Ok(())
}

/// A NOTIFY rule on top of the old allow-list: the listener fd is handed over while the
/// channel to the runtime is still open, and nothing after it needs a newer call.
fn old_allowlist_notify(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    let mut profile = old_allowlist_profile(&cfg)?;
    // getppid moves from the allow rules to a NOTIFY rule of its own.
    for rule in profile["syscalls"].as_array_mut().into_iter().flatten() {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| n != "getppid");
        }
    }
    profile["syscalls"]
        .as_array_mut()
        .expect("built as an array")
        .push(json!({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}));
    cfg.set("/linux/seccomp", profile);
    let r = crate::cases::security::with_notify_listener(ctx, cfg, &["syscall", "getppid"])?;
    ensure_eq!(r.status("Seccomp"), "2", "Seccomp mode (filter)");
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::ENOSYS as i64),
        "errno of getppid once the listener closed the fd"
    );
    Ok(())
}

/// What a static busybox `true` calls (strace), plus execve: nothing is left for the
/// runtime's own steps after the filter.
const TRUE_NEEDS: &[&str] = &[
    "execve",
    "brk",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "readlink",
    "getrandom",
    "mprotect",
    "prctl",
    "getuid",
    "exit_group",
];

fn minimal_allowlist(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ERRNO",
               "syscalls": [{"names": TRUE_NEEDS, "action": "SCMP_ACT_ALLOW"}]}),
    )
    .args(&["/bin/true"]);
    let (_, out) = ctx.run(&cfg)?;
    ensure!(
        out.ok(),
        "run of /bin/true under an allow-list of its own calls failed: {}",
        out.describe()
    );
    Ok(())
}
