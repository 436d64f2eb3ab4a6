//! Security: capabilities (all five sets, behaviour), seccomp actions and
//! argument filters, AppArmor/SELinux requested on a host without them.

use serde_json::{json, Value};

use crate::caps;
use crate::case::{Case, CaseError, CaseResult};
use crate::config::Config;
use crate::harness::{Ctx, CHECKER};
use crate::{ensure, ensure_eq};

pub static CASES: &[Case] = &[
    Case {
        id: "caps.root-sets",
        field: "process.capabilities",
        needs: &[],
        note: None,
        run: root_sets,
    },
    Case {
        id: "caps.non-root-ambient",
        field: "process.capabilities.ambient",
        needs: &[],
        note: None,
        run: non_root_ambient,
    },
    Case {
        id: "caps.empty",
        field: "process.capabilities",
        needs: &[],
        note: None,
        run: empty,
    },
    Case {
        id: "caps.behaviour",
        field: "process.capabilities",
        needs: &[],
        note: None,
        run: behaviour,
    },
    Case {
        id: "caps.unknown-ignored",
        field: "process.capabilities",
        needs: &[],
        note: Some("runc warns about an unknown capability and drops it"),
        run: unknown_ignored,
    },
    Case {
        id: "seccomp.errno",
        field: "linux.seccomp (SCMP_ACT_ERRNO)",
        needs: &[],
        note: None,
        run: seccomp_errno,
    },
    Case {
        id: "seccomp.errno-default",
        field: "linux.seccomp (errnoRet unset)",
        needs: &[],
        note: None,
        run: seccomp_errno_default,
    },
    Case {
        id: "seccomp.kill",
        field: "linux.seccomp (SCMP_ACT_KILL)",
        needs: &[],
        note: None,
        run: seccomp_kill,
    },
    Case {
        id: "seccomp.trap",
        field: "linux.seccomp (SCMP_ACT_TRAP)",
        needs: &[],
        note: None,
        run: seccomp_trap,
    },
    Case {
        id: "seccomp.log",
        field: "linux.seccomp (SCMP_ACT_LOG)",
        needs: &[],
        note: None,
        run: seccomp_log,
    },
    Case {
        id: "seccomp.args",
        field: "linux.seccomp.syscalls[].args",
        needs: &[],
        note: None,
        run: seccomp_args,
    },
    Case {
        id: "seccomp.without-nnp",
        field: "linux.seccomp + noNewPrivileges=false",
        needs: &[],
        note: None,
        run: seccomp_without_nnp,
    },
    Case {
        id: "seccomp.unknown-syscall-ignored",
        field: "linux.seccomp.syscalls[].names",
        needs: &[],
        note: Some("runc skips syscall names libseccomp does not know"),
        run: seccomp_unknown_syscall,
    },
    Case {
        id: "seccomp.bad-action",
        field: "linux.seccomp.syscalls[].action",
        needs: &[],
        note: None,
        run: seccomp_bad_action,
    },
    Case {
        id: "seccomp.bad-default-action",
        field: "linux.seccomp.defaultAction",
        needs: &[],
        note: None,
        run: seccomp_bad_default,
    },
    Case {
        id: "lsm.apparmor-absent",
        field: "process.apparmorProfile",
        needs: &[],
        note: None,
        run: apparmor_absent,
    },
    Case {
        id: "lsm.selinux-absent",
        field: "process.selinuxLabel",
        needs: &[],
        note: None,
        run: selinux_absent,
    },
    Case {
        id: "seccomp.flags",
        field: "linux.seccomp.flags",
        needs: &[],
        note: Some("runc 1.1.5 refuses every seccomp flag (\"not yet supported\")"),
        run: seccomp_flags,
    },
    Case {
        id: "seccomp.bad-flag",
        field: "linux.seccomp.flags",
        needs: &[],
        note: None,
        run: seccomp_bad_flag,
    },
    Case {
        id: "security.runtime-binary-not-writable",
        field: "runtime (CVE-2019-5736 class)",
        needs: &[],
        note: None,
        run: runtime_binary_not_writable,
    },
    Case {
        id: "seccomp.notify-listener",
        field: "linux.seccomp.listenerPath (SCMP_ACT_NOTIFY)",
        needs: &[],
        note: None,
        run: seccomp_notify,
    },
    Case {
        id: "security.cwd-no-host-leak",
        field: "process.cwd (CVE-2024-21626 class)",
        needs: &[],
        note: None,
        run: cwd_no_host_leak,
    },
    Case {
        id: "security.inherited-fds-closed",
        field: "process (inherited fds, CVE-2024-21626 class)",
        needs: &[],
        note: None,
        run: inherited_fds_closed,
    },
    Case {
        id: "seccomp.kill-process",
        field: "linux.seccomp (SCMP_ACT_KILL_PROCESS)",
        needs: &[],
        note: None,
        run: seccomp_kill_process,
    },
    Case {
        id: "seccomp.args-masked",
        field: "linux.seccomp.syscalls[].args (SCMP_CMP_MASKED_EQ)",
        needs: &[],
        note: None,
        run: seccomp_args_masked,
    },
];

