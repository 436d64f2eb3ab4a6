//! v1 cpuacct controller: accounting only (runc's CPU usage stats).

use std::path::Path;

use crate::fsutil::{read, read_keyed, read_u64};
use crate::stats::CpuUsage;
use crate::Error;

/// cpuacct.stat counts in USER_HZ ticks; runc converts them to nanoseconds.
const NANOS_PER_TICK: u64 = 1_000_000_000 / 100;

fn numbers(dir: &Path, file: &str) -> Result<Vec<u64>, Error> {
    let s = read(dir, file)?;
    s.split_whitespace()
        .map(|v| {
            v.parse().map_err(|_| Error::Parse {
                path: dir.join(file),
                content: s.clone(),
                reason: "not a number list".into(),
            })
        })
        .collect()
}

pub(crate) fn stats(dir: &Path, out: &mut CpuUsage) -> Result<(), Error> {
    out.total = read_u64(dir, "cpuacct.usage")?;
    out.percpu = numbers(dir, "cpuacct.usage_percpu")?;
    // usage_all: a header line, then "cpu user system" per CPU.
    if let Ok(all) = read(dir, "cpuacct.usage_all") {
        let (mut k, mut u) = (Vec::new(), Vec::new());
        for line in all.lines().skip(1) {
            let f: Vec<u64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if f.len() == 3 {
                u.push(f[1]);
                k.push(f[2]);
            }
        }
        out.percpu_kernel = k;
        out.percpu_user = u;
    }
    let st = read_keyed(dir, "cpuacct.stat")?;
    out.user = st.get("user").copied().unwrap_or(0) * NANOS_PER_TICK;
    out.kernel = st.get("system").copied().unwrap_or(0) * NANOS_PER_TICK;
    Ok(())
}
