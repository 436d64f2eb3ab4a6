//! v1 hugetlb controller.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::fsutil::{exists, read_u64_opt, write};
use crate::stats::Hugetlb;
use crate::Error;

pub(crate) fn set(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), Error> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let v = l.limit().to_string();
        write(
            dir,
            &format!("hugetlb.{}.limit_in_bytes", l.page_size()),
            &v,
            &field,
        )?;
        // Reservations count too where the kernel has them (runc 1.1 writes both).
        let rsvd = format!("hugetlb.{}.rsvd.limit_in_bytes", l.page_size());
        if exists(dir, &rsvd) {
            write(dir, &rsvd, &v, &field)?;
        }
    }
    Ok(())
}

/// Page sizes this cgroup offers, from its file names ("hugetlb.2MB.limit_in_bytes").
pub(crate) fn page_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(ps) = name
                .strip_prefix("hugetlb.")
                .and_then(|r| r.strip_suffix(suffix))
            {
                if !ps.contains('.') {
                    out.push(ps.to_string());
                }
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn stats(dir: &Path, out: &mut BTreeMap<String, Hugetlb>) -> Result<(), Error> {
    for ps in page_sizes(dir, ".limit_in_bytes") {
        let f = |n: &str| format!("hugetlb.{ps}.{n}");
        out.insert(
            ps.clone(),
            Hugetlb {
                usage: read_u64_opt(dir, &f("usage_in_bytes"))?,
                max: read_u64_opt(dir, &f("max_usage_in_bytes"))?,
                failcnt: read_u64_opt(dir, &f("failcnt"))?,
            },
        );
    }
    Ok(())
}
