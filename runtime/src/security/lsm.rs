//! LSM labels: `process.apparmorProfile` and `process.selinuxLabel` (and `--apparmor`,
//! `--process-label` on exec). Applied on exec when the LSM is enabled; refused with
//! runc's messages when it is not (this project's kernels have neither).

use std::path::Path;

use oci_spec::runtime::Process;

use super::{field_err, SecurityError};

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
        && Path::new("/sys/kernel/security/apparmor").exists()
}

pub fn selinux_enabled() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|s| s.lines().any(|l| l.ends_with("\tselinuxfs")))
        && Path::new("/sys/fs/selinux/enforce").exists()
}

/// Runtime-side check before anything starts.
pub fn check(process: &Process) -> Result<(), SecurityError> {
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
        && !selinux_enabled()
    {
        return Err(field_err(
            "process.selinuxLabel",
            "selinux label is specified in config, but selinux is disabled or not supported",
        ));
    }
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        return Err(field_err(
            "process.apparmorProfile",
            "apparmor failed to apply profile: AppArmor is not enabled on this host",
        ));
    }
    Ok(())
}

/// In the container init, right before exec: label the next exec.
pub fn apply_on_exec(process: &Process) -> Result<(), SecurityError> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        std::fs::write(attr, format!("exec {profile}")).map_err(|e| {
            field_err(
                "process.apparmorProfile",
                format!("apparmor failed to apply profile: write {attr}: {e}"),
            )
        })?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        std::fs::write("/proc/self/attr/exec", label).map_err(|e| {
            field_err(
                "process.selinuxLabel",
                format!("setting the exec label: {e}"),
            )
        })?;
    }
    Ok(())
}
