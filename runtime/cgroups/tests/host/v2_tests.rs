//! cgroup2 code paths in a private child cgroup of this host's cgroup2 tree: the
//! freezer, cgroup.kill, cgroup.events and the eBPF device program, for real.

use std::path::PathBuf;

use libtest_mimic::Trial;
use sangja_cgroups::v2::V2Manager;
use sangja_cgroups::{FreezerState, Host, Manager};

use crate::support::{read, resources, unique, wait_until, Guard, Proc};
use crate::{needs_root, trial};

fn cgroup2_root() -> Option<PathBuf> {
    Host::detect().ok()?.unified.map(|m| m.mountpoint)
}

fn needs_cgroup2() -> Option<String> {
    needs_root().or_else(|| match cgroup2_root() {
        Some(_) => None,
        None => Some("no cgroup2 hierarchy mounted".into()),
    })
}

fn needs_v2_controller(c: &'static str) -> Option<String> {
    needs_cgroup2().or_else(|| {
        let root = cgroup2_root()?;
        let avail = read(root.join("cgroup.subtree_control"));
        (!avail.split_whitespace().any(|x| x == c)).then(|| {
            format!("the {c} controller is not enabled on this host's cgroup2 tree (resource files tested on fixtures)")
        })
    })
}

/// A manager for <cgroup2>/<unique>/ctr, with <unique> made by the test as the
/// "mount" (so controllers are enabled only inside our own subtree).
fn mgr(tag: &str) -> Guard {
    let parent = cgroup2_root().unwrap().join(unique(tag));
    std::fs::create_dir(&parent).unwrap();
    let m = V2Manager::at(&parent, &parent.join("ctr"));
    let mut g = Guard::new(Box::new(m) as Box<dyn Manager>);
    g.extra.push(parent);
    g
}

fn dir(g: &Guard) -> PathBuf {
    g.m.paths()[""].clone()
}

pub fn trials() -> Vec<Trial> {
    vec![
        trial("v2::apply_destroy_and_paths", needs_cgroup2, apply_destroy),
        trial(
            "v2::freezer_stops_and_restarts_counter",
            needs_cgroup2,
            freezer_counter,
        ),
        trial("v2::kill_all_uses_cgroup_kill", needs_cgroup2, kill_all),
        trial("v2::signal_all_processes", needs_cgroup2, signal_all),
        trial(
            "v2::device_program_denies_open",
            needs_cgroup2,
            device_program,
        ),
        trial(
            "v2::device_program_replaced_on_update",
            needs_cgroup2,
            device_program_replaced,
        ),
        trial("v2::stats_from_core_files", needs_cgroup2, stats_core),
        trial(
            "v2::memory_limit",
            || needs_v2_controller("memory"),
            memory_limit,
        ),
        trial("v2::pids_limit", || needs_v2_controller("pids"), pids_limit),
        trial(
            "v2::unknown_unified_key_refused",
            needs_cgroup2,
            unknown_unified_key,
        ),
    ]
}

fn apply_destroy() {
    let mut g = mgr("apply");
    let d = dir(&g);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    assert!(read(d.join("cgroup.procs")).contains(&sleeper.pid().to_string()));
    assert_eq!(g.m.pids().unwrap(), vec![sleeper.pid()]);
    assert!(read(d.join("cgroup.events")).contains("populated 1"));
    drop(sleeper);
    wait_until("unpopulated", || {
        read(d.join("cgroup.events")).contains("populated 0")
    });
    // A cgroup made inside the container's own (not by us) is removed with it.
    std::fs::create_dir_all(d.join("inner/deeper")).unwrap();
    g.m.destroy().unwrap();
    assert!(!d.exists());
    assert!(!g.m.exists());
}

fn freezer_counter() {
    let mut g = mgr("frz");
    crate::support::freezer_counter(&mut g, &|g, frozen| {
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        assert!(read(dir(g).join("cgroup.events")).contains(want));
    });
}

fn kill_all() {
    let mut g = mgr("kill");
    let mut sh = Proc::sh("read x; sleep 1000 & sleep 1000 & read y");
    g.m.apply(sh.pid()).unwrap();
    sh.go();
    wait_until("three", || {
        g.m.pids().map(|p| p.len() == 3).unwrap_or(false)
    });
    // Paused first: cgroup.kill reaches frozen tasks on cgroup2.
    g.m.freeze().unwrap();
    g.m.kill_all(libc::SIGKILL).unwrap();
    wait_until("killed", || sh.exited());
    wait_until("empty", || {
        g.m.pids().map(|p| p.is_empty()).unwrap_or(false)
    });
}

