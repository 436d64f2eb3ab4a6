//! The default config (`runc spec`): what every container gets.

use serde_json::Value;

use crate::caps;
use crate::case::{Case, CaseResult};
use crate::cgroups;
use crate::config::Config;
use crate::harness::Ctx;
use crate::report::host_ns;
use crate::{ensure, ensure_eq, fail};

pub static CASES: &[Case] = &[
    Case { id: "default.pid1", field: "linux.namespaces[pid]", needs: &[], note: None, run: pid1 },
    Case { id: "default.namespaces", field: "linux.namespaces", needs: &[], note: None, run: namespaces },
    Case { id: "default.hostname", field: "hostname", needs: &[], note: None, run: hostname },
    Case { id: "default.root-readonly", field: "root.readonly", needs: &[], note: None, run: root_readonly },
    Case { id: "default.mounts", field: "mounts", needs: &[], note: None, run: mounts },
    Case { id: "default.cgroup-mount-readonly", field: "mounts[/sys/fs/cgroup]", needs: &[], note: None, run: cgroup_mount },
    Case { id: "default.devices", field: "linux (default devices)", needs: &[], note: None, run: devices },
    Case { id: "default.dev-symlinks", field: "linux (dev symlinks)", needs: &[], note: None, run: dev_symlinks },
    Case { id: "default.masked-paths", field: "linux.maskedPaths", needs: &[], note: None, run: masked },
    Case { id: "default.readonly-paths", field: "linux.readonlyPaths", needs: &[], note: None, run: readonly },
    Case { id: "default.capabilities", field: "process.capabilities", needs: &[], note: None, run: capabilities },
    Case { id: "default.no-new-privileges", field: "process.noNewPrivileges", needs: &[], note: None, run: nnp },
    Case { id: "default.rlimits", field: "process.rlimits", needs: &[], note: None, run: rlimits },
    Case { id: "default.user-cwd-env", field: "process.user/cwd/env", needs: &[], note: None, run: user_cwd_env },
    Case { id: "default.fds", field: "process (inherited fds)", needs: &[], note: None, run: fds },
    Case {
        id: "default.cgroup-placement",
        field: "linux.cgroupsPath (unset)",
        needs: &[],
        note: Some("the spec leaves the default path to the runtime; expected as runc: <caller's cgroup>/<id>"),
        run: cgroup_placement,
    },
    Case { id: "default.host-mounts-untouched", field: "mounts (isolation)", needs: &[], note: None, run: host_mounts_untouched },
    Case { id: "default.proc-shows-container-only", field: "linux.namespaces[pid] + /proc", needs: &[], note: None, run: proc_container_only },
    Case { id: "default.network-loopback-only", field: "linux.namespaces[network]", needs: &[], note: None, run: loopback_only },
    Case { id: "default.oom-score-adj-inherited", field: "process.oomScoreAdj (unset)", needs: &[], note: None, run: oom_inherited },
    Case {
        id: "default.umask-inherited",
        field: "process.user.umask (unset)",
        needs: &[],
        note: Some("spec: with no umask the runtime SHOULD keep the caller's; runc 1.1.5 always sets 0022"),
        run: umask_inherited,
    },
];

fn pid1(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    ensure_eq!(r.0["pid"], Value::from(1), "checker pid");
    ensure!(
        r.ns("pid") != host_ns("pid"),
        "pid namespace is the host's ({})",
        r.ns("pid")
    );
    Ok(())
}

fn namespaces(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    for kind in ["pid", "net", "ipc", "uts", "mnt"] {
        ensure!(!r.ns(kind).is_empty(), "no {kind} namespace link");
        ensure!(
            r.ns(kind) != host_ns(kind),
            "{kind} namespace not new: {}",
            r.ns(kind)
        );
    }
    // Types not in the config stay the runtime's own.
    for kind in ["user", "cgroup", "time"] {
        if !host_ns(kind).is_empty() {
            ensure_eq!(
                r.ns(kind),
                host_ns(kind).as_str(),
                format!("{kind} namespace (not requested)")
            );
        }
    }
    Ok(())
}

fn hostname(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    ensure_eq!(r.0["hostname"], Value::from("runc"), "hostname");
    Ok(())
}

fn root_readonly(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &["touch", "/newfile", "mkdir", "/tmp/d"])?;
    ensure!(
        r.mount_has("/", "ro"),
        "root mount not ro: {}",
        r.mount("/").cloned().unwrap_or_default()
    );
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::EROFS as i64),
        "errno creating /newfile"
    );
    ensure_eq!(
        r.probe_errno(1),
        Some(libc::EROFS as i64),
        "errno of mkdir /tmp/d"
    );
    Ok(())
}