fn set_caps(cfg: &mut Config, b: &[&str], e: &[&str], p: &[&str], i: &[&str], a: &[&str]) {
    cfg.set(
        "/process/capabilities",
        json!({"bounding": b, "effective": e, "permitted": p, "inheritable": i, "ambient": a}),
    );
}

/// As root with no_new_privs (the default config) execve cannot grow the
/// permitted set, and root's implicit file capabilities raise effective to
/// all of permitted: after execve both are the configured permitted set.
fn root_sets(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    let b = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SYS_CHROOT",
    ];
    set_caps(
        &mut cfg,
        &b,
        &["CAP_CHOWN"],
        &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_NET_BIND_SERVICE"],
    );
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(r.caps("CapBnd"), caps::sorted(&b), "CapBnd");
    ensure_eq!(
        r.caps("CapInh"),
        caps::sorted(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
        "CapInh"
    );
    ensure_eq!(
        r.caps("CapAmb"),
        caps::sorted(&["CAP_NET_BIND_SERVICE"]),
        "CapAmb"
    );
    let p = caps::sorted(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    ensure_eq!(r.caps("CapPrm"), p, "CapPrm");
    ensure_eq!(
        r.caps("CapEff"),
        p,
        "CapEff (root: all of permitted after execve)"
    );
    Ok(())
}

/// For a non-root user only the ambient set survives execve into permitted
/// and effective: it shows whether the runtime raised ambient correctly.
fn non_root_ambient(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let b = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
    ];
    set_caps(
        &mut cfg,
        &b,
        &["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        &["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"],
        &["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        &["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
    );
    let r = ctx.check(cfg, &[])?;
    let amb = caps::sorted(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
    ensure_eq!(r.caps("CapBnd"), caps::sorted(&b), "CapBnd");
    ensure_eq!(r.caps("CapInh"), amb, "CapInh");
    ensure_eq!(r.caps("CapAmb"), amb, "CapAmb");
    ensure_eq!(
        r.caps("CapPrm"),
        amb,
        "CapPrm (uid 1000: ambient after execve)"
    );
    ensure_eq!(
        r.caps("CapEff"),
        amb,
        "CapEff (uid 1000: ambient after execve)"
    );
    Ok(())
}

fn empty(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    set_caps(&mut cfg, &[], &[], &[], &[], &[]);
    let r = ctx.check(cfg, &[])?;
    for set in ["CapBnd", "CapInh", "CapAmb", "CapPrm", "CapEff"] {
        ensure_eq!(r.caps(set), Vec::<String>::new(), set);
    }
    Ok(())
}

/// What the sets allow: chown with and without CAP_CHOWN, a low port with and
/// without CAP_NET_BIND_SERVICE.
fn behaviour(ctx: &mut Ctx) -> CaseResult {
    let probes = [
        "touch", "/mnt/t/f", "chown", "/mnt/t/f", "2000", "2000", "bind", "80",
    ];
    let tmpfs = json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]});
    let with = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"];
    let mut cfg = Config::default();
    cfg.push("/mounts", tmpfs.clone());
    set_caps(&mut cfg, &with, &with, &with, &[], &[]);
    let r = ctx.check(cfg, &probes)?;
    ensure_eq!(r.probe_errno(1), None, "errno of chown with CAP_CHOWN");
    ensure_eq!(
        r.probe_errno(2),
        None,
        "errno binding port 80 with CAP_NET_BIND_SERVICE"
    );
    let mut cfg = Config::default();
    cfg.push("/mounts", tmpfs);
    set_caps(
        &mut cfg,
        &["CAP_KILL"],
        &["CAP_KILL"],
        &["CAP_KILL"],
        &[],
        &[],
    );
    let r = ctx.check(cfg, &probes)?;
    ensure_eq!(
        r.probe_errno(1),
        Some(libc::EPERM as i64),
        "errno of chown without CAP_CHOWN"
    );
    ensure_eq!(
        r.probe_errno(2),
        Some(libc::EACCES as i64),
        "errno binding port 80 without CAP_NET_BIND_SERVICE"
    );
    Ok(())
}

