//! linux.namespaces (every type, paths), uid/gid mappings, hostname,
//! domainname, sysctl, time offsets.

use serde_json::{json, Value};

use crate::case::{Case, CaseResult};
use crate::cases::util::{expect_error, sleeper};
use crate::config::Config;
use crate::harness::Ctx;
use crate::host::Need;
use crate::report::host_ns;
use crate::{ensure, ensure_eq};

const RUNC_NO_TIMENS: &str = "runc 1.1.5 lacks time namespaces: the spec decides";

pub static CASES: &[Case] = &[
    Case {
        id: "ns.hostname",
        field: "hostname",
        needs: &[],
        note: None,
        run: hostname,
    },
    Case {
        id: "ns.domainname",
        field: "domainname",
        needs: &[],
        note: Some("runc 1.1.5 ignores domainname (added in runc 1.2)"),
        run: domainname,
    },
    Case {
        id: "ns.cgroup",
        field: "linux.namespaces[cgroup]",
        needs: &[],
        note: None,
        run: cgroup_ns,
    },
    Case {
        id: "ns.user-mappings",
        field: "linux.uidMappings/gidMappings",
        needs: &[Need::UserNs],
        note: None,
        run: user_mappings,
    },
    Case {
        id: "ns.user-without-mappings",
        field: "linux.uidMappings",
        needs: &[Need::UserNs],
        note: None,
        run: user_without_mappings,
    },
    Case {
        id: "ns.time-offsets",
        field: "linux.timeOffsets",
        needs: &[Need::TimeNs],
        note: Some(RUNC_NO_TIMENS),
        run: time_offsets,
    },
    Case {
        id: "ns.time-offsets-unknown-clock",
        field: "linux.timeOffsets",
        needs: &[Need::TimeNs],
        note: Some(RUNC_NO_TIMENS),
        run: time_offsets_unknown_clock,
    },
    Case {
        id: "ns.join-paths",
        field: "linux.namespaces[].path",
        needs: &[],
        note: None,
        run: join_paths,
    },
    Case {
        id: "ns.join-wrong-type",
        field: "linux.namespaces[].path",
        needs: &[],
        note: None,
        run: join_wrong_type,
    },
    Case {
        id: "ns.host-network",
        field: "linux.namespaces (no network)",
        needs: &[],
        note: None,
        run: host_network,
    },
    Case {
        id: "ns.host-pid",
        field: "linux.namespaces (no pid)",
        needs: &[],
        note: None,
        run: host_pid,
    },
    Case {
        id: "ns.sysctl",
        field: "linux.sysctl",
        needs: &[],
        note: None,
        run: sysctl,
    },
    Case {
        id: "ns.sysctl-unknown",
        field: "linux.sysctl",
        needs: &[],
        note: None,
        run: sysctl_unknown,
    },
    Case {
        id: "ns.sysctl-net-in-host-netns",
        field: "linux.sysctl",
        needs: &[],
        note: None,
        run: sysctl_host_net,
    },
    Case {
        id: "ns.net-devices",
        field: "linux.netDevices",
        needs: &[Need::Veth],
        note: Some("runc 1.1.5 lacks netDevices: the spec decides"),
        run: net_devices,
    },
    Case {
        id: "ns.net-devices-missing",
        field: "linux.netDevices",
        needs: &[],
        note: Some("runc 1.1.5 lacks netDevices: the spec decides"),
        run: net_devices_missing,
    },
    Case {
        id: "ns.domainname-without-uts",
        field: "domainname",
        needs: &[],
        note: Some("runc 1.1.5 ignores domainname (added in runc 1.2)"),
        run: domainname_without_uts,
    },
    Case {
        id: "ns.join-pid",
        field: "linux.namespaces[pid].path",
        needs: &[],
        note: None,
        run: join_pid,
    },
    Case {
        id: "ns.join-user",
        field: "linux.namespaces[user].path",
        needs: &[Need::UserNs],
        note: Some("runc 1.1.5 demands uidMappings even when joining a user namespace by path (runc 1.2 reads them from the joined namespace)"),
        run: join_user,
    },
];

fn hostname(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/hostname", json!("conformance-host"));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(r.0["hostname"], Value::from("conformance-host"), "hostname");
    ensure!(r.ns("uts") != host_ns("uts"), "uts namespace is the host's");
    Ok(())
}

fn domainname(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/domainname", json!("conformance.example"));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.0["domainname"],
        Value::from("conformance.example"),
        "domainname"
    );
    Ok(())
}

fn cgroup_ns(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.namespace("cgroup", None);
    let r = ctx.check(cfg, &[])?;
    ensure!(
        r.ns("cgroup") != host_ns("cgroup"),
        "cgroup namespace is the host's"
    );
    for line in r.0["cgroup"].as_array().into_iter().flatten() {
        ensure_eq!(
            line["path"],
            Value::from("/"),
            format!(
                "cgroup path seen for {:?} (root of the namespace)",
                line["controllers"]
            )
        );
    }
    Ok(())
}

