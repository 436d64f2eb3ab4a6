use libtest_mimic::Failed;
use serde_json::Value;

use crate::support::{equal, probe, probe_with};

const CAP_SYS_ADMIN: &str = "21";

/// The podman profile converted for docker's default capability set on this arch.
fn default_profile() -> Result<Value, Failed> {
    let caps: Vec<String> = sangja_seccomp::docker_profile::DOCKER_DEFAULT_CAPABILITIES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let json = std::fs::read("/usr/share/containers/seccomp.json").map_err(|e| {
        format!("/usr/share/containers/seccomp.json (apt golang-github-containers-common): {e}")
    })?;
    let oci = sangja_seccomp::docker_profile::convert(
        &json,
        &caps,
        sangja_seccomp::docker_profile::native_arch(),
    )
    .map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(oci).unwrap())
}

pub fn runs_programs() -> Result<(), Failed> {
    let profile = default_profile()?;
    probe(&profile, &["exec", "/bin/true"])?.ok()?;
    let ls = probe(&profile, &["exec", "/bin/ls", "-l", "/"])?;
    ls.ok()?;
    if ls.stdout.contains("usr") {
        Ok(())
    } else {
        Err(ls.describe("ls / did not list usr"))
    }
}

pub fn denies() -> Result<(), Failed> {
    let profile = default_profile()?;
    // The probe runs as root with every capability: EPERM here comes from the filter.
    equal(
        probe(&profile, &["syscall", "sethostname", "0", "0"])?.errno()?,
        libc::EPERM,
        "sethostname",
    )?;
    equal(
        probe(&profile, &["syscall", "kexec_load"])?.errno()?,
        libc::EPERM,
        "kexec_load",
    )?;
    // add_key is not in the profile at all: the default action's ENOSYS.
    equal(
        probe(&profile, &["syscall", "add_key"])?.errno()?,
        libc::ENOSYS,
        "add_key",
    )
}

pub fn unshare() -> Result<(), Failed> {
    let profile = default_profile()?;
    let newns = (libc::CLONE_NEWNS as u64).to_string();
    // This profile (containers-common 0.50) lets unshare through seccomp ...
    let root = probe(&profile, &["syscall", "unshare", &newns])?;
    equal(
        root.result()?,
        (0, 0),
        "unshare(CLONE_NEWNS) with CAP_SYS_ADMIN",
    )?;
    // ... and a container without CAP_SYS_ADMIN (dropped after the load, as runc does
    // without no_new_privs) is refused by the kernel.
    let run = probe_with(
        &profile,
        &["--drop-cap", CAP_SYS_ADMIN],
        &["syscall", "unshare", &newns],
    )?;
    equal(
        run.errno()?,
        libc::EPERM,
        "unshare(CLONE_NEWNS) without CAP_SYS_ADMIN",
    )
}
