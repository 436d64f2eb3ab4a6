//! `linux.resources.unified`: raw cgroup2 key/value files.

use std::collections::HashMap;
use std::path::Path;

use crate::fsutil::{read, write};
use crate::Error;

fn field(k: &str) -> String {
    format!("linux.resources.unified.{k}")
}

pub(crate) fn validate(u: &HashMap<String, String>) -> Result<(), Error> {
    for k in u.keys() {
        if k.contains('/') || k.contains('\0') || k.is_empty() || k == "." || k == ".." {
            return Err(Error::field(
                field(k),
                format!("unified resource {k:?} must be a file name (no slashes)"),
            ));
        }
        if !k.contains('.') {
            return Err(Error::field(
                field(k),
                format!("unified resource {k:?} must be in the form CONTROLLER.PARAMETER"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn set(dir: &Path, u: &HashMap<String, String>) -> Result<(), Error> {
    validate(u)?;
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for k in keys {
        if let Err(e) = write(dir, k, &u[k], &field(k)) {
            if let Error::Write { source, .. } = &e {
                if matches!(
                    source.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::EPERM) | Some(libc::EACCES)
                ) {
                    // Say why: usually the controller is not enabled for this cgroup.
                    let ctrl = k.split('.').next().unwrap_or_default();
                    let available = read(dir, "cgroup.controllers").unwrap_or_default();
                    if ctrl != "cgroup" && !available.split_whitespace().any(|c| c == ctrl) {
                        return Err(Error::field(
                            field(k),
                            format!("unified resource {k:?} can't be set: controller {ctrl:?} not available"),
                        ));
                    }
                }
            }
            return Err(e);
        }
    }
    Ok(())
}
