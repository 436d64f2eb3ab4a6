//! v2 hugetlb controller: hugetlb.<size>.max (and .rsvd.max).

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::fsutil::{exists, read_keyed, read_u64_opt, write};
use crate::stats::Hugetlb;
use crate::v1::hugetlb::page_sizes;
use crate::Error;

pub(crate) fn set(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), Error> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let v = l.limit().to_string();
        write(dir, &format!("hugetlb.{}.max", l.page_size()), &v, &field)?;
        let rsvd = format!("hugetlb.{}.rsvd.max", l.page_size());
        if exists(dir, &rsvd) {
            write(dir, &rsvd, &v, &field)?;
        }
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut BTreeMap<String, Hugetlb>) -> Result<(), Error> {
    for ps in page_sizes(dir, ".max") {
        let events = format!("hugetlb.{ps}.events");
        let failcnt = if exists(dir, &events) {
            read_keyed(dir, &events)?.get("max").copied().unwrap_or(0)
        } else {
            0
        };
        out.insert(
            ps.clone(),
            Hugetlb {
                usage: read_u64_opt(dir, &format!("hugetlb.{ps}.current"))?,
                max: 0,
                failcnt,
            },
        );
    }
    Ok(())
}