/// Every mount of the default config is there with its type and options.
fn mounts(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &["stat", "/dev"])?;
    // tmpfs shows `mode=` only when it differs from 1777: the directory's
    // mode is checked instead.
    ensure_eq!(
        r.probe(0)["value"]["mode"]
            .as_u64()
            .map(|m| format!("{m:o}")),
        Some("755".to_string()),
        "/dev mode (mode=755)"
    );
    ensure_eq!(
        r.device("/dev/shm")
            .and_then(|d| d["mode"].as_u64())
            .map(|m| format!("{m:o}")),
        Some("1777".to_string()),
        "/dev/shm mode (mode=1777)"
    );
    let want: &[(&str, &str, &[&str])] = &[
        ("/proc", "proc", &[]),
        ("/dev", "tmpfs", &["nosuid", "size=65536k"]),
        (
            "/dev/pts",
            "devpts",
            &["nosuid", "noexec", "ptmxmode=666", "mode=620", "gid=5"],
        ),
        (
            "/dev/shm",
            "tmpfs",
            &["nosuid", "noexec", "nodev", "size=65536k"],
        ),
        ("/dev/mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        ("/sys", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
    ];
    for (target, fstype, opts) in want {
        let Some(m) = r.mount(target) else {
            fail!("no mount at {target}");
        };
        ensure_eq!(
            m["fstype"].as_str().unwrap_or(""),
            *fstype,
            format!("type of {target}")
        );
        for o in *opts {
            ensure!(r.mount_has(target, o), "{target} lacks option {o}: {m}");
        }
    }
    // strictatime on /dev: neither relatime nor noatime.
    ensure!(
        !r.mount_has("/dev", "relatime") && !r.mount_has("/dev", "noatime"),
        "/dev is not strictatime: {}",
        r.mount("/dev").cloned().unwrap_or_default()
    );
    // devpts with newinstance: the container's own ptmx, not the host's.
    ensure!(
        r.device("/dev/pts/ptmx").is_some(),
        "/dev/pts/ptmx missing (devpts newinstance)"
    );
    Ok(())
}

/// `/sys/fs/cgroup` (type cgroup, ro): the cgroup file systems the container
/// sees are mounted read-only and writing into them fails.
fn cgroup_mount(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(
        Config::default(),
        &[
            "openw",
            "/sys/fs/cgroup/pids/pids.max",
            "openw",
            "/sys/fs/cgroup/pids.max",
        ],
    )?;
    let cg: Vec<&Value> = r.0["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["target"]
                .as_str()
                .is_some_and(|t| t == "/sys/fs/cgroup" || t.starts_with("/sys/fs/cgroup/"))
        })
        .collect();
    ensure!(!cg.is_empty(), "nothing mounted at /sys/fs/cgroup");
    for m in cg
        .iter()
        .filter(|m| m["fstype"] == "cgroup" || m["fstype"] == "cgroup2")
    {
        ensure!(
            m["options"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o == "ro"),
            "cgroup mount not ro: {m}"
        );
    }
    ensure!(
        cg.iter()
            .any(|m| m["fstype"] == "cgroup" || m["fstype"] == "cgroup2"),
        "no cgroup file system under /sys/fs/cgroup"
    );
    for i in 0..2 {
        let p = r.probe(i);
        if p["ok"] == true {
            fail!("opening {} for writing succeeded", p["args"][0]);
        }
    }
    Ok(())
}

/// The spec's default devices: type, numbers, mode 0666; nothing else.
fn devices(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    let want = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ];
    for (name, major, minor) in want {
        let path = format!("/dev/{name}");
        let Some(d) = r.device(&path) else {
            fail!("{path} missing");
        };
        ensure_eq!(
            d["type"].as_str().unwrap_or(""),
            "c",
            format!("{path} type")
        );
        ensure_eq!(
            (d["major"].as_u64(), d["minor"].as_u64()),
            (Some(major), Some(minor)),
            format!("{path} major:minor")
        );
        ensure_eq!(
            d["mode"].as_u64().map(|m| format!("{m:o}")),
            Some("666".to_string()),
            format!("{path} mode")
        );
    }
    // No host device leaks in: the only other nodes are devpts' own.
    for (path, d) in r.0["devices"].as_object().into_iter().flatten() {
        let t = d["type"].as_str().unwrap_or("");
        if t == "b" {
            fail!("unexpected block device {path}");
        }
        if t == "c"
            && !want.iter().any(|(n, _, _)| path == &format!("/dev/{n}"))
            && !path.starts_with("/dev/pts/")
        {
            fail!(
                "unexpected character device {path} ({}:{})",
                d["major"],
                d["minor"]
            );
        }
    }
    Ok(())
}