fn signal_all() {
    let mut g = mgr("term");
    let mut sh = Proc::sh("read x; sleep 1000 & read y");
    g.m.apply(sh.pid()).unwrap();
    sh.go();
    wait_until("two", || g.m.pids().map(|p| p.len() == 2).unwrap_or(false));
    g.m.kill_all(libc::SIGTERM).unwrap();
    wait_until("terminated", || sh.exited());
    wait_until("empty", || {
        g.m.pids().map(|p| p.is_empty()).unwrap_or(false)
    });
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Thawed);
}

const DENY_NULL: &str = r#"{"devices":[{"allow":false,"access":"rwm"},
    {"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"},
    {"allow":true,"type":"c","major":1,"minor":7,"access":"rwm"}]}"#;

fn device_program() {
    let mut g = mgr("bpf");
    let mut sh = Proc::sh("read x; cat /dev/null && echo NULL-OK; head -c 3 /dev/zero | wc -c");
    g.m.apply(sh.pid()).unwrap();
    g.m.set(&resources(DENY_NULL)).unwrap();
    sh.go();
    let (_, out, err) = sh.finish();
    assert!(
        !out.contains("NULL-OK"),
        "/dev/null opened despite the program: {out}"
    );
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(
        out.contains('3'),
        "/dev/zero (allowed) unreadable: {out} {err}"
    );
}

fn device_program_replaced() {
    let mut g = mgr("bpf2");
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(DENY_NULL)).unwrap();
    let allow_null = r#"{"devices":[{"allow":false,"access":"rwm"},
        {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#;
    g.m.set(&resources(allow_null)).unwrap();
    let f = std::fs::File::open(dir(&g)).unwrap();
    assert_eq!(
        sangja_cgroups::bpf::attached(&f).unwrap().len(),
        1,
        "old program left attached"
    );
    let mut sh =
        Proc::sh("read x; cat /dev/null && echo NULL-OK; head -c 1 /dev/zero || echo ZERO-DENIED");
    g.m.apply(sh.pid()).unwrap();
    sh.go();
    let (_, out, _) = sh.finish();
    assert!(out.contains("NULL-OK"), "{out}");
    assert!(out.contains("ZERO-DENIED"), "{out}");
    drop(sleeper);
}

fn stats_core() {
    let mut g = mgr("stats");
    let mut sh = Proc::sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; read x");
    g.m.apply(sh.pid()).unwrap();
    wait_until("cpu time accounted", || {
        g.m.stats().map(|s| s.cpu.usage.total > 0).unwrap_or(false)
    });
    let v = serde_json::to_value(g.m.stats().unwrap()).unwrap();
    assert!(v["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    sh.go();
    let _ = sh.finish();
}

fn memory_limit() {
    let mut g = mgr("mem");
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(
        r#"{"memory":{"limit":104857600,"reservation":1048576}}"#,
    ))
    .unwrap();
    assert_eq!(read(dir(&g).join("memory.max")).trim(), "104857600");
    assert_eq!(read(dir(&g).join("memory.low")).trim(), "1048576");
    drop(sleeper);
}

fn pids_limit() {
    let mut g = mgr("pids");
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(r#"{"pids":{"limit":9}}"#)).unwrap();
    assert_eq!(read(dir(&g).join("pids.max")).trim(), "9");
    drop(sleeper);
}

fn unknown_unified_key() {
    let mut g = mgr("unk");
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let e =
        g.m.set(&resources(r#"{"unified":{"nosuchctl.max":"1000000"}}"#))
            .unwrap_err()
            .to_string();
    assert_eq!(
        e,
        "linux.resources.unified.nosuchctl.max: unified resource \"nosuchctl.max\" can't be set: controller \"nosuchctl\" not available"
    );
    let e =
        g.m.set(&resources(r#"{"unified":{"../x":"1"}}"#))
            .unwrap_err()
            .to_string();
    assert!(e.contains("must be a file name"), "{e}");
    drop(sleeper);
}
