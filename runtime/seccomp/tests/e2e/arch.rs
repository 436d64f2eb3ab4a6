use libtest_mimic::{Completion, Failed};
use serde_json::json;

use crate::support::{equal, probe, unfiltered};

pub fn x86() -> Result<Completion, Failed> {
    if !cfg!(target_arch = "x86_64") {
        return crate::skipped("32-bit x86 syscalls are only probed from x86_64");
    }
    let parent = i64::from(std::process::id());
    let base = unfiltered(&["i386", "getppid"])?;
    if base.code != Some(0) || base.result().ok() != Some((parent, 0)) {
        return crate::skipped("this kernel does not run 32-bit syscalls (ia32 emulation off)");
    }
    let rule = json!([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}]);
    let with_x86 = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": rule});
    // getppid is 64 on i386, 110 on x86_64: libseccomp must have mapped the name per arch.
    equal(
        probe(&with_x86, &["i386", "getppid"])?.errno()?,
        33,
        "i386 getppid with x86 listed",
    )?;
    equal(
        probe(&with_x86, &["syscall", "getppid"])?.errno()?,
        33,
        "native getppid with x86 listed",
    )?;
    equal(
        probe(&with_x86, &["i386", "getpid"])?.result()?.1,
        0,
        "i386 getpid is still allowed",
    )?;
    // An arch the filter does not list hits libseccomp's bad-arch action: kill.
    let native_only = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rule});
    equal(
        probe(&native_only, &["i386", "getpid"])?.signal,
        Some(libc::SIGSYS),
        "i386 call without x86 listed",
    )?;
    Ok(Completion::Completed)
}
