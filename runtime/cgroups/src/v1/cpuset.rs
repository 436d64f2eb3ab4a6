//! v1 cpuset controller: CPUs and memory nodes.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::fsutil::{read, read_u64_opt, write};
use crate::stats::{parse_cpuset_list, CpuSet};
use crate::Error;

pub(crate) fn set(dir: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.cpus", cpus, "linux.resources.cpu.cpus")?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.mems", mems, "linux.resources.cpu.mems")?;
    }
    Ok(())
}

/// A new v1 cpuset starts with no CPUs and no nodes, and no task may join it then:
/// copy the parent's values down into every level we created (parent first).
pub(crate) fn fill_from_parent(dir: &Path) -> Result<(), Error> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read(dir, file)?.trim().is_empty() {
            let v = read(parent, file)?;
            write(dir, file, v.trim(), "linux.resources.cpu")?;
        }
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut CpuSet) -> Result<(), Error> {
    let list = |file: &str| -> Result<Vec<u16>, Error> {
        let s = read(dir, file)?;
        parse_cpuset_list(&s).ok_or_else(|| Error::Parse {
            path: dir.join(file),
            content: s,
            reason: "not a cpu list".into(),
        })
    };
    out.cpus = list("cpuset.cpus")?;
    out.mems = list("cpuset.mems")?;
    out.cpu_exclusive = read_u64_opt(dir, "cpuset.cpu_exclusive")?;
    out.mem_hardwall = read_u64_opt(dir, "cpuset.mem_hardwall")?;
    out.mem_exclusive = read_u64_opt(dir, "cpuset.mem_exclusive")?;
    out.memory_migrate = read_u64_opt(dir, "cpuset.memory_migrate")?;
    out.memory_spread_page = read_u64_opt(dir, "cpuset.memory_spread_page")?;
    out.memory_spread_slab = read_u64_opt(dir, "cpuset.memory_spread_slab")?;
    out.memory_pressure = read_u64_opt(dir, "cpuset.memory_pressure")?;
    out.sched_load_balance = read_u64_opt(dir, "cpuset.sched_load_balance")?;
    out.sched_relax_domain_level = read(dir, "cpuset.sched_relax_domain_level")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Ok(())
}
