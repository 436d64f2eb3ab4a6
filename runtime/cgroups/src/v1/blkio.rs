//! v1 blkio controller: weights (CFQ's blkio.weight or BFQ's blkio.bfq.weight) and
//! throttling.

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::fsutil::write;
use crate::fsutil::{exists, read};
use crate::resources::throttles;
use crate::stats::{Blkio, BlkioEntry};
use crate::Error;

/// Which weight files this kernel has: CFQ's, else BFQ's (as runc detects them).
fn weight_files(dir: &Path) -> (&'static str, &'static str) {
    if exists(dir, "blkio.weight") {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    }
}

pub(crate) fn set(dir: &Path, b: &LinuxBlockIo) -> Result<(), Error> {
    let (weight, weight_device) = weight_files(dir);
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write(
            dir,
            weight,
            &w.to_string(),
            "linux.resources.blockIO.weight",
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            "linux.resources.blockIO.leafWeight",
        )?;
    }
    for (i, wd) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("linux.resources.blockIO.weightDevice[{i}]");
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            write(
                dir,
                weight_device,
                &format!("{}:{} {}", wd.major(), wd.minor(), w),
                &field,
            )?;
        }
        if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
            write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {}", wd.major(), wd.minor(), w),
                &field,
            )?;
        }
    }
    for (field, file, _, t) in throttles(b) {
        write(
            dir,
            file,
            &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            &field,
        )?;
    }
    Ok(())
}

/// Parses "8:0 Read 4096" lines; the "Total" line has no device and is skipped.
fn entries(dir: &Path, file: &str) -> Result<Vec<BlkioEntry>, Error> {
    if !exists(dir, file) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for line in read(dir, file)?.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some((ma, mi)) = f.first().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        let (op, value) = match f.len() {
            3 => (f[1].to_string(), f[2].parse().unwrap_or(0)),
            2 => (String::new(), f[1].parse().unwrap_or(0)),
            _ => continue,
        };
        out.push(BlkioEntry {
            major,
            minor,
            op,
            value,
        });
    }
    Ok(out)
}

/// runc reads the BFQ files, else CFQ's, else the throttle ones (always present).
pub(crate) fn stats(dir: &Path, out: &mut Blkio) -> Result<(), Error> {
    let prefix = if exists(dir, "blkio.bfq.io_service_bytes_recursive") {
        "blkio.bfq."
    } else if exists(dir, "blkio.io_service_bytes_recursive") {
        "blkio."
    } else {
        "blkio.throttle."
    };
    out.io_service_bytes_recursive = entries(dir, &format!("{prefix}io_service_bytes_recursive"))?;
    out.io_serviced_recursive = entries(dir, &format!("{prefix}io_serviced_recursive"))?;
    if prefix == "blkio." {
        out.io_queued_recursive = entries(dir, "blkio.io_queued_recursive")?;
        out.io_service_time_recursive = entries(dir, "blkio.io_service_time_recursive")?;
        out.io_wait_time_recursive = entries(dir, "blkio.io_wait_time_recursive")?;
        out.io_merged_recursive = entries(dir, "blkio.io_merged_recursive")?;
        out.io_time_recursive = entries(dir, "blkio.time_recursive")?;
        out.sectors_recursive = entries(dir, "blkio.sectors_recursive")?;
    }
    Ok(())
}
