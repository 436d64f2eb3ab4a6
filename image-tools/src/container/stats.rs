//! `stats`: docker's live resource columns, from the runtime's cgroup statistics
//! (`events --stats`, runc's JSON) and the container's network namespace
//! (`/proc/PID/net/dev`).
//!
//! docker's arithmetic: CPU % is the container's CPU time over the host's in the same
//! span, times the online CPUs; memory in use leaves out the inactive file cache; the
//! limit is the host's memory when the cgroup's is larger; NET I/O counts every
//! interface but loopback; BLOCK I/O sums the read and write bytes of every device.

use super::record::{Containers, Record};
use super::{lifecycle, ContainerError};
use crate::humanize;
use serde_json::{json, Value};

/// One reading of a container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// The container's CPU time, ns.
    pub cpu_ns: u64,
    /// The host's CPU time (every CPU, every state), ns.
    pub system_ns: u64,
    pub online_cpus: u32,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
}

/// Reads the container now: it must be running (docker shows a stopped one as zeros;
/// the caller decides).
pub fn sample(containers: &Containers, rec: &Record) -> Result<Sample, ContainerError> {
    let rt = lifecycle::runtime_of(containers, rec);
    let data = rt.stats(&rec.id)?;
    let (net_rx, net_tx) = lifecycle::init_pid(containers, &rec.id)
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok())
        .map(|t| net_dev(&t))
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let (system_ns, online_cpus) = system_cpu(&stat);
    Ok(from_stats(
        &data,
        host_memory(&meminfo),
        system_ns,
        online_cpus,
        net_rx,
        net_tx,
    ))
}

/// The parts of runc's stats object docker shows.
fn from_stats(
    data: &Value,
    host_mem: u64,
    system_ns: u64,
    online_cpus: u32,
    net_rx: u64,
    net_tx: u64,
) -> Sample {
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    let mem = &data["memory"];
    let usage = u(&mem["usage"]["usage"]);
    // cgroup v1 names it total_inactive_file, v2 inactive_file.
    let inactive = [
        &mem["raw"]["total_inactive_file"],
        &mem["raw"]["inactive_file"],
    ]
    .into_iter()
    .find_map(Value::as_u64)
    .unwrap_or(0);
    let limit = match u(&mem["usage"]["limit"]) {
        0 => host_mem,
        l => l.min(host_mem.max(1)),
    };
    let (mut blk_read, mut blk_write) = (0, 0);
    for e in data["blkio"]["ioServiceBytesRecursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => blk_read += u(&e["value"]),
            Some("write") => blk_write += u(&e["value"]),
            _ => {}
        }
    }
    Sample {
        cpu_ns: u(&data["cpu"]["usage"]["total"]),
        system_ns,
        online_cpus,
        mem_usage: if inactive < usage {
            usage - inactive
        } else {
            usage
        },
        mem_limit: limit,
        net_rx,
        net_tx,
        blk_read,
        blk_write,
        pids: u(&data["pids"]["current"]),
    }
}

