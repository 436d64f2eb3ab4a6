use libtest_mimic::Failed;
use serde_json::json;

use crate::support::{check, equal, probe_with};

const CAP_SYS_ADMIN: &str = "21";

fn profile() -> serde_json::Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}]})
}

/// The filter never sets no_new_privs itself: loading needs it or CAP_SYS_ADMIN, which
/// is why the runtime loads before dropping capabilities when noNewPrivileges is false.
pub fn load_needs_nnp_or_cap_sys_admin() -> Result<(), Failed> {
    let refused = probe_with(
        &profile(),
        &["--drop-cap-first", CAP_SYS_ADMIN],
        &["syscall", "getppid"],
    )?;
    equal(
        refused.code,
        Some(100),
        "probe exit without CAP_SYS_ADMIN or no_new_privs",
    )?;
    check(
        refused
            .stderr
            .contains("loading the seccomp filter into the kernel")
            && refused.stderr.contains("no_new_privs"),
        || format!("unexpected error: {}", refused.stderr),
    )?;
    let nnp = probe_with(
        &profile(),
        &["--drop-cap-first", CAP_SYS_ADMIN, "--nnp"],
        &["syscall", "getppid"],
    )?;
    equal(
        nnp.errno()?,
        33,
        "filter loaded with no_new_privs and no CAP_SYS_ADMIN",
    )?;
    // And with CAP_SYS_ADMIN, no_new_privs stays unset after the load.
    let status = probe_with(&profile(), &[], &["status", "NoNewPrivs"])?;
    equal(
        status.stdout.trim(),
        "0",
        "NoNewPrivs after loading with CAP_SYS_ADMIN",
    )
}