fn userns_config() -> Config {
    let mut cfg = Config::default();
    cfg.namespace("user", None)
        .set(
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        )
        .set(
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
        );
    cfg
}

fn user_mappings(ctx: &mut Ctx) -> CaseResult {
    let r = ctx.check(userns_config(), &[])?;
    ensure!(
        r.ns("user") != host_ns("user"),
        "user namespace is the host's"
    );
    ensure_eq!(r.0["uid_map"], json!([[0, 100000, 65536]]), "uid_map");
    ensure_eq!(r.0["gid_map"], json!([[0, 200000, 65536]]), "gid_map");
    // Device nodes cannot be made in a user namespace: the defaults still work.
    let null = r.device("/dev/null").cloned().unwrap_or_default();
    ensure_eq!(
        (
            null["type"].as_str(),
            null["major"].as_u64(),
            null["minor"].as_u64()
        ),
        (Some("c"), Some(1), Some(3)),
        "/dev/null in a user namespace"
    );
    ensure_eq!(
        r.status("Uid").split_whitespace().next(),
        Some("0"),
        "uid inside"
    );
    Ok(())
}

fn user_without_mappings(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).namespace("user", None);
    let out = ctx.refused(&cfg, "run")?;
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("mapping") || e.contains("user"),
        "error does not name the missing mappings: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn time_offsets(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.namespace("time", None).set(
        "/linux/timeOffsets",
        json!({"monotonic": {"secs": 86400, "nanosecs": 500}, "boottime": {"secs": 172800, "nanosecs": 0}}),
    );
    let r = ctx.check(cfg, &[])?;
    ensure!(
        r.ns("time") != host_ns("time"),
        "time namespace is the host's"
    );
    ensure_eq!(
        r.0["timens_offsets"]["monotonic"],
        json!({"secs": 86400, "nanosecs": 500}),
        "monotonic offset"
    );
    ensure_eq!(
        r.0["timens_offsets"]["boottime"],
        json!({"secs": 172800, "nanosecs": 0}),
        "boottime offset"
    );
    let uptime: f64 = r.0["boottime_secs"]
        .as_str()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    ensure!(
        uptime.total_cmp(&172800.0).is_ge(),
        "uptime inside ({uptime}) does not include the boottime offset"
    );
    Ok(())
}

/// Only the monotonic and boottime clocks have offsets.
fn time_offsets_unknown_clock(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).namespace("time", None).set(
        "/linux/timeOffsets",
        json!({"realtime": {"secs": 10, "nanosecs": 0}}),
    );
    let out = ctx.refused(&cfg, "run")?;
    expect_error(&out, "realtime")
}

fn join_paths(ctx: &mut Ctx) -> CaseResult {
    let (holder, pid) = ctx.create_ok(&sleeper())?;
    let mut cfg = Config::default();
    for (kind, link) in [("network", "net"), ("ipc", "ipc"), ("uts", "uts")] {
        cfg.namespace(kind, Some(&format!("/proc/{pid}/ns/{link}")));
    }
    // Joining a UTS namespace means not setting its hostname.
    cfg.remove("/hostname");
    let r = ctx.check(cfg, &[])?;
    for link in ["net", "ipc", "uts"] {
        let want = crate::report::pid_ns(pid, link);
        ensure_eq!(
            r.ns(link),
            want.as_str(),
            format!("{link} namespace joined by path")
        );
    }
    // The other types are still new.
    ensure!(
        r.ns("mnt") != host_ns("mnt"),
        "mount namespace is the host's"
    );
    let out = ctx.delete(&holder, true)?;
    ensure!(out.ok(), "delete --force of the holder: {}", out.describe());
    Ok(())
}

fn join_wrong_type(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .namespace("network", Some("/proc/self/ns/ipc"));
    let out = ctx.refused(&cfg, "run")?;
    ensure!(!out.stderr.trim().is_empty(), "refused without a message");
    Ok(())
}

fn host_network(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.remove_namespace("network");
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.ns("net"),
        host_ns("net").as_str(),
        "net namespace (none configured)"
    );
    Ok(())
}

fn host_pid(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.remove_namespace("pid");
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.ns("pid"),
        host_ns("pid").as_str(),
        "pid namespace (none configured)"
    );
    ensure!(r.0["pid"] != 1, "pid 1 in the host pid namespace");
    Ok(())
}

fn sysctl(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/linux/sysctl",
        json!({"kernel.msgmax": "4096", "kernel.shm_rmid_forced": "1", "net.ipv4.ip_forward": "1", "net.core.somaxconn": "1000"}),
    );
    let r = ctx.check(cfg, &[])?;
    for (k, v) in [
        ("kernel.msgmax", "4096"),
        ("kernel.shm_rmid_forced", "1"),
        ("net.ipv4.ip_forward", "1"),
        ("net.core.somaxconn", "1000"),
    ] {
        ensure_eq!(r.0["sysctls"][k], Value::from(v), format!("sysctl {k}"));
    }
    Ok(())
}

