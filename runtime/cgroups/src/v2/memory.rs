//! v2 memory controller: memory.max, memory.low, memory.swap.max.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::fsutil::{self, exists, read_u64, read_u64_opt, write};
use crate::resources::{swap_to_v2, v2_num};
use crate::stats::{Memory, MemoryEntry};
use crate::Error;

/// Checks that need no writes, so a refused config leaves nothing half-applied.
pub(crate) fn validate(m: &LinuxMemory) -> Result<(), Error> {
    swap_to_v2(m.swap().unwrap_or(0), m.limit().unwrap_or(0)).map(|_| ())
}

pub(crate) fn set(dir: &Path, m: &LinuxMemory) -> Result<(), Error> {
    let limit = m.limit().unwrap_or(0);
    // Checked before any write, so a refused update leaves the old limits whole.
    if m.check_before_update() == Some(true) && limit > 0 {
        let current = read_u64(dir, "memory.current")?;
        if (limit as u64) < current {
            return Err(Error::field(
                "linux.resources.memory.limit",
                format!(
                    "memory limit {limit} is below the current usage {current} (checkBeforeUpdate)"
                ),
            ));
        }
    }
    let spec_swap = m.swap().unwrap_or(0);
    let swap = swap_to_v2(spec_swap, limit)?;
    let mut swap_str = v2_num(swap);
    if swap_str.is_none() && swap == 0 && spec_swap > 0 {
        // memory == memory+swap: no swap at all.
        swap_str = Some("0".into());
    }
    if let Some(s) = swap_str {
        match write(dir, "memory.swap.max", &s, "linux.resources.memory.swap") {
            // A kernel without swap accounting: "max" or "0" already hold.
            Err(Error::Write { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && (s == "max" || s == "0") => {}
            other => other?,
        }
    }
    if let Some(v) = v2_num(limit) {
        write(dir, "memory.max", &v, "linux.resources.memory.limit")?;
    }
    if let Some(v) = v2_num(m.reservation().unwrap_or(0)) {
        write(dir, "memory.low", &v, "linux.resources.memory.reservation")?;
    }
    if m.swappiness().is_some() {
        tracing::warn!(
            "linux.resources.memory.swappiness is ignored: cgroup v2 has no per-cgroup swappiness"
        );
    }
    if m.disable_oom_killer() == Some(true) {
        tracing::warn!("linux.resources.memory.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer");
    }
    if m.use_hierarchy() == Some(false) {
        tracing::warn!("linux.resources.memory.useHierarchy=false is ignored: cgroup v2 is always hierarchical");
    }
    Ok(())
}

fn entry(dir: &Path, name: &str) -> Result<MemoryEntry, Error> {
    let f = |n: &str| {
        if name.is_empty() {
            format!("memory.{n}")
        } else {
            format!("memory.{name}.{n}")
        }
    };
    Ok(MemoryEntry {
        usage: read_u64_opt(dir, &f("current"))?,
        limit: if exists(dir, &f("max")) {
            read_u64(dir, &f("max"))?
        } else {
            u64::MAX
        },
        max: read_u64_opt(dir, &f("peak"))?,
        failcnt: if exists(dir, &f("events")) {
            fsutil::read_keyed(dir, &f("events"))?
                .get("max")
                .copied()
                .unwrap_or(0)
        } else {
            0
        },
    })
}

pub(crate) fn stats(dir: &Path, out: &mut Memory) -> Result<(), Error> {
    if !exists(dir, "memory.stat") {
        // No memory controller enabled for this cgroup.
        return Ok(());
    }
    let raw = fsutil::read_keyed(dir, "memory.stat")?;
    out.cache = raw.get("file").copied().unwrap_or(0);
    out.raw = raw;
    out.usage = entry(dir, "")?;
    // v1 reports memory+swap; runc adds them up on v2 for the same meaning.
    let mut swap = entry(dir, "swap")?;
    swap.usage += out.usage.usage;
    if swap.limit != u64::MAX {
        swap.limit = swap.limit.saturating_add(out.usage.limit);
    }
    swap.max = 0;
    out.swap = swap;
    Ok(())
}

pub(crate) fn oom_kills(dir: &Path) -> Result<u64, Error> {
    Ok(fsutil::read_keyed(dir, "memory.events")?
        .get("oom_kill")
        .copied()
        .unwrap_or(0))
}
