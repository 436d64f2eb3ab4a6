//! v2 io controller: io.bfq.weight or io.weight, io.max throttling.

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::fsutil::{exists, read, write};
use crate::resources::{blkio_weight_to_io_weight, throttles};
use crate::stats::{Blkio, BlkioEntry};
use crate::Error;

pub(crate) fn set(dir: &Path, b: &LinuxBlockIo) -> Result<(), Error> {
    // BFQ takes the v1 weight scale as is; io.weight needs runc's conversion.
    let bfq = exists(dir, "io.bfq.weight");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            write(
                dir,
                "io.bfq.weight",
                &w.to_string(),
                "linux.resources.blockIO.weight",
            )?;
        } else {
            let v = blkio_weight_to_io_weight(w);
            write(
                dir,
                "io.weight",
                &v.to_string(),
                "linux.resources.blockIO.weight",
            )?;
        }
    }
    if b.leaf_weight().is_some_and(|w| w != 0) {
        tracing::warn!(
            "linux.resources.blockIO.leafWeight is ignored: cgroup v2 has no leaf weights"
        );
    }
    for (i, wd) in b.weight_device().iter().flatten().enumerate() {
        let Some(w) = wd.weight().filter(|w| *w != 0) else {
            continue;
        };
        if !bfq {
            tracing::warn!("linux.resources.blockIO.weightDevice[{i}] is ignored: only the BFQ scheduler has per-device weights on cgroup v2");
            continue;
        }
        write(
            dir,
            "io.bfq.weight",
            &format!("{}:{} {}", wd.major(), wd.minor(), w),
            &format!("linux.resources.blockIO.weightDevice[{i}]"),
        )?;
    }
    for (field, _, key, t) in throttles(b) {
        write(
            dir,
            "io.max",
            &format!("{}:{} {}={}", t.major(), t.minor(), key, t.rate()),
            &field,
        )?;
    }
    Ok(())
}

/// io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") in runc's v1-shaped entries.
pub(crate) fn stats(dir: &Path, out: &mut Blkio) -> Result<(), Error> {
    if !exists(dir, "io.stat") {
        return Ok(());
    }
    for line in read(dir, "io.stat")?.lines() {
        let mut it = line.split_whitespace();
        let Some((ma, mi)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse::<u64>(), mi.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value: u64 = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut out.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut out.io_service_bytes_recursive, "Write"),
                "rios" => (&mut out.io_serviced_recursive, "Read"),
                "wios" => (&mut out.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    Ok(())
}