fn unknown_ignored(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    let with = ["CAP_KILL", "CAP_NOT_A_CAPABILITY"];
    set_caps(&mut cfg, &with, &with, &with, &[], &[]);
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.caps("CapBnd"),
        caps::sorted(&["CAP_KILL"]),
        "CapBnd (unknown name dropped)"
    );
    Ok(())
}

fn seccomp(default: &str, rules: Value) -> Config {
    let mut cfg = Config::default();
    cfg.set(
        "/linux/seccomp",
        json!({"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": rules}),
    );
    cfg
}

fn seccomp_errno(ctx: &mut Ctx) -> CaseResult {
    let cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]),
    );
    let r = ctx.check(cfg, &["syscall", "getppid", "syscall", "getpid"])?;
    ensure_eq!(r.status("Seccomp"), "2", "Seccomp mode (filter)");
    ensure_eq!(r.probe_errno(0), Some(42), "errno of getppid");
    ensure_eq!(r.probe_errno(1), None, "errno of getpid (allowed)");
    Ok(())
}

fn seccomp_errno_default(ctx: &mut Ctx) -> CaseResult {
    let cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]),
    );
    let r = ctx.check(cfg, &["syscall", "getppid"])?;
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::EPERM as i64),
        "errno of getppid (EPERM when errnoRet is unset)"
    );
    Ok(())
}

/// The process dies of SIGSYS: `run` exits 128+31.
fn killed_by_sigsys(ctx: &mut Ctx, action: &str) -> CaseResult {
    let mut cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["getppid"], "action": action}]),
    );
    cfg.args(&[CHECKER, "--quiet", "syscall", "getppid"]);
    let (_, out) = ctx.run(&cfg)?;
    ensure_eq!(
        out.code,
        Some(128 + libc::SIGSYS),
        format!(
            "exit code of run when getppid is {action} ({})",
            out.stderr.trim()
        )
    );
    ensure!(
        !out.stdout.contains("\"probes\""),
        "the checker went on after the {action} syscall: {}",
        out.stdout.trim()
    );
    Ok(())
}

fn seccomp_kill(ctx: &mut Ctx) -> CaseResult {
    killed_by_sigsys(ctx, "SCMP_ACT_KILL")
}

fn seccomp_trap(ctx: &mut Ctx) -> CaseResult {
    killed_by_sigsys(ctx, "SCMP_ACT_TRAP")
}

fn seccomp_log(ctx: &mut Ctx) -> CaseResult {
    let cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["getppid"], "action": "SCMP_ACT_LOG"}]),
    );
    let r = ctx.check(cfg, &["syscall", "getppid"])?;
    ensure_eq!(r.probe_errno(0), None, "errno of getppid (logged, allowed)");
    ensure_eq!(r.status("Seccomp"), "2", "Seccomp mode");
    Ok(())
}

fn seccomp_args(ctx: &mut Ctx) -> CaseResult {
    let cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 43, "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 44, "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}
        ]),
    );
    let r = ctx.check(cfg, &["syscall", "personality", "syscall", "unshare"])?;
    ensure_eq!(
        r.probe_errno(0),
        Some(43),
        "errno of personality(0xffffffff) (arg0 == rule)"
    );
    ensure_eq!(
        r.probe_errno(1),
        None,
        "errno of unshare(0) (arg0 != 0 rule does not match)"
    );
    Ok(())
}

