//! Stats: a task's cgroups read through its init's /proc/<pid>/cgroup, as
//! containerd's own metrics types (io.containerd.cgroups.v1.Metrics on v1 and
//! hybrid hosts where the task sits in v1 controllers, v2.Metrics on unified ones),
//! so `ctr task metrics` prints them.

use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("process {0} is in no cgroup this shim can find")]
    NoCgroup(u32),
    #[error("encode metrics: {0}")]
    Encode(String),
}

/// Where each controller's (or the unified) cgroup of a process is on this host.
#[derive(Debug, Default)]
pub struct Cgroups {
    /// v1 controller name -> directory.
    pub v1: HashMap<String, PathBuf>,
    /// The unified-hierarchy directory, when mounted.
    pub v2: Option<PathBuf>,
}

/// Mount points of cgroup hierarchies: (controllers or "" for cgroup2, root, mountpoint).
fn cgroup_mounts(mountinfo: &str) -> Vec<(String, String, PathBuf)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            let (root, mp) = (pre.get(3)?, pre.get(4)?);
            match *post.first()? {
                "cgroup2" => Some((String::new(), root.to_string(), PathBuf::from(mp))),
                "cgroup" => {
                    let ctrls = post
                        .get(2)?
                        .split(',')
                        .filter(|o| {
                            !["rw", "ro", "nosuid", "nodev", "noexec", "relatime"].contains(o)
                        })
                        .filter(|o| !o.starts_with("name="))
                        .collect::<Vec<_>>()
                        .join(",");
                    Some((ctrls, root.to_string(), PathBuf::from(mp)))
                }
                _ => None,
            }
        })
        .collect()
}

/// Joins a /proc/<pid>/cgroup path under a mount whose root is `root`.
fn under(mp: &Path, root: &str, path: &str) -> PathBuf {
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .trim_start_matches('/');
    mp.join(rel)
}

pub fn parse(proc_cgroup: &str, mountinfo: &str) -> Cgroups {
    let mounts = cgroup_mounts(mountinfo);
    let mut out = Cgroups::default();
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if id == "0" && ctrls.is_empty() {
            if let Some((_, root, mp)) = mounts.iter().find(|m| m.0.is_empty()) {
                out.v2 = Some(under(mp, root, path));
            }
            continue;
        }
        if let Some((_, root, mp)) = mounts.iter().find(|m| m.0 == ctrls) {
            for c in ctrls.split(',') {
                out.v1.insert(c.to_string(), under(mp, root, path));
            }
        }
    }
    out
}

pub fn of_pid(pid: u32) -> Result<Cgroups, MetricsError> {
    let read =
        |p: String| fs::read_to_string(&p).map_err(|source| MetricsError::Read { path: p, source });
    Ok(parse(
        &read(format!("/proc/{pid}/cgroup"))?,
        &read("/proc/self/mountinfo".into())?,
    ))
}

