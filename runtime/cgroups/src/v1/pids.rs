//! v1 pids controller (the same files as v2's).

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::fsutil::{read_u64, write};
use crate::stats::Pids;
use crate::Error;

/// 0 leaves the limit alone, a negative value is "max" (runc's semantics).
pub(crate) fn set(dir: &Path, p: &LinuxPids) -> Result<(), Error> {
    let limit = p.limit();
    if limit == 0 {
        return Ok(());
    }
    let v = if limit < 0 {
        "max".to_string()
    } else {
        limit.to_string()
    };
    write(dir, "pids.max", &v, "linux.resources.pids.limit")
}

pub(crate) fn stats(dir: &Path, out: &mut Pids) -> Result<(), Error> {
    out.current = read_u64(dir, "pids.current")?;
    let max = read_u64(dir, "pids.max")?;
    // runc reports "max" as 0 (no limit).
    out.limit = if max == u64::MAX { 0 } else { max };
    Ok(())
}
