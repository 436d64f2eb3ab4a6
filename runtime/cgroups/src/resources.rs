//! Checks and conversions shared by the v1 and v2 writers (runc's specconv/validate).

use oci_spec::runtime::{LinuxBlockIo, LinuxResources, LinuxThrottleDevice};

use crate::Error;

/// runc ignores kernel memory limits with this warning (the kernel dropped them).
pub(crate) fn warn_kernel_memory(r: &LinuxResources) {
    if let Some(m) = r.memory() {
        if m.kernel().is_some() || m.kernel_tcp().is_some() {
            tracing::warn!("Kernel memory settings are ignored and will be removed");
        }
    }
}

/// runc's ConvertCPUSharesToCgroupV2Value: shares [2, 262144] onto weight [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.saturating_sub(2)) * 9999) / 262142
}

/// runc's ConvertBlkIOToIOWeightValue: blkio weight [10, 1000] onto io.weight [1, 10000].
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// runc's ConvertMemorySwapToCgroupV2Value: v1's memory+swap total onto v2's swap-only max.
pub fn swap_to_v2(memory_swap: i64, memory: i64) -> Result<i64, Error> {
    let f = "linux.resources.memory.swap";
    if memory == -1 && memory_swap == 0 {
        return Ok(-1);
    }
    if memory_swap == -1 || memory_swap == 0 {
        return Ok(memory_swap);
    }
    if memory == 0 || memory == -1 {
        return Err(Error::field(
            f,
            "unable to set swap limit without memory limit",
        ));
    }
    if memory < 0 {
        return Err(Error::field(
            "linux.resources.memory.limit",
            format!("invalid memory value: {memory}"),
        ));
    }
    if memory_swap < memory {
        return Err(Error::field(
            f,
            "memory+swap limit should be >= memory limit",
        ));
    }
    Ok(memory_swap - memory)
}

/// The value v2 files take: -1 is "max", 0 means "leave alone" (None).
pub(crate) fn v2_num(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// The four throttle lists with their spec field name, v1 file and v2 io.max key,
/// each entry with the spec path that names it in errors.
pub(crate) fn throttles(
    b: &LinuxBlockIo,
) -> Vec<(String, &'static str, &'static str, &LinuxThrottleDevice)> {
    let lists = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    let mut out = Vec::new();
    for (field, file, key, list) in lists {
        for (i, t) in list.iter().flatten().enumerate() {
            out.push((
                format!("linux.resources.blockIO.{field}[{i}]"),
                file,
                key,
                t,
            ));
        }
    }
    out
}

/// The text written to rdma.max (same on v1 and v2).
pub(crate) fn rdma_line(device: &str, r: &oci_spec::runtime::LinuxRdma) -> String {
    let mut s = device.to_string();
    if let Some(h) = r.hca_handles() {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = r.hca_objects() {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

pub(crate) fn has_memory(r: &LinuxResources) -> bool {
    r.memory().as_ref().is_some_and(|m| {
        m.limit().is_some_and(|v| v != 0)
            || m.reservation().is_some_and(|v| v != 0)
            || m.swap().is_some_and(|v| v != 0)
            || m.swappiness().is_some()
            || m.disable_oom_killer() == Some(true)
            || m.use_hierarchy().is_some()
    })
}

pub(crate) fn has_cpu(r: &LinuxResources) -> bool {
    r.cpu().as_ref().is_some_and(|c| {
        c.shares().is_some_and(|v| v != 0)
            || c.quota().is_some_and(|v| v != 0)
            || c.period().is_some_and(|v| v != 0)
            || c.burst().is_some()
            || c.idle().is_some()
            || c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0)
    })
}

pub(crate) fn has_cpuset(r: &LinuxResources) -> bool {
    r.cpu().as_ref().is_some_and(|c| {
        c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
    })
}

pub(crate) fn has_pids(r: &LinuxResources) -> bool {
    r.pids().as_ref().is_some_and(|p| p.limit() != 0)
}

pub(crate) fn has_blkio(r: &LinuxResources) -> bool {
    r.block_io().as_ref().is_some_and(|b| {
        b.weight().is_some_and(|v| v != 0)
            || b.leaf_weight().is_some_and(|v| v != 0)
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || b.throttle_read_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_read_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
    })
}

pub(crate) fn has_hugetlb(r: &LinuxResources) -> bool {
    r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty())
}

pub(crate) fn has_net_cls(r: &LinuxResources) -> bool {
    r.network()
        .as_ref()
        .is_some_and(|n| n.class_id().is_some_and(|c| c != 0))
}

pub(crate) fn has_net_prio(r: &LinuxResources) -> bool {
    r.network()
        .as_ref()
        .is_some_and(|n| n.priorities().as_ref().is_some_and(|p| !p.is_empty()))
}

pub(crate) fn has_rdma(r: &LinuxResources) -> bool {
    r.rdma().as_ref().is_some_and(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20); // runc stored cpu_weight 20 for shares 512
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_to_v2(300, 100).unwrap(), 200);
        assert_eq!(swap_to_v2(100, 100).unwrap(), 0);
        assert!(swap_to_v2(50, 100)
            .unwrap_err()
            .to_string()
            .contains(">= memory limit"));
        assert!(swap_to_v2(50, 0)
            .unwrap_err()
            .to_string()
            .contains("without memory limit"));
        assert_eq!(v2_num(-1).as_deref(), Some("max"));
        assert_eq!(v2_num(0), None);
    }
}