fn read_u64(dir: &Path, file: &str) -> u64 {
    fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// "max" (no limit) reads as 0, as containerd's cgroups library reports it.
fn read_limit(dir: &Path, file: &str) -> u64 {
    read_u64(dir, file)
}

fn keyed(dir: &Path, file: &str) -> HashMap<String, u64> {
    fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

pub fn v1_metrics(cg: &Cgroups) -> v1::Metrics {
    let mut m = v1::Metrics::new();
    if let Some(d) = cg.v1.get("pids") {
        let mut p = v1::PidsStat::new();
        p.current = read_u64(d, "pids.current");
        p.limit = read_limit(d, "pids.max");
        m.pids = Some(p).into();
    }
    if let Some(d) = cg.v1.get("cpuacct") {
        let mut cpu = v1::CPUStat::new();
        let mut u = v1::CPUUsage::new();
        u.total = read_u64(d, "cpuacct.usage");
        u.per_cpu = fs::read_to_string(d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        // cpuacct.stat counts USER_HZ ticks; containerd reports nanoseconds.
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let st = keyed(d, "cpuacct.stat");
        u.user = st.get("user").copied().unwrap_or(0) * 1_000_000_000 / hz;
        u.kernel = st.get("system").copied().unwrap_or(0) * 1_000_000_000 / hz;
        cpu.usage = Some(u).into();
        if let Some(c) = cg.v1.get("cpu") {
            let st = keyed(c, "cpu.stat");
            let mut t = v1::Throttle::new();
            t.periods = st.get("nr_periods").copied().unwrap_or(0);
            t.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
            t.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
            cpu.throttling = Some(t).into();
        }
        m.cpu = Some(cpu).into();
    }
    if let Some(d) = cg.v1.get("memory") {
        let st = keyed(d, "memory.stat");
        let g = |k: &str| st.get(k).copied().unwrap_or(0);
        let mut mem = v1::MemoryStat::new();
        mem.cache = g("cache");
        mem.rss = g("rss");
        mem.rss_huge = g("rss_huge");
        mem.mapped_file = g("mapped_file");
        mem.dirty = g("dirty");
        mem.writeback = g("writeback");
        mem.pg_pg_in = g("pgpgin");
        mem.pg_pg_out = g("pgpgout");
        mem.pg_fault = g("pgfault");
        mem.pg_maj_fault = g("pgmajfault");
        mem.inactive_anon = g("inactive_anon");
        mem.active_anon = g("active_anon");
        mem.inactive_file = g("inactive_file");
        mem.active_file = g("active_file");
        mem.unevictable = g("unevictable");
        mem.hierarchical_memory_limit = g("hierarchical_memory_limit");
        mem.hierarchical_swap_limit = g("hierarchical_memsw_limit");
        mem.total_cache = g("total_cache");
        mem.total_rss = g("total_rss");
        mem.total_rss_huge = g("total_rss_huge");
        mem.total_mapped_file = g("total_mapped_file");
        mem.total_dirty = g("total_dirty");
        mem.total_writeback = g("total_writeback");
        mem.total_pg_pg_in = g("total_pgpgin");
        mem.total_pg_pg_out = g("total_pgpgout");
        mem.total_pg_fault = g("total_pgfault");
        mem.total_pg_maj_fault = g("total_pgmajfault");
        mem.total_inactive_anon = g("total_inactive_anon");
        mem.total_active_anon = g("total_active_anon");
        mem.total_inactive_file = g("total_inactive_file");
        mem.total_active_file = g("total_active_file");
        mem.total_unevictable = g("total_unevictable");
        let entry = |prefix: &str| {
            let mut e = v1::MemoryEntry::new();
            e.usage = read_u64(d, &format!("{prefix}.usage_in_bytes"));
            e.limit = read_u64(d, &format!("{prefix}.limit_in_bytes"));
            e.max = read_u64(d, &format!("{prefix}.max_usage_in_bytes"));
            e.failcnt = read_u64(d, &format!("{prefix}.failcnt"));
            e
        };
        mem.usage = Some(entry("memory")).into();
        mem.swap = Some(entry("memory.memsw")).into();
        mem.kernel = Some(entry("memory.kmem")).into();
        mem.kernel_tcp = Some(entry("memory.kmem.tcp")).into();
        m.memory = Some(mem).into();
        let oom = keyed(d, "memory.oom_control");
        let mut o = v1::MemoryOomControl::new();
        o.oom_kill_disable = oom.get("oom_kill_disable").copied().unwrap_or(0);
        o.under_oom = oom.get("under_oom").copied().unwrap_or(0);
        o.oom_kill = oom.get("oom_kill").copied().unwrap_or(0);
        m.memory_oom_control = Some(o).into();
    }
    m
}

pub fn v2_metrics(dir: &Path) -> v2::Metrics {
    let mut m = v2::Metrics::new();
    let mut p = v2::PidsStat::new();
    p.current = read_u64(dir, "pids.current");
    p.limit = read_limit(dir, "pids.max");
    m.pids = Some(p).into();
    let st = keyed(dir, "cpu.stat");
    let g = |k: &str| st.get(k).copied().unwrap_or(0);
    let mut cpu = v2::CPUStat::new();
    cpu.usage_usec = g("usage_usec");
    cpu.user_usec = g("user_usec");
    cpu.system_usec = g("system_usec");
    cpu.nr_periods = g("nr_periods");
    cpu.nr_throttled = g("nr_throttled");
    cpu.throttled_usec = g("throttled_usec");
    m.cpu = Some(cpu).into();
    let st = keyed(dir, "memory.stat");
    let g = |k: &str| st.get(k).copied().unwrap_or(0);
    let mut mem = v2::MemoryStat::new();
    mem.anon = g("anon");
    mem.file = g("file");
    mem.kernel_stack = g("kernel_stack");
    mem.slab = g("slab");
    mem.sock = g("sock");
    mem.shmem = g("shmem");
    mem.file_mapped = g("file_mapped");
    mem.file_dirty = g("file_dirty");
    mem.file_writeback = g("file_writeback");
    mem.inactive_anon = g("inactive_anon");
    mem.active_anon = g("active_anon");
    mem.inactive_file = g("inactive_file");
    mem.active_file = g("active_file");
    mem.unevictable = g("unevictable");
    mem.pgfault = g("pgfault");
    mem.pgmajfault = g("pgmajfault");
    mem.usage = read_u64(dir, "memory.current");
    mem.usage_limit = read_limit(dir, "memory.max");
    mem.swap_usage = read_u64(dir, "memory.swap.current");
    mem.swap_limit = read_limit(dir, "memory.swap.max");
    mem.max_usage = read_u64(dir, "memory.peak");
    m.memory = Some(mem).into();
    let ev = keyed(dir, "memory.events");
    let g = |k: &str| ev.get(k).copied().unwrap_or(0);
    let mut e = v2::MemoryEvents::new();
    e.low = g("low");
    e.high = g("high");
    e.max = g("max");
    e.oom = g("oom");
    e.oom_kill = g("oom_kill");
    m.memory_events = Some(e).into();
    m
}

/// The task's metrics as containerd expects them in StatsResponse.stats.
pub fn collect(pid: u32) -> Result<Any, MetricsError> {
    let cg = of_pid(pid)?;
    let enc = |e: containerd_shim::protos::protobuf::Error| MetricsError::Encode(e.to_string());
    if cg.v1.contains_key("memory") || cg.v1.contains_key("pids") {
        return Ok(Any {
            type_url: "io.containerd.cgroups.v1.Metrics".into(),
            value: v1_metrics(&cg).write_to_bytes().map_err(enc)?,
            ..Default::default()
        });
    }
    let dir = cg.v2.ok_or(MetricsError::NoCgroup(pid))?;
    Ok(Any {
        type_url: "io.containerd.cgroups.v2.Metrics".into(),
        value: v2_metrics(&dir).write_to_bytes().map_err(enc)?,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
";

    #[test]
    fn hybrid_paths() {
        let cg = parse(
            "5:pids:/ns/c1\n4:cpu,cpuacct:/ns/c1\n3:memory:/ns/c1\n0::/ns/c1\n",
            MOUNTINFO,
        );
        assert_eq!(cg.v1["memory"], Path::new("/sys/fs/cgroup/memory/ns/c1"));
        assert_eq!(
            cg.v1["cpuacct"],
            Path::new("/sys/fs/cgroup/cpu,cpuacct/ns/c1")
        );
        assert_eq!(
            cg.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified/ns/c1"))
        );
    }

    #[test]
    fn v2_from_fixture_tree() {
        let d = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("pids.current", "3"),
            ("pids.max", "max"),
            ("memory.current", "4096"),
            ("memory.max", "67108864"),
            ("memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"),
            ("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\n"),
        ] {
            fs::write(d.path().join(f), v).unwrap();
        }
        let m = v2_metrics(d.path());
        assert_eq!(m.pids.current, 3);
        assert_eq!(m.pids.limit, 0);
        assert_eq!(m.memory.usage, 4096);
        assert_eq!(m.memory.usage_limit, 67108864);
        assert_eq!(m.memory_events.oom_kill, 1);
        assert_eq!(m.cpu.usage_usec, 10);
    }
}