fn seccomp_without_nnp(ctx: &mut Ctx) -> CaseResult {
    // Without no_new_privs the filter is loaded while the runtime still holds
    // CAP_SYS_ADMIN, before its own last steps: filter a call no runtime
    // makes on the way to execve (runc 1.1.5 calls getppid there).
    let mut cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 45}]),
    );
    cfg.set("/process/noNewPrivileges", json!(false));
    let r = ctx.check(cfg, &["syscall", "personality"])?;
    ensure_eq!(r.status("NoNewPrivs"), "0", "NoNewPrivs");
    ensure_eq!(r.probe_errno(0), Some(45), "errno of personality");
    Ok(())
}

fn seccomp_unknown_syscall(ctx: &mut Ctx) -> CaseResult {
    let cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["not_a_syscall", "getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 46}]),
    );
    let r = ctx.check(cfg, &["syscall", "getppid"])?;
    ensure_eq!(
        r.probe_errno(0),
        Some(46),
        "errno of getppid (the known name in the rule)"
    );
    Ok(())
}

fn seccomp_bad_action(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["getppid"], "action": "SCMP_ACT_BOGUS"}]),
    );
    cfg.args(&["/bin/true"]);
    let out = ctx.refused(&cfg, "run")?;
    ensure!(
        out.stderr.contains("SCMP_ACT_BOGUS") || out.stderr.to_lowercase().contains("action"),
        "error does not name the action: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn seccomp_bad_default(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = seccomp("SCMP_ACT_NOPE", json!([]));
    cfg.args(&["/bin/true"]);
    let out = ctx.refused(&cfg, "run")?;
    ensure!(
        out.stderr.contains("SCMP_ACT_NOPE") || out.stderr.to_lowercase().contains("action"),
        "error does not name the default action: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn lsm_absent(ctx: &mut Ctx, present: bool, pointer: &str, value: &str, word: &str) -> CaseResult {
    if present {
        return Err(CaseError::Skip(format!(
            "host: {word} is enabled (this case is about its absence)"
        )));
    }
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).set(pointer, json!(value));
    let out = ctx.refused(&cfg, "run")?;
    ensure!(
        out.stderr.to_lowercase().contains(word),
        "error does not name {word}: {}",
        out.stderr.trim()
    );
    Ok(())
}

/// A profile asked for on a host that cannot apply it is refused: running
/// unconfined instead would silently drop the requested confinement.
fn apparmor_absent(ctx: &mut Ctx) -> CaseResult {
    let present = crate::host::Need::AppArmor.check().is_ok();
    lsm_absent(
        ctx,
        present,
        "/process/apparmorProfile",
        "conformance-profile",
        "apparmor",
    )
}

fn selinux_absent(ctx: &mut Ctx) -> CaseResult {
    let present = crate::host::Need::SeLinux.check().is_ok();
    lsm_absent(
        ctx,
        present,
        "/process/selinuxLabel",
        "system_u:system_r:container_t:s0",
        "selinux",
    )
}

fn seccomp_flags(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 47}]),
    );
    cfg.set(
        "/linux/seccomp/flags",
        json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
    );
    let r = ctx.check(cfg, &["syscall", "getppid"])?;
    ensure_eq!(
        r.probe_errno(0),
        Some(47),
        "errno of getppid with filter flags"
    );
    Ok(())
}

