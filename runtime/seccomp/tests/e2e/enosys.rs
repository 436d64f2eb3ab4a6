use libtest_mimic::{Completion, Failed};
use serde_json::json;

use crate::support::{equal, probe, unfiltered};

/// Kill by default; allow only what the probe needs to report. The largest syscall
/// named is exit_group (231 on x86_64, 252 on i386).
fn killing_profile(architectures: &[&str]) -> serde_json::Value {
    json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "architectures": architectures, "syscalls": [
        {"names": ["write", "exit", "exit_group", "rt_sigreturn", "sigaltstack", "munmap", "futex", "close"],
         "action": "SCMP_ACT_ALLOW"}]})
}

pub fn newer_syscalls_get_enosys() -> Result<Completion, Failed> {
    if !cfg!(target_arch = "x86_64") {
        return crate::skipped("the syscall numbers in this test are x86_64's");
    }
    let profile = killing_profile(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    // getcpu (309) is above every syscall the profile names: ENOSYS, as under runc.
    equal(
        probe(&profile, &["syscall", "getcpu"])?.errno()?,
        libc::ENOSYS,
        "getcpu",
    )?;
    equal(
        probe(&profile, &["syscall", "pidfd_open"])?.errno()?,
        libc::ENOSYS,
        "pidfd_open",
    )?;
    // gettid (186) is below: the default action applies.
    equal(
        probe(&profile, &["syscall", "gettid"])?.signal,
        Some(libc::SIGSYS),
        "gettid",
    )?;
    // runc adds no prelude when the profile lists no architectures.
    let bare = killing_profile(&[]);
    equal(
        probe(&bare, &["syscall", "getcpu"])?.signal,
        Some(libc::SIGSYS),
        "getcpu without architectures",
    )?;

    let parent = i64::from(std::process::id());
    let base = unfiltered(&["i386", "getppid"])?;
    if base.code != Some(0) || base.result().ok() != Some((parent, 0)) {
        return crate::skipped(
            "x86_64 checked; this kernel does not run 32-bit syscalls to check i386's limit",
        );
    }
    // i386: getcpu is 318, above exit_group's 252; gettid (224) is below.
    equal(
        probe(&profile, &["i386", "getcpu"])?.errno()?,
        libc::ENOSYS,
        "i386 getcpu",
    )?;
    equal(
        probe(&profile, &["i386", "gettid"])?.signal,
        Some(libc::SIGSYS),
        "i386 gettid",
    )?;
    Ok(Completion::Completed)
}

pub fn permissive_defaults_have_no_prelude() -> Result<(), Failed> {
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}]});
    // getcpu is above getppid, yet allowed: no ENOSYS prelude under ALLOW.
    equal(
        probe(&profile, &["syscall", "getcpu"])?.result()?.1,
        0,
        "getcpu under ALLOW",
    )
}