fn dev_symlinks(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    for (path, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let Some(d) = r.device(path) else {
            fail!("{path} missing");
        };
        ensure_eq!(
            d["type"].as_str().unwrap_or(""),
            "l",
            format!("{path} type")
        );
        ensure_eq!(
            d["target"].as_str().unwrap_or(""),
            target,
            format!("{path} target")
        );
    }
    // /dev/ptmx: a symlink to pts/ptmx or a bind of it.
    match r.device("/dev/ptmx") {
        Some(d) if d["type"] == "l" => ensure!(
            d["target"] == "pts/ptmx" || d["target"] == "/dev/pts/ptmx",
            "/dev/ptmx points to {}",
            d["target"]
        ),
        Some(d) if d["type"] == "c" => ensure!(
            r.mount("/dev/ptmx").is_some(),
            "/dev/ptmx is a node, not a bind of pts/ptmx: {d}"
        ),
        other => fail!("/dev/ptmx: {other:?}"),
    }
    Ok(())
}

const MASKED: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// Masked paths that exist read as empty (files) or list nothing (directories).
fn masked(ctx: &mut Ctx) -> CaseResult {
    let mut probes = Vec::new();
    for p in MASKED {
        probes.extend_from_slice(&["stat", p, "read", p, "ls", p]);
    }
    let r = ctx.check(Config::default(), &probes)?;
    for (i, p) in MASKED.iter().enumerate() {
        let st = r.probe(i * 3);
        if st["ok"] != true {
            ensure_eq!(
                st["errno"].as_i64(),
                Some(libc::ENOENT as i64),
                format!("stat {p}")
            );
            continue;
        }
        if st["value"]["type"] == "d" {
            let ls = r.probe(i * 3 + 2);
            ensure!(
                ls["ok"] != true || ls["value"].as_array().is_some_and(|a| a.is_empty()),
                "masked directory {p} lists {}",
                ls["value"]
            );
        } else {
            let rd = r.probe(i * 3 + 1);
            ensure!(
                rd["ok"] != true || rd["value"] == "",
                "masked file {p} readable: {:?}",
                rd["value"]
                    .as_str()
                    .map(|s| s.chars().take(60).collect::<String>())
            );
        }
    }
    Ok(())
}

const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn readonly(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(
        Config::default(),
        &[
            "openw",
            "/proc/sys/kernel/domainname",
            "openw",
            "/proc/sysrq-trigger",
            "stat",
            "/proc/bus",
            "stat",
            "/proc/fs",
            "stat",
            "/proc/irq",
        ],
    )?;
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::EROFS as i64),
        "errno opening /proc/sys/kernel/domainname for writing"
    );
    // Kernels without magic SysRq have no /proc/sysrq-trigger at all.
    if std::path::Path::new("/proc/sysrq-trigger").exists() {
        ensure_eq!(
            r.probe_errno(1),
            Some(libc::EROFS as i64),
            "errno opening /proc/sysrq-trigger for writing"
        );
    }
    for (i, p) in READONLY.iter().enumerate().take(3) {
        if r.probe(2 + i)["ok"] == true {
            ensure!(r.mount_has(p, "ro"), "{p} not mounted ro: {:?}", r.mount(p));
        }
    }
    ensure!(r.mount_has("/proc/sys", "ro"), "/proc/sys not mounted ro");
    Ok(())
}

fn capabilities(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    let want = caps::sorted(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        ensure_eq!(r.caps(set), want, set);
    }
    ensure_eq!(
        r.caps("CapInh"),
        Vec::<String>::new(),
        "CapInh (no inheritable set in the config)"
    );
    // The kernel keeps ambient within permitted and inheritable: with no
    // inheritable set, the configured ambient set cannot be raised.
    ensure_eq!(
        r.caps("CapAmb"),
        Vec::<String>::new(),
        "CapAmb (ambient needs inheritable)"
    );
    Ok(())
}

fn nnp(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    ensure_eq!(r.status("NoNewPrivs"), "1", "NoNewPrivs");
    Ok(())
}

fn rlimits(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    ensure_eq!(
        r.rlimit("RLIMIT_NOFILE"),
        (Value::from(1024), Value::from(1024)),
        "RLIMIT_NOFILE (soft, hard)"
    );
    Ok(())
}

fn user_cwd_env(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    ensure_eq!(
        r.status("Uid").split_whitespace().collect::<Vec<_>>(),
        vec!["0"; 4],
        "Uid (real, effective, saved, fs)"
    );
    ensure_eq!(
        r.status("Gid").split_whitespace().collect::<Vec<_>>(),
        vec!["0"; 4],
        "Gid"
    );
    ensure_eq!(
        r.status("Groups"),
        "",
        "supplementary groups (none configured)"
    );
    ensure_eq!(r.0["cwd"].as_str().unwrap_or(""), "/", "cwd");
    let env = r.0["env"].as_object().cloned().unwrap_or_default();
    ensure_eq!(
        r.env("PATH"),
        Some("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "PATH"
    );
    ensure_eq!(r.env("TERM"), Some("xterm"), "TERM");
    // Only the configured variables (HOME may be added when unset, as runc does).
    for k in env.keys() {
        ensure!(
            ["PATH", "TERM", "HOME"].contains(&k.as_str()),
            "unexpected environment variable {k}={}",
            env[k]
        );
    }
    Ok(())
}

fn fds(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &[])?;
    crate::cases::util::only_stdio(&r)
}

