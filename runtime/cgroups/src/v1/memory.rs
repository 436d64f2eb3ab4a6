//! v1 memory controller: limits, swap (memsw), reservation, OOM killer, swappiness.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::fsutil::{self, read_u64, read_u64_opt, write};
use crate::stats::{Memory, MemoryEntry};
use crate::Error;

const LIMIT: &str = "memory.limit_in_bytes";
const SWAP_LIMIT: &str = "memory.memsw.limit_in_bytes";

fn set_limit(dir: &Path, limit: i64) -> Result<(), Error> {
    if limit == 0 {
        return Ok(());
    }
    match write(
        dir,
        LIMIT,
        &limit.to_string(),
        "linux.resources.memory.limit",
    ) {
        Err(Error::Write { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
            // runc's wording: the kernel refuses a limit below what is already in use.
            Err(Error::MemoryBelowUsage {
                limit,
                usage: read_u64(dir, "memory.usage_in_bytes").unwrap_or(0),
                peak: read_u64(dir, "memory.max_usage_in_bytes").unwrap_or(0),
            })
        }
        other => other,
    }
}

fn set_swap(dir: &Path, swap: i64) -> Result<(), Error> {
    if swap == 0 {
        return Ok(());
    }
    write(
        dir,
        SWAP_LIMIT,
        &swap.to_string(),
        "linux.resources.memory.swap",
    )
}

/// runc's setMemoryAndSwap: the kernel requires memory <= memsw at every step, so the
/// order of the two writes depends on whether the limits grow or shrink.
fn set_memory_and_swap(dir: &Path, limit: i64, mut swap: i64) -> Result<(), Error> {
    if limit == -1 && swap == 0 && fsutil::exists(dir, SWAP_LIMIT) {
        swap = -1;
    }
    if limit != 0 && swap != 0 {
        let current = read_u64(dir, LIMIT)?;
        if swap == -1 || current < swap as u64 {
            set_swap(dir, swap)?;
            return set_limit(dir, limit);
        }
    }
    set_limit(dir, limit)?;
    set_swap(dir, swap)
}

pub(crate) fn set(dir: &Path, m: &LinuxMemory) -> Result<(), Error> {
    set_memory_and_swap(dir, m.limit().unwrap_or(0), m.swap().unwrap_or(0))?;
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        write(
            dir,
            "memory.soft_limit_in_bytes",
            &r.to_string(),
            "linux.resources.memory.reservation",
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(
            dir,
            "memory.oom_control",
            "1",
            "linux.resources.memory.disableOOMKiller",
        )?;
    }
    if let Some(s) = m.swappiness() {
        // -1 arrives as u64::MAX from some encoders and means "leave the kernel's".
        if s != u64::MAX {
            if s > 100 {
                return Err(Error::field(
                    "linux.resources.memory.swappiness",
                    format!("invalid memory swappiness value: {s} (valid range is 0-100)"),
                ));
            }
            write(
                dir,
                "memory.swappiness",
                &s.to_string(),
                "linux.resources.memory.swappiness",
            )?;
        }
    }
    if let Some(h) = m.use_hierarchy() {
        write(
            dir,
            "memory.use_hierarchy",
            if h { "1" } else { "0" },
            "linux.resources.memory.useHierarchy",
        )?;
    }
    Ok(())
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, Error> {
    let f = |name: &str| format!("{prefix}.{name}");
    if !fsutil::exists(dir, &f("limit_in_bytes")) {
        return Ok(MemoryEntry::default());
    }
    Ok(MemoryEntry {
        limit: read_u64(dir, &f("limit_in_bytes"))?,
        usage: read_u64_opt(dir, &f("usage_in_bytes"))?,
        max: read_u64_opt(dir, &f("max_usage_in_bytes"))?,
        failcnt: read_u64_opt(dir, &f("failcnt"))?,
    })
}

pub(crate) fn stats(dir: &Path, out: &mut Memory) -> Result<(), Error> {
    let raw = fsutil::read_keyed(dir, "memory.stat")?;
    out.cache = raw.get("cache").copied().unwrap_or(0);
    out.raw = raw;
    out.usage = entry(dir, "memory")?;
    out.swap = entry(dir, "memory.memsw")?;
    out.kernel = entry(dir, "memory.kmem")?;
    out.kernel_tcp = entry(dir, "memory.kmem.tcp")?;
    Ok(())
}

/// Whether the OOM killer has been at work here (memory.oom_control "oom_kill N").
pub(crate) fn oom_kills(dir: &Path) -> Result<u64, Error> {
    Ok(fsutil::read_keyed(dir, "memory.oom_control")?
        .get("oom_kill")
        .copied()
        .unwrap_or(0))
}