fn seccomp_bad_flag(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = seccomp("SCMP_ACT_ALLOW", json!([]));
    cfg.args(&["/bin/true"])
        .set("/linux/seccomp/flags", json!(["SECCOMP_FILTER_FLAG_BOGUS"]));
    let out = ctx.refused(&cfg, "run")?;
    ensure!(
        out.stderr.contains("SECCOMP_FILTER_FLAG_BOGUS")
            || out.stderr.to_lowercase().contains("flag"),
        "error does not name the flag: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn file_digest(path: &std::path::Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// A process in the container holds /proc/1/exe while init is still the
/// runtime, and after start tries to reopen it for writing: that must fail,
/// and the runtime binary on the host must be unchanged.
fn runtime_binary_not_writable(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = crate::cases::util::sleeper();
    let shared = crate::cases::util::share_dir(&ctx.dir, &mut cfg, "shared")?;
    let before = file_digest(&ctx.runtime.path);
    let (id, _) = ctx.create_ok(&cfg)?;
    let out = ctx.rt(&[
        "exec",
        "--detach",
        &id,
        "/bin/sh",
        "-c",
        "/bin/sangja-check --quiet exe-reopen 1 20 /shared/ready > /shared/out.tmp; mv /shared/out.tmp /shared/out",
    ])?;
    ensure!(
        out.ok(),
        "exec --detach into the created container failed: {}",
        out.describe()
    );
    crate::cases::util::wait_file(&shared.join("ready"))?;
    let out = ctx.start(&id)?;
    ensure!(out.ok(), "start failed: {}", out.describe());
    let text = crate::cases::util::wait_file(&shared.join("out"))?;
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    ensure_eq!(
        file_digest(&ctx.runtime.path),
        before,
        "digest of the runtime binary on the host"
    );
    let r = crate::report::Report::parse(&text).map_err(CaseError::Fail)?;
    let p = r.probe(0);
    ensure!(
        p["changed"] == true || p["stage"] == "open-path",
        "init never exec'd the user process while the probe waited: {p}"
    );
    ensure!(
        p["ok"] != true,
        "the runtime's executable was reopened and written through /proc/1/exe: {p}"
    );
    Ok(())
}

/// SCMP_ACT_NOTIFY: the runtime sends the notify fd with the container
/// process state to listenerPath. The case closes the fd without answering,
/// so the notified call fails with ENOSYS in the container.
fn seccomp_notify(ctx: &mut Ctx) -> CaseResult {
    let cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]),
    );
    let r = with_notify_listener(ctx, cfg, &["syscall", "getppid"])?;
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::ENOSYS as i64),
        "errno of getppid once the listener closed the fd"
    );
    Ok(())
}