fn cgroup_placement(ctx: &mut Ctx) -> CaseResult {
    let cfg = crate::cases::util::sleeper();
    let (id, pid) = ctx.create_ok(&cfg)?;
    let own = cgroups::own();
    let theirs = cgroups::of_pid(pid);
    ctx.delete(&id, true)?;
    for m in own.iter().filter(|m| m.dir.is_some()) {
        let want = format!("{}/{id}", m.path.trim_end_matches('/'));
        let Some(t) = theirs.iter().find(|t| t.controllers == m.controllers) else {
            fail!("container not in the {:?} hierarchy", m.controllers);
        };
        ensure_eq!(
            t.path,
            want,
            format!("cgroup path in hierarchy {:?}", m.controllers)
        );
    }
    Ok(())
}

/// Mount points as (target, fstype) pairs of the host's mount namespace.
fn host_mounts() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect();
    v.sort();
    v
}

/// Nothing the container mounts shows up in the host's mount namespace.
fn host_mounts_untouched(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.push(
        "/mounts",
        serde_json::json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs"}),
    );
    let prefix = ctx.dir.to_string_lossy().into_owned();
    let (id, pid) = ctx.create_ok(&{
        let mut c = cfg.clone();
        c.args(&["/bin/sleep", "1000"]);
        c
    })?;
    let during: Vec<String> = host_mounts()
        .into_iter()
        .filter(|m| m.starts_with(&prefix))
        .collect();
    ctx.delete(&id, true)?;
    crate::cases::util::wait_dead(pid)?;
    ensure!(
        during.is_empty(),
        "container mounts visible on the host while it runs: {during:?}"
    );
    let after: Vec<String> = host_mounts()
        .into_iter()
        .filter(|m| m.starts_with(&prefix))
        .collect();
    ensure!(after.is_empty(), "mounts left on the host: {after:?}");
    Ok(())
}

fn proc_container_only(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &["ls", "/proc"])?;
    let pids: Vec<String> = crate::cases::util::strings(&r.probe(0)["value"])
        .into_iter()
        .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
        .collect();
    ensure_eq!(pids, vec!["1".to_string()], "processes visible in /proc");
    Ok(())
}

fn loopback_only(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(Config::default(), &["ls", "/sys/class/net"])?;
    ensure_eq!(
        crate::cases::util::strings(&r.probe(0)["value"]),
        vec!["lo".to_string()],
        "network devices"
    );
    Ok(())
}

/// Runs the checker with the runtime started under `inherited`.
fn check_inheriting(
    ctx: &mut Ctx,
    inherited: crate::runtime::Inherited,
) -> Result<crate::report::Report, crate::case::CaseError> {
    let mut cfg = Config::default();
    cfg.args(&[crate::harness::CHECKER]);
    let b = ctx.bundle(&cfg)?;
    let id = ctx.new_id();
    let out = ctx.rt_inheriting(&["run", "--bundle", &b.to_string_lossy(), &id], inherited)?;
    ensure!(out.ok(), "run failed: {}", out.describe());
    crate::report::Report::parse(&out.stdout).map_err(crate::case::CaseError::Fail)
}

/// The driver's own oom_score_adj (only ever raised for children: lowering
/// needs CAP_SYS_RESOURCE).
fn own_oom_score_adj() -> i32 {
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Spec: with no oomScoreAdj the runtime MUST NOT change oom_score_adj.
fn oom_inherited(ctx: &mut Ctx) -> CaseResult {
    let adj = (own_oom_score_adj() + 123).min(1000);
    let r = check_inheriting(
        ctx,
        crate::runtime::Inherited {
            umask: 0o022,
            oom_score_adj: adj,
        },
    )?;
    ensure_eq!(
        r.0["oom_score_adj"],
        Value::from(adj.to_string()),
        "oom_score_adj (inherited from the runtime's caller)"
    );
    Ok(())
}

fn umask_inherited(ctx: &mut Ctx) -> CaseResult {
    let inherited = crate::runtime::Inherited {
        umask: 0o027,
        oom_score_adj: own_oom_score_adj(),
    };
    let r = check_inheriting(ctx, inherited)?;
    ensure_eq!(
        r.0["umask"],
        Value::from(0o027),
        "umask (inherited from the runtime's caller)"
    );
    Ok(())
}
