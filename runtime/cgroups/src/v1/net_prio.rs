//! v1 net_prio controller: per-interface priorities.

use std::path::Path;

use oci_spec::runtime::LinuxNetwork;

use crate::fsutil::write;
use crate::Error;

pub(crate) fn set(dir: &Path, n: &LinuxNetwork) -> Result<(), Error> {
    for (i, p) in n.priorities().iter().flatten().enumerate() {
        write(
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
            &format!("linux.resources.network.priorities[{i}]"),
        )?;
    }
    Ok(())
}
