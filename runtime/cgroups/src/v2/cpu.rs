//! v2 cpu controller: cpu.weight (from shares), cpu.max, cpu.max.burst, cpu.idle.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::fsutil::{exists, read, read_keyed, write};
use crate::resources::shares_to_weight;
use crate::stats::Cpu;
use crate::Error;

pub(crate) fn validate(c: &LinuxCpu) -> Result<(), Error> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::field(
            "linux.resources.cpu.realtimeRuntime",
            "realtime scheduling limits are not supported on cgroup v2",
        ));
    }
    Ok(())
}

pub(crate) fn set(dir: &Path, c: &LinuxCpu) -> Result<(), Error> {
    validate(c)?;
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        let w = shares_to_weight(s);
        write(
            dir,
            "cpu.weight",
            &w.to_string(),
            "linux.resources.cpu.shares",
        )?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let q = if quota > 0 {
            quota.to_string()
        } else if quota < 0 {
            "max".to_string()
        } else {
            // Only the period changes: keep the quota in force (runc 1.1.5 would reset
            // it to "max" here; its `update` works around that from saved state).
            read(dir, "cpu.max")?
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string()
        };
        let v = if period != 0 {
            format!("{q} {period}")
        } else {
            q
        };
        write(dir, "cpu.max", &v, "linux.resources.cpu.quota")?;
    }
    if let Some(b) = c.burst() {
        write(
            dir,
            "cpu.max.burst",
            &b.to_string(),
            "linux.resources.cpu.burst",
        )?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
    }
    Ok(())
}

/// cpu.stat is there even without the cpu controller (core accounting).
pub(crate) fn stats(dir: &Path, out: &mut Cpu) -> Result<(), Error> {
    if !exists(dir, "cpu.stat") {
        return Ok(());
    }
    let s = read_keyed(dir, "cpu.stat")?;
    let g = |k: &str| s.get(k).copied().unwrap_or(0);
    out.usage.total = g("usage_usec") * 1000;
    out.usage.user = g("user_usec") * 1000;
    out.usage.kernel = g("system_usec") * 1000;
    out.throttling.periods = g("nr_periods");
    out.throttling.throttled_periods = g("nr_throttled");
    out.throttling.throttled_time = g("throttled_usec") * 1000;
    Ok(())
}
