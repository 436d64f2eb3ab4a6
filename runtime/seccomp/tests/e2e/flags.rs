use libtest_mimic::{Completion, Failed};
use serde_json::json;

use crate::support::{check, equal, kernel_log_with, logged, probe, probe_with};

fn errno_profile(flags: &[&str]) -> serde_json::Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": flags,
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}]})
}

pub fn log() -> Result<Completion, Failed> {
    let logged_actions =
        std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged").unwrap_or_default();
    if !logged_actions.split_whitespace().any(|a| a == "errno") {
        return crate::skipped(format!(
            "errno is not in /proc/sys/kernel/seccomp/actions_logged ({})",
            logged_actions.trim()
        ));
    }
    let with = probe(
        &errno_profile(&["SECCOMP_FILTER_FLAG_LOG"]),
        &["syscall", "getppid"],
    )?;
    equal(with.errno()?, 33, "errno with the LOG flag")?;
    let without = probe(&errno_profile(&[]), &["syscall", "getppid"])?;
    equal(without.errno()?, 33, "errno without the LOG flag")?;
    // A LOG action after both runs: once its record is printed, any record of the
    // earlier runs is too (the audit records carry the action, SECCOMP_RET_ERRNO, without data).
    let barrier = probe(
        &json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_LOG"}]}),
        &["syscall", "getppid"],
    )?;
    let Some(log) = kernel_log_with(barrier.pid, "0x7ffc0000")? else {
        return crate::skipped("dmesg cannot be read here to look for the records");
    };
    check(logged(&log, with.pid, "0x50000"), || {
        format!("no record for pid {} with the LOG flag", with.pid)
    })?;
    check(!logged(&log, without.pid, "0x50000"), || {
        format!("a record for pid {} without the LOG flag", without.pid)
    })?;
    Ok(Completion::Completed)
}

pub fn tsync() -> Result<(), Failed> {
    let parent = i64::from(std::process::id());
    // The thread exists before the load; only TSYNC puts the filter on it.
    let synced = probe_with(
        &errno_profile(&["SECCOMP_FILTER_FLAG_TSYNC"]),
        &["--pre-thread"],
        &["syscall", "getppid"],
    )?;
    equal(synced.errno()?, 33, "pre-existing thread with TSYNC")?;
    let unsynced = probe_with(
        &errno_profile(&[]),
        &["--pre-thread"],
        &["syscall", "getppid"],
    )?;
    equal(
        unsynced.result()?,
        (parent, 0),
        "pre-existing thread without TSYNC",
    )
    .map(|_| ())
}

pub fn spec_allow() -> Result<Completion, Failed> {
    let status = ["status", "Speculation_Store_Bypass"];
    let allow = probe(&errno_profile(&["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]), &status)?;
    let default = probe(&errno_profile(&[]), &status)?;
    allow.ok()?;
    default.ok()?;
    let (allow, default) = (
        allow.stdout.trim().to_string(),
        default.stdout.trim().to_string(),
    );
    if allow == default {
        let host =
            std::fs::read_to_string("/sys/devices/system/cpu/vulnerabilities/spec_store_bypass")
                .unwrap_or_default();
        return crate::skipped(format!(
            "the kernel does not tie SSB mitigation to seccomp here (status \"{default}\" either way; host: {})",
            host.trim()
        ));
    }
    // Seccomp forces the mitigation on unless SPEC_ALLOW was given.
    check(default.contains("mitigated"), || {
        format!("without SPEC_ALLOW: {default}")
    })?;
    check(!allow.contains("force mitigated"), || {
        format!("with SPEC_ALLOW: {allow}")
    })?;
    Ok(Completion::Completed)
}
