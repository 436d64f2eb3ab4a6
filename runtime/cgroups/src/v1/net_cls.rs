//! v1 net_cls controller: the class id tagged on the container's packets.

use std::path::Path;

use oci_spec::runtime::LinuxNetwork;

use crate::fsutil::write;
use crate::Error;

pub(crate) fn set(dir: &Path, n: &LinuxNetwork) -> Result<(), Error> {
    match n.class_id() {
        Some(id) if id != 0 => write(
            dir,
            "net_cls.classid",
            &id.to_string(),
            "linux.resources.network.classID",
        ),
        _ => Ok(()),
    }
}
