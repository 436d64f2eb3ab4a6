//! v1 cpu controller: shares, CFS quota/period/burst, idle, realtime budget.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::fsutil::{read_keyed, read_u64, write};
use crate::stats::Throttling;
use crate::Error;

/// The realtime budget must be in place before a realtime process joins, so runc
/// writes it at apply time as well as in set.
pub(crate) fn set_rt(dir: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        write(
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
            "linux.resources.cpu.realtimePeriod",
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        write(
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
            "linux.resources.cpu.realtimeRuntime",
        )?;
    }
    Ok(())
}

pub(crate) fn set(dir: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        let f = "linux.resources.cpu.shares";
        write(dir, "cpu.shares", &shares.to_string(), f)?;
        // The kernel clamps silently; runc reads back and reports the bound.
        let got = read_u64(dir, "cpu.shares")?;
        if shares > got {
            return Err(Error::field(
                f,
                format!("the maximum allowed cpu-shares is {got}"),
            ));
        } else if shares < got {
            return Err(Error::field(
                f,
                format!("the minimum allowed cpu-shares is {got}"),
            ));
        }
    }
    let quota = c.quota().unwrap_or(0);
    let mut retry_period = None;
    if let Some(p) = c.period().filter(|p| *p != 0) {
        match write(
            dir,
            "cpu.cfs_period_us",
            &p.to_string(),
            "linux.resources.cpu.period",
        ) {
            Ok(()) => {}
            // A shorter period can push old_quota/new_period over the parent's quota;
            // with a new quota coming, retry after writing it (as runc does).
            Err(Error::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota != 0 =>
            {
                retry_period = Some(p)
            }
            Err(e) => return Err(e),
        }
    }
    if quota != 0 {
        write(
            dir,
            "cpu.cfs_quota_us",
            &quota.to_string(),
            "linux.resources.cpu.quota",
        )?;
        if let Some(p) = retry_period {
            write(
                dir,
                "cpu.cfs_period_us",
                &p.to_string(),
                "linux.resources.cpu.period",
            )?;
        }
    }
    if let Some(b) = c.burst() {
        write(
            dir,
            "cpu.cfs_burst_us",
            &b.to_string(),
            "linux.resources.cpu.burst",
        )?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
    }
    set_rt(dir, c)
}

pub(crate) fn stats(dir: &Path, out: &mut Throttling) -> Result<(), Error> {
    let s = read_keyed(dir, "cpu.stat")?;
    out.periods = s.get("nr_periods").copied().unwrap_or(0);
    out.throttled_periods = s.get("nr_throttled").copied().unwrap_or(0);
    out.throttled_time = s.get("throttled_time").copied().unwrap_or(0);
    Ok(())
}