/// MemTotal in bytes.
fn host_memory(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// The host's CPU time in ns (the `cpu` line of /proc/stat, in clock ticks) and how many
/// CPUs are online (its `cpuN` lines), as docker's daemon reads them.
fn system_cpu(stat: &str) -> (u64, u32) {
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut total = 0;
    let mut cpus = 0;
    for l in stat.lines() {
        let mut f = l.split_whitespace();
        match f.next() {
            Some("cpu") => {
                total = f.take(7).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>()
                    * (1_000_000_000 / hz);
            }
            Some(c) if c.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

/// Received and sent bytes over every interface but loopback.
fn net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

/// docker's CPU %: the container's share of the host's CPU time between two readings,
/// times the online CPUs.
pub fn cpu_percent(before: &Sample, now: &Sample) -> f64 {
    let cpu = now.cpu_ns.saturating_sub(before.cpu_ns) as f64;
    let system = now.system_ns.saturating_sub(before.system_ns) as f64;
    if cpu > 0.0 && system > 0.0 {
        cpu / system * f64::from(now.online_cpus.max(1)) * 100.0
    } else {
        0.0
    }
}

/// One row with docker's `--format` fields (`.Container`, `.Name`, `.ID`, `.CPUPerc`,
/// `.MemUsage`, `.MemPerc`, `.NetIO`, `.BlockIO`, `.PIDs`). `shown` is what the user
/// typed (docker's `.Container`); a stopped container has zeros (`None`).
pub fn row(rec: &Record, shown: &str, readings: Option<(&Sample, &Sample)>) -> Value {
    let (cpu, s) = match readings {
        Some((before, now)) => (cpu_percent(before, now), now.clone()),
        None => (0.0, Sample::default()),
    };
    let mem_pct = if s.mem_limit > 0 {
        s.mem_usage as f64 / s.mem_limit as f64 * 100.0
    } else {
        0.0
    };
    json!({
        "Container": shown,
        "ID": rec.id,
        "Name": rec.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", humanize::binary_size(s.mem_usage), humanize::binary_size(s.mem_limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", humanize::size(s.net_rx), humanize::size(s.net_tx)),
        "BlockIO": format!("{} / {}", humanize::size(s.blk_read), humanize::size(s.blk_write)),
        "PIDs": s.pids.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_arithmetic() {
        let data: Value = serde_json::from_str(
            r#"{"cpu":{"usage":{"total":500000000}},
                "memory":{"usage":{"usage":10485760,"limit":9223372036854771712},
                          "raw":{"total_inactive_file":2097152}},
                "pids":{"current":3},
                "blkio":{"ioServiceBytesRecursive":[
                    {"major":8,"op":"Read","value":4096},{"major":8,"op":"Write","value":1000},
                    {"major":8,"op":"Total","value":5096},{"major":9,"op":"Read","value":4}]}}"#,
        )
        .unwrap();
        let host = 8 << 30;
        let s = from_stats(&data, host, 2_000_000_000, 2, 1500, 20);
        assert_eq!(s.mem_usage, 8 << 20);
        assert_eq!(
            s.mem_limit, host,
            "an unlimited cgroup shows the host's memory"
        );
        assert_eq!((s.blk_read, s.blk_write, s.pids), (4100, 1000, 3));
        let before = Sample {
            cpu_ns: 250_000_000,
            system_ns: 1_000_000_000,
            ..s.clone()
        };
        // 0.25 s of 1 s of host time over 2 CPUs: 50%.
        assert!((cpu_percent(&before, &s) - 50.0).abs() < 1e-9);
        let rec: Record = serde_json::from_value(json!({
            "id": "0123456789ab", "name": "web", "image": "busybox", "image_id": "sha256:00",
            "command": ["sh"], "created": "2026-01-01T00:00:00Z", "runtime": "/bin/sangja",
            "detached": true, "auto_remove": false,
        }))
        .unwrap();
        let r = row(&rec, "web", Some((&before, &s)));
        assert_eq!(r["CPUPerc"], "50.00%");
        assert_eq!(r["MemUsage"], "8MiB / 8GiB");
        assert_eq!(r["MemPerc"], "0.10%");
        assert_eq!(r["NetIO"], "1.5kB / 20B");
        assert_eq!(r["BlockIO"], "4.1kB / 1kB");
        assert_eq!(r["PIDs"], "3");
        let v2: Value = serde_json::from_str(
            r#"{"memory":{"usage":{"usage":100,"limit":50},"raw":{"inactive_file":40}}}"#,
        )
        .unwrap();
        let s = from_stats(&v2, host, 0, 1, 0, 0);
        assert_eq!((s.mem_usage, s.mem_limit), (60, 50));
    }

    #[test]
    fn proc_files() {
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 900 9 0 0 0 0 0 0 900 9 0 0 0 0 0 0\n  eth0: 1234 5 0 0 0 0 0 0 567 4 0 0 0 0 0 0\n";
        assert_eq!(net_dev(dev), (1234, 567));
        assert_eq!(
            host_memory("MemTotal:        1000 kB\nMemFree: 5 kB\n"),
            1_024_000
        );
        let (total, cpus) =
            system_cpu("cpu  1 2 3 4 5 6 7 8 9\ncpu0 1 1 1 1 1 1 1\ncpu1 1 1 1 1 1 1 1\nintr 5\n");
        assert_eq!(cpus, 2);
        assert!(total > 0);
    }
}
