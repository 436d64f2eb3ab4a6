//! v1 rdma controller (rdma.max, the same format as v2's).

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::fsutil::write;
use crate::resources::rdma_line;
use crate::Error;

pub(crate) fn set(dir: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<(), Error> {
    let mut devs: Vec<_> = rdma.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, r) in devs {
        write(
            dir,
            "rdma.max",
            &rdma_line(dev, r),
            &format!("linux.resources.rdma.{dev}"),
        )?;
    }
    Ok(())
}
