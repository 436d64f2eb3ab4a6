//! The v1 values now in force for what `update` can change, as resources.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::V1Manager;
use crate::fsutil::read;

/// The kernel shows "no limit" as the largest page-aligned value; runc writes -1.
const UNLIMITED: u64 = 0x7fff_ffff_ffff_f000;

fn num(m: &V1Manager, ctrl: &str, file: &str) -> Option<String> {
    let dir = m.path(ctrl)?;
    read(dir, file).ok().map(|s| s.trim().to_string())
}

fn limit(m: &V1Manager, ctrl: &str, file: &str) -> Option<i64> {
    let v = num(m, ctrl, file)?;
    if v == "max" {
        return Some(-1);
    }
    let n: i64 = v.parse().ok()?;
    Some(if n < 0 || n as u64 >= UNLIMITED {
        -1
    } else {
        n
    })
}

pub(crate) fn v1(m: &V1Manager) -> LinuxResources {
    let mut r = LinuxResources::default();
    let mut mem = LinuxMemory::default();
    mem.set_limit(limit(m, "memory", "memory.limit_in_bytes"));
    mem.set_reservation(limit(m, "memory", "memory.soft_limit_in_bytes"));
    mem.set_swap(limit(m, "memory", "memory.memsw.limit_in_bytes"));
    r.set_memory(Some(mem));
    let mut cpu = LinuxCpu::default();
    cpu.set_shares(num(m, "cpu", "cpu.shares").and_then(|v| v.parse().ok()));
    cpu.set_quota(num(m, "cpu", "cpu.cfs_quota_us").and_then(|v| v.parse().ok()));
    cpu.set_period(num(m, "cpu", "cpu.cfs_period_us").and_then(|v| v.parse().ok()));
    cpu.set_cpus(num(m, "cpuset", "cpuset.cpus").filter(|v| !v.is_empty()));
    cpu.set_mems(num(m, "cpuset", "cpuset.mems").filter(|v| !v.is_empty()));
    r.set_cpu(Some(cpu));
    if let Some(p) = limit(m, "pids", "pids.max") {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    // The weight file shows "N" (CFQ) or "default N" (some BFQ kernels).
    let weight = num(m, "blkio", "blkio.weight")
        .or_else(|| num(m, "blkio", "blkio.bfq.weight"))
        .and_then(|v| {
            v.split_whitespace()
                .last()
                .and_then(|w| w.parse::<u16>().ok())
        });
    if let Some(w) = weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    r
}
