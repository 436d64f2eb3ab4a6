//! What the process sees of itself through /proc and /proc/sys.

use serde_json::{json, Map, Value};
use std::fs;

use crate::ffi;

/// A file's text without the trailing newline, or `{"error": ...}`.
pub fn read_text(path: &str) -> Value {
    match fs::read_to_string(path) {
        Ok(s) => Value::String(s.trim_end_matches('\n').to_string()),
        Err(e) => json!({ "error": e.to_string(), "errno": e.raw_os_error() }),
    }
}

/// readlink of every /proc/self/ns entry: `"net": "net:[4026531840]"`.
pub fn namespaces() -> Value {
    let mut out = Map::new();
    if let Ok(dir) = fs::read_dir("/proc/self/ns") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(target) = fs::read_link(entry.path()) {
                out.insert(name, Value::String(target.to_string_lossy().into_owned()));
            }
        }
    }
    Value::Object(out)
}

/// uid_map/gid_map as `[[inside, outside, count], ...]`.
pub fn id_map(path: &str) -> Value {
    let Ok(text) = fs::read_to_string(path) else {
        return Value::Null;
    };
    Value::Array(
        text.lines()
            .map(|l| {
                Value::Array(
                    l.split_whitespace()
                        .filter_map(|n| n.parse::<u64>().ok())
                        .map(Value::from)
                        .collect(),
                )
            })
            .collect(),
    )
}

/// /proc/self/timens_offsets as `{"monotonic": {"secs": s, "nanosecs": n}, ...}`.
pub fn timens_offsets() -> Value {
    let Ok(text) = fs::read_to_string("/proc/self/timens_offsets") else {
        return Value::Null;
    };
    let mut out = Map::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 {
            out.insert(
                f[0].to_string(),
                json!({ "secs": f[1].parse::<i64>().ok(), "nanosecs": f[2].parse::<i64>().ok() }),
            );
        }
    }
    Value::Object(out)
}

/// Every `Key:\tvalue` line of /proc/self/status.
pub fn status() -> Value {
    let mut out = Map::new();
    if let Ok(text) = fs::read_to_string("/proc/self/status") {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(':') {
                out.insert(k.to_string(), Value::String(v.trim().to_string()));
            }
        }
    }
    Value::Object(out)
}

/// /proc/self/limits as `{"RLIMIT_NOFILE": {"soft": n|"unlimited", "hard": ...}}`.
pub fn rlimits() -> Value {
    // The kernel's descriptions, in the order of the RLIMIT_* numbers.
    const NAMES: [(&str, &str); 16] = [
        ("Max cpu time", "RLIMIT_CPU"),
        ("Max file size", "RLIMIT_FSIZE"),
        ("Max data size", "RLIMIT_DATA"),
        ("Max stack size", "RLIMIT_STACK"),
        ("Max core file size", "RLIMIT_CORE"),
        ("Max resident set", "RLIMIT_RSS"),
        ("Max processes", "RLIMIT_NPROC"),
        ("Max open files", "RLIMIT_NOFILE"),
        ("Max locked memory", "RLIMIT_MEMLOCK"),
        ("Max address space", "RLIMIT_AS"),
        ("Max file locks", "RLIMIT_LOCKS"),
        ("Max pending signals", "RLIMIT_SIGPENDING"),
        ("Max msgqueue size", "RLIMIT_MSGQUEUE"),
        ("Max nice priority", "RLIMIT_NICE"),
        ("Max realtime priority", "RLIMIT_RTPRIO"),
        ("Max realtime timeout", "RLIMIT_RTTIME"),
    ];
    let mut out = Map::new();
    let Ok(text) = fs::read_to_string("/proc/self/limits") else {
        return Value::Object(out);
    };
    for line in text.lines().skip(1) {
        for (desc, name) in NAMES {
            if let Some(rest) = line.strip_prefix(desc) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let num = |s: &str| -> Value {
                    s.parse::<u64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::String(s.to_string()))
                };
                if f.len() >= 2 {
                    out.insert(
                        name.to_string(),
                        json!({ "soft": num(f[0]), "hard": num(f[1]) }),
                    );
                }
            }
        }
    }
    Value::Object(out)
}

/// The sysctls the cases set or that a default container should keep.
pub fn sysctls() -> Value {
    const KEYS: [&str; 8] = [
        "kernel.hostname",
        "kernel.domainname",
        "kernel.shm_rmid_forced",
        "kernel.msgmax",
        "kernel.shmmax",
        "net.ipv4.ip_forward",
        "net.ipv4.ping_group_range",
        "net.core.somaxconn",
    ];
    let mut out = Map::new();
    for key in KEYS {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        out.insert(key.to_string(), read_text(&path));
    }
    Value::Object(out)
}

/// /proc/self/cgroup as `[{"hierarchy": n, "controllers": "...", "path": "..."}]`.
pub fn cgroup_membership() -> Value {
    let Ok(text) = fs::read_to_string("/proc/self/cgroup") else {
        return Value::Null;
    };
    Value::Array(
        text.lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ':');
                Some(json!({
                    "hierarchy": f.next()?,
                    "controllers": f.next()?,
                    "path": f.next()?,
                }))
            })
            .collect(),
    )
}