fn sysctl_unknown(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/linux/sysctl", json!({"kernel.no_such_sysctl": "1"}));
    let out = ctx.refused(&cfg, "run")?;
    expect_error(&out, "kernel.no_such_sysctl")
}

/// A net.* sysctl without a network namespace would change the host: it is
/// refused. The value asked differs from the host's so a runtime that
/// wrongly applies it is caught; the case then puts the host's value back.
fn sysctl_host_net(ctx: &mut Ctx) -> CaseResult {
    const PATH: &str = "/proc/sys/net/core/somaxconn";
    let current = std::fs::read_to_string(PATH).unwrap_or_default();
    let asked = current.trim().parse::<u64>().unwrap_or(4096) + 1;
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).remove_namespace("network").set(
        "/linux/sysctl",
        json!({"net.core.somaxconn": asked.to_string()}),
    );
    let out = crate::cases::util::guard_host_value(PATH, || ctx.refused(&cfg, "run"))?;
    expect_error(&out, "net.core.somaxconn")
}

/// A veth pair made for one case, deleted (by name) when dropped.
struct Veth(String);

impl Veth {
    fn new() -> Result<Veth, crate::case::CaseError> {
        let name = format!("sc{}a", std::process::id() % 1_000_000);
        let peer = format!("sc{}b", std::process::id() % 1_000_000);
        let out = std::process::Command::new("ip")
            .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
            .output()
            .map_err(|e| crate::case::CaseError::Harness(format!("ip link add: {e}")))?;
        if !out.status.success() {
            return Err(crate::case::CaseError::Skip(format!(
                "host: cannot create a veth pair: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Veth(name))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        if std::path::Path::new("/sys/class/net")
            .join(&self.0)
            .exists()
        {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.0])
                .output();
        }
    }
}

fn net_devices(ctx: &mut Ctx) -> CaseResult {
    let veth = Veth::new()?;
    let mut cfg = Config::default();
    cfg.set(
        &format!("/linux/netDevices/{}", veth.0),
        json!({"name": "sceth0"}),
    );
    let r = ctx.check(cfg, &["ls", "/sys/class/net"])?;
    let names = crate::cases::util::strings(&r.probe(0)["value"]);
    ensure!(
        names.iter().any(|n| n == "sceth0"),
        "the device is not in the container as sceth0: {names:?}"
    );
    ensure!(
        !names.contains(&veth.0),
        "the device kept its host name: {names:?}"
    );
    Ok(())
}

fn net_devices_missing(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/linux/netDevices/scnosuchdev0", json!({"name": "eth9"}));
    let out = ctx.refused(&cfg, "run")?;
    expect_error(&out, "scnosuchdev0")
}

fn domainname_without_uts(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .remove_namespace("uts")
        .remove("/hostname")
        .set("/domainname", json!("conformance.example"));
    let out = crate::cases::util::guard_host_value("/proc/sys/kernel/domainname", || {
        ctx.refused(&cfg, "run")
    })?;
    expect_error(&out, "domainname")
}

fn join_pid(ctx: &mut Ctx) -> CaseResult {
    let (holder, pid) = ctx.create_ok(&sleeper())?;
    ensure!(ctx.start(&holder)?.ok(), "start of the holder failed");
    let mut cfg = Config::default();
    cfg.namespace("pid", Some(&format!("/proc/{pid}/ns/pid")));
    let r = ctx.check(cfg, &["ls", "/proc"])?;
    let want = crate::report::pid_ns(pid, "pid");
    ensure_eq!(r.ns("pid"), want.as_str(), "pid namespace joined by path");
    ensure!(r.0["pid"] != 1, "the joining process became pid 1");
    let procs = crate::cases::util::strings(&r.probe(0)["value"]);
    ensure!(
        procs.iter().any(|p| p == "1"),
        "the holder's init (pid 1) is not visible: {procs:?}"
    );
    let out = ctx.delete(&holder, true)?;
    ensure!(out.ok(), "delete --force of the holder: {}", out.describe());
    Ok(())
}

/// Joining another container's user namespace by path: the process sees
/// that namespace's mappings (the config gives none of its own).
fn join_user(ctx: &mut Ctx) -> CaseResult {
    let mut holder_cfg = userns_config();
    holder_cfg.args(&["/bin/sleep", "1000"]);
    let (holder, pid) = ctx.create_ok(&holder_cfg)?;
    let mut cfg = Config::default();
    cfg.namespace("user", Some(&format!("/proc/{pid}/ns/user")));
    let r = ctx.check(cfg, &[])?;
    let want = crate::report::pid_ns(pid, "user");
    ensure_eq!(r.ns("user"), want.as_str(), "user namespace joined by path");
    ensure_eq!(
        r.0["uid_map"],
        json!([[0, 100000, 65536]]),
        "uid_map of the joined namespace"
    );
    let out = ctx.delete(&holder, true)?;
    ensure!(out.ok(), "delete --force of the holder: {}", out.describe());
    Ok(())
}