/// Runs the checker with `probes` under `cfg`, whose profile has a NOTIFY rule, with a
/// listener at listenerPath that takes the notify fd and closes it unanswered; checks
/// the container process state that came with the fd.
pub(crate) fn with_notify_listener(
    ctx: &mut Ctx,
    mut cfg: Config,
    probes: &[&str],
) -> Result<crate::report::Report, CaseError> {
    use std::time::Duration;
    let sock = ctx.dir.join("seccomp.sock");
    cfg.set("/linux/seccomp/listenerPath", json!(sock.to_string_lossy()))
        .set(
            "/linux/seccomp/listenerMetadata",
            json!("conformance-metadata"),
        );
    let rx = crate::console::receive_with_data_in_background(&sock, Duration::from_secs(60))
        .map_err(|e| CaseError::Harness(format!("listener socket: {e}")))?;
    // The listener thread drops the fd as soon as it has it.
    let listener = std::thread::spawn(move || match rx.join() {
        Ok(Ok((fd, data))) => {
            drop(fd);
            Ok(data)
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("listener thread panicked".to_string()),
    });
    let r = ctx.check(cfg, probes);
    let data = listener
        .join()
        .map_err(|_| CaseError::Harness("listener panicked".into()))?;
    let r = r?;
    let data =
        data.map_err(|e| CaseError::Fail(format!("no notify fd on the listener socket: {e}")))?;
    let state: Value = serde_json::from_slice(&data).map_err(|e| {
        CaseError::Fail(format!(
            "listener message is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&data)
        ))
    })?;
    ensure_eq!(
        state["fds"],
        json!(["seccompFd"]),
        "fds named in the container process state"
    );
    ensure_eq!(
        state["metadata"],
        Value::from("conformance-metadata"),
        "metadata"
    );
    ensure!(
        state["pid"].as_i64().is_some_and(|p| p > 0),
        "no pid in {state}"
    );
    ensure!(
        state["state"]["id"].as_str().is_some_and(|s| !s.is_empty()),
        "no state.id in {state}"
    );
    Ok(r)
}

/// A scratch host directory the runtime is then started holding open at
/// [`crate::runtime::HELD_FD`]: what a leaked descriptor would hand the container.
fn held_host_dir(ctx: &Ctx) -> Result<std::path::PathBuf, CaseError> {
    let dir = ctx.dir.join("hostside");
    std::fs::create_dir_all(&dir)
        .map_err(|e| CaseError::Harness(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// `run` of `cfg` by a runtime holding `held` open (not close-on-exec).
fn run_holding(
    ctx: &mut Ctx,
    cfg: &Config,
    held: &std::path::Path,
) -> Result<(String, crate::runtime::CmdOutput), CaseError> {
    let b = ctx.bundle(cfg)?;
    let id = ctx.new_id();
    let out = ctx.rt_holding_dir(&["run", "--bundle", &b.to_string_lossy(), &id], held)?;
    Ok((id, out))
}

/// The checker's cwd is inside the container: getcwd reports a directory
/// outside the root as "(unreachable)/..." (or glibc fails it: "(none)").
fn cwd_inside(out: &crate::runtime::CmdOutput, what: &str) -> CaseResult {
    let r = crate::report::Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    let cwd = r.0["cwd"].as_str().unwrap_or("(none)");
    ensure!(
        !cwd.starts_with("(unreachable)") && cwd != "(none)",
        "{what} put the process outside the rootfs: {cwd:?}"
    );
    Ok(())
}

/// cwd `/proc/self/fd/N` names whatever the runtime's init holds open at N.
/// The runtime runs holding a host directory at fd 7 (as runc 1.1.11 held
/// /sys/fs/cgroup), which would become the process's working directory outside
/// the rootfs, through `run` or `exec --cwd`. The runtime refuses, or the cwd
/// is inside the container.
fn cwd_no_host_leak(ctx: &mut Ctx) -> CaseResult {
    let held = held_host_dir(ctx)?;
    for n in 3..=9 {
        let mut cfg = Config::default();
        cfg.args(&[CHECKER])
            .set("/process/cwd", json!(format!("/proc/self/fd/{n}")));
        let (id, out) = run_holding(ctx, &cfg, &held)?;
        if !out.ok() {
            ctx.nothing_left(&id)?;
            continue;
        }
        cwd_inside(&out, &format!("cwd /proc/self/fd/{n}"))?;
    }
    let (id, _) = ctx.create_ok(&crate::cases::util::sleeper())?;
    let out = ctx.start(&id)?;
    ensure!(out.ok(), "start failed: {}", out.describe());
    for n in 3..=9 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = ctx.rt_holding_dir(&["exec", "--cwd", &cwd, &id, CHECKER], &held)?;
        if out.ok() {
            cwd_inside(&out, &format!("exec --cwd {cwd}"))?;
        }
    }
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    Ok(())
}

/// A host directory the runtime inherits open (not close-on-exec), without
/// --preserve-fds, never reaches the container process: only stdio does.
fn inherited_fds_closed(ctx: &mut Ctx) -> CaseResult {
    let held = held_host_dir(ctx)?;
    let mut cfg = Config::default();
    cfg.args(&[CHECKER]);
    let (_, out) = run_holding(ctx, &cfg, &held)?;
    ensure!(out.ok(), "run failed: {}", out.describe());
    let r = crate::report::Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    crate::cases::util::only_stdio(&r)
}

fn seccomp_kill_process(ctx: &mut Ctx) -> CaseResult {
    killed_by_sigsys(ctx, "SCMP_ACT_KILL_PROCESS")
}

/// MASKED_EQ: `value` is the mask and `valueTwo` what the masked argument
/// must equal.
fn seccomp_args_masked(ctx: &mut Ctx) -> CaseResult {
    let cfg = seccomp(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 48,
                "args": [{"index": 0, "value": 0xffff, "valueTwo": 0xffff, "op": "SCMP_CMP_MASKED_EQ"}]}]),
    );
    let r = ctx.check(cfg, &["syscall", "personality", "syscall", "getpid"])?;
    ensure_eq!(
        r.probe_errno(0),
        Some(48),
        "errno of personality(0xffffffff) (masked arg matches)"
    );
    ensure_eq!(r.probe_errno(1), None, "errno of getpid");
    Ok(())
}
