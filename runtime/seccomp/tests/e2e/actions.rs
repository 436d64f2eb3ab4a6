use libtest_mimic::{Completion, Failed};
use serde_json::json;

use crate::support::{check, equal, kernel_log_with, probe, probe_with};

fn one_rule(action: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut rule = json!({"names": ["getppid"], "action": action});
    if let (Some(r), Some(e)) = (rule.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

pub fn errno_returns_errno_ret() -> Result<(), Failed> {
    let run = probe(
        &one_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 123})),
        &["syscall", "getppid"],
    )?;
    equal(run.errno()?, 123, "errno with errnoRet 123")?;
    let run = probe(
        &one_rule("SCMP_ACT_ERRNO", json!({})),
        &["syscall", "getppid"],
    )?;
    equal(
        run.errno()?,
        libc::EPERM,
        "errno without errnoRet (runc: EPERM)",
    )
}

pub fn default_errno_ret() -> Result<(), Failed> {
    // Deny by default; allow just what the probe needs to report and exit.
    let profile = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 77, "syscalls": [
        {"names": ["write", "exit", "exit_group", "rt_sigreturn", "futex", "munmap", "sigaltstack",
                   "brk", "mmap", "rt_sigprocmask", "close"], "action": "SCMP_ACT_ALLOW"}]});
    let run = probe(&profile, &["syscall", "getppid"])?;
    equal(run.errno()?, 77, "errno of a syscall left to the default")?;
    let run = probe(&profile, &["syscall", "getpid"])?;
    equal(
        run.errno()?,
        77,
        "errno of another syscall left to the default",
    )
    .map(|_| ())
}

pub fn allow_under_deny() -> Result<(), Failed> {
    let profile = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["write", "exit", "exit_group", "getppid"], "action": "SCMP_ACT_ALLOW"}]});
    let run = probe(&profile, &["syscall", "getppid"])?;
    equal(
        run.result()?,
        (i64::from(std::process::id()), 0),
        "allowed getppid",
    )?;
    let run = probe(&profile, &["syscall", "getpid"])?;
    equal(run.errno()?, libc::EPERM, "getpid under the EPERM default")
}

pub fn kill_process() -> Result<(), Failed> {
    // A handler for SIGSYS makes no difference: the kernel kills without delivering it.
    let run = probe_with(
        &one_rule("SCMP_ACT_KILL_PROCESS", json!({})),
        &["--catch-sigsys"],
        &["syscall", "getppid"],
    )?;
    equal(run.signal, Some(libc::SIGSYS), "signal of KILL_PROCESS")?;
    check(!run.stdout.contains("caught"), || run.stdout.clone())?;
    // From a second thread, the whole process goes.
    let run = probe(
        &one_rule("SCMP_ACT_KILL_PROCESS", json!({})),
        &["thread-syscall", "getppid"],
    )?;
    equal(
        run.signal,
        Some(libc::SIGSYS),
        "signal of KILL_PROCESS from a thread",
    )?;
    check(!run.stdout.contains("main alive"), || {
        format!("main thread survived KILL_PROCESS: {}", run.stdout)
    })
}

pub fn kill_thread() -> Result<(), Failed> {
    for action in ["SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL"] {
        let run = probe(&one_rule(action, json!({})), &["thread-syscall", "getppid"])?;
        run.ok()?;
        check(run.stdout.contains("thread gone\nmain alive"), || {
            format!(
                "{action}: expected the calling thread killed and main alive: {}",
                run.stdout
            )
        })?;
        // In a single-threaded process the thread is the process.
        let run = probe(&one_rule(action, json!({})), &["syscall", "getppid"])?;
        equal(
            run.signal,
            Some(libc::SIGSYS),
            &format!("{action} in the only thread"),
        )?;
    }
    Ok(())
}

pub fn trap() -> Result<(), Failed> {
    let run = probe(
        &one_rule("SCMP_ACT_TRAP", json!({})),
        &["syscall", "getppid"],
    )?;
    equal(
        run.signal,
        Some(libc::SIGSYS),
        "TRAP with SIGSYS's default disposition",
    )?;
    let run = probe_with(
        &one_rule("SCMP_ACT_TRAP", json!({})),
        &["--catch-sigsys"],
        &["syscall", "getppid"],
    )?;
    equal(run.code, Some(42), "TRAP caught by a SIGSYS handler")?;
    check(run.stdout.contains("caught SIGSYS"), || run.stdout.clone())
}

pub fn trace_without_tracer() -> Result<(), Failed> {
    let run = probe(
        &one_rule("SCMP_ACT_TRACE", json!({"errnoRet": 5})),
        &["syscall", "getppid"],
    )?;
    equal(run.errno()?, libc::ENOSYS, "TRACE with no tracer attached")
}

pub fn trace_value() -> Result<(), Failed> {
    crate::support::traced_trace_value(&one_rule("SCMP_ACT_TRACE", json!({"errnoRet": 5})), 5)
}

pub fn log() -> Result<Completion, Failed> {
    let run = probe(
        &one_rule("SCMP_ACT_LOG", json!({})),
        &["syscall", "getppid"],
    )?;
    equal(
        run.result()?,
        (i64::from(std::process::id()), 0),
        "getppid under LOG",
    )?;
    if kernel_log_with(run.pid, "0x7ffc0000")?.is_none() {
        return crate::skipped(
            "the call went through, but dmesg cannot be read here to see the record",
        );
    }
    Ok(Completion::Completed)
}
