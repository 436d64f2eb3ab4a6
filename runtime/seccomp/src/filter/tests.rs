//! Compiling without loading: what the filter holds is read back from libseccomp's PFC text.

use super::*;
use serde_json::{json, Value};

fn build(v: Value) -> Result<Filter, FilterError> {
    crate::compile_json(&v)
}

fn pfc(v: Value) -> String {
    build(v).unwrap().export_pfc().unwrap()
}

#[test]
fn rules_and_default_action_appear_in_the_filter() {
    let text = pfc(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mkdir"], "action": "SCMP_ACT_TRAP"},
        {"names": ["rmdir"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["chdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 9},
        {"names": ["umask"], "action": "SCMP_ACT_LOG"}]}),
    );
    assert!(text.contains("# filter for syscall \"getppid\""), "{text}");
    assert!(text.contains("action TRAP;"), "{text}");
    assert!(text.contains("action KILL_PROCESS;"), "{text}");
    assert!(text.contains("action TRACE(9);"), "{text}");
    assert!(text.contains("action LOG;"), "{text}");
    assert!(
        text.contains("# default action\n  action ERRNO(38);"),
        "{text}"
    );
}

#[test]
fn a_rule_repeating_the_default_action_is_skipped() {
    let text = pfc(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]}));
    // ERRNO without errnoRet is EPERM on both sides: the same action, skipped.
    assert!(!text.contains("\"getppid\""), "{text}");
    // ERRNO(5) differs from the default ERRNO(1): kept.
    assert!(text.contains("\"getpid\""), "{text}");
    assert!(text.contains("action ERRNO(5);"), "{text}");
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["no_such_syscall_at_all", "getppid"], "action": "SCMP_ACT_ERRNO"}]}))
    .unwrap();
    let text = f.export_pfc().unwrap();
    assert!(text.contains("\"getppid\""), "{text}");
    assert!(!text.contains("no_such_syscall"), "{text}");
}

#[test]
fn arg_rules_follow_runc() {
    // Distinct indexes: one rule, both conditions nested (ANDed).
    let and = pfc(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 240, "valueTwo": 48, "op": "SCMP_CMP_MASKED_EQ"}]}]}));
    assert!(and.contains("if ($a1.lo32 & 0x000000f0 == 48)"), "{and}");
    // A repeated index: one rule per condition (ORed); the x86_64 section holds both tests side by side.
    let or = pfc(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}));
    assert!(or.contains("if ($a0.lo32 == 1)"), "{or}");
    assert!(or.contains("if ($a0.lo32 == 2)"), "{or}");
}

#[test]
fn every_operator_compiles() {
    for op in [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ] {
        build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 7, "valueTwo": 3, "op": op}]}]}))
        .unwrap_or_else(|e| panic!("{op}: {e}"));
    }
}

#[test]
fn architectures_are_added() {
    let text = pfc(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}));
    assert!(text.contains("# filter for arch x86_64 "), "{text}");
    assert!(text.contains("# filter for arch x86 "), "{text}");
    assert!(text.contains("# filter for arch x32 "), "{text}");
}

#[test]
fn an_architecture_libseccomp_cannot_add_names_the_field() {
    // One filter holds one byte order: s390x (big endian) cannot join x86_64.
    let err = build(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_S390X"]}))
    .unwrap_err();
    assert_eq!(err.field(), Some("linux.seccomp.architectures[1]"), "{err}");
    assert!(err.to_string().contains("SCMP_ARCH_S390X"), "{err}");
}

#[test]
fn flags_are_accepted() {
    build(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [
        "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]}))
    .unwrap();
}

#[test]
fn notify_rules_follow_runc() {
    let err = build(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as the default action"
    );
    let err = build(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_LOG"},
        {"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "linux.seccomp.syscalls[1].names[1]: SCMP_ACT_NOTIFY cannot be used for the write syscall"
    );
    let err = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}))
    .unwrap_err();
    assert_eq!(err.field(), Some("linux.seccomp.listenerPath"), "{err}");

    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}))
    .unwrap();
    assert!(f.needs_listener());
    assert_eq!(
        f.listener_path(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    assert_eq!(f.listener_metadata(), "meta");
    // libseccomp 2.5 prints the notify action as its raw value.
    let text = f.export_pfc().unwrap();
    assert!(
        text.contains("action 0x7fc00000;") || text.contains("action NOTIFY;"),
        "{text}"
    );
    let plain = build(json!({"defaultAction": "SCMP_ACT_ALLOW"})).unwrap();
    assert!(!plain.needs_listener());
}

#[test]
fn bad_values_name_the_field() {
    let err = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 65536}]}))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "linux.seccomp.syscalls[0].errnoRet: 65536 is out of range (0-65535)"
    );
    let err = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid", ""], "action": "SCMP_ACT_ERRNO"}]}))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "linux.seccomp.syscalls[0].names[1]: empty syscall name"
    );
    // runc accepts an entry naming no syscall and adds nothing for it.
    let text = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": [], "action": "SCMP_ACT_ERRNO"}]}))
    .unwrap()
    .export_pfc()
    .unwrap();
    assert!(!text.contains("ERRNO"), "{text}");
}

#[test]
fn a_second_action_for_the_same_syscall_keeps_the_first() {
    // libseccomp keeps the first rule for a syscall (runc behaves the same); the podman
    // profile relies on it for setns, listed both as allowed and as CAP_SYS_ADMIN-only.
    let text = pfc(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["setns"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["setns"], "action": "SCMP_ACT_KILL"}]}));
    assert!(text.contains("action ERRNO(1);"), "{text}");
    assert!(!text.contains("action KILL;\n  # default"), "{text}");
}

/// Collects the WARN events emitted on this thread.
struct Warnings(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        *meta.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{value:?}");
                }
            }
        }
        let mut text = String::new();
        event.record(&mut Message(&mut text));
        self.0.lock().unwrap().push(text);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn unknown_syscall_names_are_warned_about() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    tracing::subscriber::with_default(Warnings(seen.clone()), || {
        build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid", "frobnicate_at"], "action": "SCMP_ACT_ERRNO"}]}))
        .unwrap();
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("linux.seccomp.syscalls[1].names[1]: syscall \"frobnicate_at\" is unknown to libseccomp"),
        "{seen:?}"
    );
}