/// The limit files the container can read under /sys/fs/cgroup, keyed by their
/// path below it (v1 `memory/memory.limit_in_bytes` or v2 `memory.max`).
pub fn cgroup_limits() -> Value {
    const FILES: [&str; 22] = [
        "memory/memory.limit_in_bytes",
        "memory/memory.soft_limit_in_bytes",
        "memory/memory.memsw.limit_in_bytes",
        "memory/memory.swappiness",
        "pids/pids.max",
        "cpu/cpu.shares",
        "cpu/cpu.cfs_quota_us",
        "cpu/cpu.cfs_period_us",
        "cpuset/cpuset.cpus",
        "cpuset/cpuset.mems",
        "blkio/blkio.bfq.weight",
        "devices/devices.list",
        "memory.max",
        "memory.low",
        "memory.high",
        "memory.swap.max",
        "pids.max",
        "cpu.max",
        "cpu.weight",
        "cpuset.cpus",
        "cpuset.mems",
        "cgroup.controllers",
    ];
    let mut out = Map::new();
    for rel in FILES {
        let path = format!("/sys/fs/cgroup/{rel}");
        if let Ok(s) = fs::read_to_string(&path) {
            out.insert(rel.to_string(), Value::String(s.trim_end().to_string()));
        }
    }
    Value::Object(out)
}

/// Every open descriptor and what it points to. The directory handle used to
/// list them is closed before the links are read, so it is not reported.
pub fn open_fds() -> Value {
    let names: Vec<String> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => return Value::Null,
    };
    let mut out = Map::new();
    for name in names {
        if let Ok(target) = fs::read_link(format!("/proc/self/fd/{name}")) {
            out.insert(name, Value::String(target.to_string_lossy().into_owned()));
        }
    }
    Value::Object(out)
}

pub fn environment() -> Value {
    let mut out = Map::new();
    for (k, v) in std::env::vars_os() {
        out.insert(
            k.to_string_lossy().into_owned(),
            Value::String(v.to_string_lossy().into_owned()),
        );
    }
    Value::Object(out)
}

/// Scheduling policy number, I/O priority (class, data) and personality.
pub fn scheduling() -> Value {
    let policy = ffi::raw_syscall(ffi::SYS_SCHED_GETSCHEDULER, &[0]).ok();
    // IOPRIO_WHO_PROCESS = 1, who = 0 (this process).
    let ioprio = ffi::raw_syscall(ffi::SYS_IOPRIO_GET, &[1, 0]).ok();
    // 0xffffffff queries the persona without changing it.
    let persona = ffi::raw_syscall(ffi::SYS_PERSONALITY, &[0xffff_ffff]).ok();
    json!({
        "policy": policy,
        "ioprio_class": ioprio.map(|v| v >> 13),
        "ioprio_data": ioprio.map(|v| v & 0x1fff),
        "personality": persona,
        "nice": fs::read_to_string("/proc/self/stat").ok().and_then(|s| {
            // Field 19 (nice) counted after the ")" that ends the command name.
            let rest = s.rsplit_once(')')?.1;
            rest.split_whitespace().nth(16)?.parse::<i64>().ok()
        }),
    })
}

/// Whether stdin is a terminal and its size.
fn terminal() -> Value {
    let (isatty, size) = ffi::terminal_size(0);
    json!({ "stdin_isatty": isatty, "rows": size.map(|s| s.0), "cols": size.map(|s| s.1) })
}

/// The whole report: everything a case may compare with its config.
pub fn report() -> Value {
    json!({
        "pid": std::process::id(),
        "args": std::env::args().collect::<Vec<_>>(),
        "cwd": std::env::current_dir().map(|p| p.to_string_lossy().into_owned()).ok(),
        "env": environment(),
        "umask": ffi::current_umask(),
        "status": status(),
        "namespaces": namespaces(),
        "uid_map": id_map("/proc/self/uid_map"),
        "gid_map": id_map("/proc/self/gid_map"),
        "timens_offsets": timens_offsets(),
        "rlimits": rlimits(),
        "oom_score_adj": read_text("/proc/self/oom_score_adj"),
        "hostname": read_text("/proc/sys/kernel/hostname"),
        "domainname": read_text("/proc/sys/kernel/domainname"),
        "sysctls": sysctls(),
        "cgroup": cgroup_membership(),
        "cgroup_limits": cgroup_limits(),
        "fds": open_fds(),
        "mounts": crate::mounts::mountinfo(),
        "devices": crate::devices::walk("/dev"),
        "lsm": {
            "current": read_text("/proc/self/attr/current"),
            "exec": read_text("/proc/self/attr/exec"),
        },
        "sched": scheduling(),
        "tty": terminal(),
        "boottime_secs": read_text("/proc/uptime"),
    })
}
