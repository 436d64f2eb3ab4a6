//! v1 (legacy or hybrid host) controllers, for real.

use std::path::PathBuf;

use libtest_mimic::Trial;
use sangja_cgroups::{new_manager, FreezerState, Host, Layout, OomWait, Spec};

use crate::support::{proc_cgroups, read, resources, unique, wait_until, Guard, Proc};
use crate::{needs_root, trial};

fn host() -> Host {
    Host::detect().expect("detect host")
}

fn needs_v1() -> Option<String> {
    needs_root().or_else(|| match Host::detect() {
        Ok(h) if h.layout != Layout::Unified => None,
        Ok(_) => Some("unified (cgroup2-only) host: no v1 controllers".into()),
        Err(e) => Some(format!("no cgroups: {e}")),
    })
}

fn needs_v1_controller(c: &str) -> Option<String> {
    needs_v1().or_else(|| {
        (!host().v1.contains_key(c))
            .then(|| format!("the {c} controller is not mounted as v1 here"))
    })
}

fn mgr(tag: &str, path: Option<&str>) -> Guard {
    let id = unique(tag);
    let m = new_manager(&Spec {
        cgroups_path: path,
        container_id: &id,
        systemd: false,
        rootless: false,
    })
    .expect("new_manager");
    Guard::new(m)
}

fn p(g: &Guard, c: &str) -> PathBuf {
    g.m.paths()[c].clone()
}

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "v1::placement_relative_to_own_cgroup_like_runc",
            needs_v1,
            placement_relative,
        ),
        trial(
            "v1::placement_absolute_cleaned_like_runc",
            needs_v1,
            placement_absolute,
        ),
        trial(
            "v1::destroy_removes_only_what_it_created",
            needs_v1,
            destroy_only_created,
        ),
        trial("v1::save_load_roundtrip", needs_v1, save_load),
        trial(
            "v1::resources_written_to_files",
            needs_v1,
            resources_written,
        ),
        trial(
            "v1::memory_limit_below_usage_refused",
            || needs_v1_controller("memory"),
            memory_below_usage,
        ),
        trial(
            "v1::refused_update_leaves_nothing_half_applied",
            || needs_v1_controller("cpuset").or_else(|| needs_v1_controller("memory")),
            update_set_back,
        ),
        trial(
            "v1::cpuset_outside_host_refused",
            || needs_v1_controller("cpuset"),
            cpuset_outside,
        ),
        trial(
            "v1::unified_refused_before_any_write",
            needs_v1,
            unified_refused,
        ),
        trial(
            "v1::devices_list_and_denied_open",
            || needs_v1_controller("devices"),
            devices_enforced,
        ),
        trial(
            "v1::pids_limit_stops_fork",
            || needs_v1_controller("pids"),
            pids_limit_stops_fork,
        ),
        trial(
            "v1::freezer_stops_and_restarts_counter",
            || needs_v1_controller("freezer"),
            freezer_counter,
        ),
        trial("v1::pids_and_kill_all", needs_v1, pids_and_kill_all),
        trial("v1::stats_shape", needs_v1, stats_shape),
        trial(
            "v1::oom_kill_reported",
            || needs_v1_controller("memory"),
            oom_reported,
        ),
        trial(
            "v1::hugetlb_limits",
            || needs_v1_controller("hugetlb"),
            hugetlb_limits,
        ),
        trial(
            "v1::hugetlb_not_v1_refused_like_runc",
            hugetlb_unmounted_check,
            hugetlb_unmounted,
        ),
        trial(
            "v1::net_cls_classid",
            || needs_v1_controller("net_cls"),
            net_cls,
        ),
        trial(
            "v1::net_cls_not_mounted_refused_like_runc",
            net_cls_unmounted_check,
            net_cls_unmounted,
        ),
        trial(
            "v1::blkio_weight_cfq_file",
            blkio_weight_check,
            blkio_weight_cfq,
        ),
        trial("v1::swap_limit_with_swap", swap_check, swap_limit),
        trial("v1::rdma_limit", || needs_v1_controller("rdma"), rdma_limit),
    ]
}

fn placement_relative() {
    let h = host();
    let g = mgr("rel", None);
    let paths = g.m.paths();
    let name = paths["devices"].file_name().unwrap().to_owned();
    for (c, dir) in &paths {
        // Under our own cgroup in each hierarchy (memory is not at the root here).
        let own = if c.is_empty() {
            h.own_dir("").unwrap()
        } else {
            h.own_dir(c).unwrap()
        };
        assert_eq!(dir, &own.join(&name), "controller {c:?}");
    }
    if h.layout == Layout::Hybrid {
        assert!(
            paths.contains_key(""),
            "hybrid hosts also place the process in cgroup2"
        );
    }
    let mut g = g;
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let seen = proc_cgroups(sleeper.pid());
    for (ctrls, cg) in seen {
        let key = if ctrls.is_empty() {
            String::new()
        } else {
            ctrls.split(',').next().unwrap().to_string()
        };
        if let Some(dir) = paths.get(&key) {
            assert!(
                dir.ends_with(cg.trim_start_matches('/')),
                "{key}: {} vs {cg}",
                dir.display()
            );
        }
    }
    drop(sleeper);
}

fn placement_absolute() {
    let name = unique("abs");
    let messy = format!("/{name}/../../{name}/x/./");
    let mut g = mgr("abs", Some(&messy));
    let h = host();
    for (c, dir) in g.m.paths() {
        let mount = if c.is_empty() {
            &h.unified.as_ref().unwrap().mountpoint
        } else {
            &h.v1[&c].mountpoint
        };
        assert_eq!(dir, mount.join(&name).join("x"), "{c}");
    }
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    assert!(p(&g, "memory").join("cgroup.procs").exists());
    drop(sleeper);
}

fn destroy_only_created() {
    // A parent that exists before (made by "someone else") must survive destroy.
    let parent = unique("shared");
    let h = host();
    let pre = h.v1["pids"].mountpoint.join(&parent);
    std::fs::create_dir(&pre).unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _pre_guard = Rm(pre.clone());
    let mut g = mgr("own", Some(&format!("/{parent}/ctr")));
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    drop(sleeper);
    wait_until("sleep reaped from cgroup", || {
        g.m.pids().map(|p| p.is_empty()).unwrap_or(false)
    });
    g.m.destroy().unwrap();
    for (c, dir) in g.m.paths() {
        assert!(!dir.exists(), "{c}: {} left behind", dir.display());
        let par = dir.parent().unwrap();
        if c == "pids" {
            assert!(par.exists(), "pre-existing parent was removed");
        } else {
            assert!(
                !par.exists(),
                "{c}: created parent {} left behind",
                par.display()
            );
        }
    }
}

fn save_load() {
    let mut g = mgr("save", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let saved = g.m.save();
    let text = serde_json::to_string(&saved).unwrap();
    let back: serde_json::Value = serde_json::from_str(&text).unwrap();
    let m2 = sangja_cgroups::load_manager(&back).unwrap();
    assert_eq!(m2.paths(), g.m.paths());
    assert_eq!(m2.pids().unwrap(), vec![sleeper.pid()]);
    // An exec'd process joins the same cgroups through the loaded manager.
    let exec = Proc::sleep();
    m2.join(exec.pid()).unwrap();
    let mut both = m2.pids().unwrap();
    both.sort();
    let mut want = vec![sleeper.pid(), exec.pid()];
    want.sort();
    assert_eq!(both, want);
    drop(exec);
    drop(sleeper);
    wait_until("empty", || {
        g.m.pids().map(|p| p.is_empty()).unwrap_or(false)
    });
    // The loaded manager knows what the first one created, so it can clean up.
    m2.destroy().unwrap();
    assert!(!p(&g, "devices").exists());
    // Joining a removed cgroup fails instead of recreating it.
    let late = Proc::sleep();
    assert!(m2.join(late.pid()).is_err());
    assert!(!p(&g, "devices").exists());
    drop(late);
}

fn resources_written() {
    let mut g = mgr("res", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let r = resources(
        r#"{"memory":{"limit":100000000,"reservation":50000000,"swappiness":30},
            "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},
            "pids":{"limit":50}}"#,
    );
    g.m.set(&r).unwrap();
    let mem = p(&g, "memory");
    // The values runc 1.1.5 left for the same config (the kernel rounds to pages).
    assert_eq!(read(mem.join("memory.limit_in_bytes")).trim(), "99999744");
    assert_eq!(
        read(mem.join("memory.soft_limit_in_bytes")).trim(),
        "49999872"
    );
    assert_eq!(read(mem.join("memory.swappiness")).trim(), "30");
    let cpu = p(&g, "cpu");
    assert_eq!(read(cpu.join("cpu.shares")).trim(), "512");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")).trim(), "50000");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")).trim(), "100000");
    assert_eq!(read(p(&g, "cpuset").join("cpuset.cpus")).trim(), "0");
    assert_eq!(read(p(&g, "pids").join("pids.max")).trim(), "50");
    let blkio = p(&g, "blkio");
    let weight = resources(r#"{"blockIO":{"weight":300}}"#);
    match ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| blkio.join(f).exists())
    {
        Some(wfile) => {
            g.m.set(&weight).unwrap();
            assert!(read(blkio.join(wfile)).contains("300"), "{wfile}");
        }
        // A kernel with neither CFQ nor BFQ (CONFIG_IOSCHED_BFQ unset) has no weight
        // file: refused naming the field, as runc 1.1.5 fails writing blkio.weight.
        None => {
            let e = g.m.set(&weight).unwrap_err().to_string();
            assert!(e.contains("blockIO.weight"), "{e}");
        }
    }
    // Unlimited and "leave alone" values.
    g.m.set(&resources(
        r#"{"memory":{"limit":-1},"pids":{"limit":-1},"cpu":{"quota":-1}}"#,
    ))
    .unwrap();
    assert_eq!(
        read(mem.join("memory.limit_in_bytes")).trim(),
        "9223372036854771712"
    );
    assert_eq!(read(p(&g, "pids").join("pids.max")).trim(), "max");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")).trim(), "-1");
    g.m.set(&resources(r#"{"pids":{"limit":0},"cpu":{"shares":0}}"#))
        .unwrap();
    assert_eq!(read(p(&g, "pids").join("pids.max")).trim(), "max");
    assert_eq!(read(cpu.join("cpu.shares")).trim(), "512");
    // Burst and idle exist in this kernel's v1 cpu controller.
    if cpu.join("cpu.cfs_burst_us").exists() {
        g.m.set(&resources(
            r#"{"cpu":{"quota":50000,"burst":1000,"idle":0}}"#,
        ))
        .unwrap();
        assert_eq!(read(cpu.join("cpu.cfs_burst_us")).trim(), "1000");
    }
    drop(sleeper);
}

fn memory_below_usage() {
    let mut g = mgr("membusy", None);
    let mut sleeper = Proc::sh("read x; v=$(seq 1 200000); echo charged; read y");
    g.m.apply(sleeper.pid()).unwrap();
    sleeper.go();
    let usage = p(&g, "memory").join("memory.usage_in_bytes");
    wait_until("memory charged", || {
        read(&usage).trim().parse::<u64>().unwrap_or(0) > 64 * 1024
    });
    let before = read(p(&g, "memory").join("memory.limit_in_bytes"));
    let e =
        g.m.set(&resources(r#"{"memory":{"limit":1000}}"#))
            .unwrap_err()
            .to_string();
    assert!(
        e.starts_with(
            "linux.resources.memory.limit: unable to set memory limit to 1000 (current usage: "
        ),
        "{e}"
    );
    assert_eq!(read(p(&g, "memory").join("memory.limit_in_bytes")), before);
    drop(sleeper);
}

fn update_set_back() {
    let mut g = mgr("setback", None);
    let mut sh = Proc::sh("read x; v=$(seq 1 200000); echo charged; read y");
    g.m.apply(sh.pid()).unwrap();
    sh.go();
    let usage = p(&g, "memory").join("memory.usage_in_bytes");
    wait_until("memory charged", || {
        read(&usage).trim().parse::<u64>().unwrap_or(0) > 64 * 1024
    });
    let cpus = read(p(&g, "cpuset").join("cpuset.cpus"));
    let shares = read(p(&g, "cpu").join("cpu.shares"));
    // cpuset is written before memory, which the kernel then refuses.
    let new = resources(r#"{"cpu":{"cpus":"0","shares":300},"memory":{"limit":1000}}"#);
    let e = sangja_cgroups::update(g.m.as_ref(), &new)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unable to set memory limit to 1000"), "{e}");
    assert_eq!(read(p(&g, "cpuset").join("cpuset.cpus")), cpus);
    assert_eq!(read(p(&g, "cpu").join("cpu.shares")), shares);
    drop(sh);
}

fn cpuset_outside() {
    let mut g = mgr("cpuset", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let e =
        g.m.set(&resources(&format!(r#"{{"cpu":{{"cpus":"{}"}}}}"#, n + 5)))
            .unwrap_err()
            .to_string();
    assert!(e.starts_with("linux.resources.cpu.cpus: writing"), "{e}");
    assert!(e.contains("cpuset.cpus"), "{e}");
    drop(sleeper);
}

fn unified_refused() {
    let mut g = mgr("unif", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let before = read(p(&g, "pids").join("pids.max"));
    let e =
        g.m.set(&resources(
            r#"{"pids":{"limit":7},"unified":{"pids.max":"5"}}"#,
        ))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "invalid configuration: cannot use unified on cgroup v1");
    assert_eq!(
        read(p(&g, "pids").join("pids.max")),
        before,
        "nothing half-applied"
    );
    drop(sleeper);
}

fn devices_enforced() {
    let mut g = mgr("dev", None);
    let mut sh = Proc::sh(
        "read x; cat /dev/null && echo NULL-OK; head -c 1 /dev/zero >/dev/full; echo done",
    );
    g.m.apply(sh.pid()).unwrap();
    let spec: oci_spec::runtime::Spec = serde_json::from_str(
        r#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},"linux":{"resources":{"devices":[
            {"allow":false,"access":"rwm"}]},"devices":[{"path":"/dev/null","type":"c","major":1,"minor":3}]}}"#,
    )
    .unwrap();
    let mut r = resources("{}");
    r.set_devices(Some(sangja_cgroups::device_rules(&spec)));
    g.m.set(&r).unwrap();
    let list = read(p(&g, "devices").join("devices.list"));
    assert!(
        !list.contains("c 1:3 "),
        "/dev/null is listed in linux.devices, so runc drops its default: {list}"
    );
    assert!(
        list.contains("c 1:5 rwm") && list.contains("c 136:* rwm"),
        "{list}"
    );
    // Setting the same rules again writes nothing and keeps the list.
    g.m.set(&r).unwrap();
    assert_eq!(read(p(&g, "devices").join("devices.list")), list);
    sh.go();
    let (_, out, err) = sh.finish();
    assert!(
        !out.contains("NULL-OK"),
        "open of /dev/null must be denied: {out}"
    );
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(out.contains("done"));
}

fn pids_limit_stops_fork() {
    let mut g = mgr("pids", None);
    let mut sh = Proc::sh("read x; /bin/true && echo FORKED; echo end");
    g.m.apply(sh.pid()).unwrap();
    g.m.set(&resources(r#"{"pids":{"limit":1}}"#)).unwrap();
    sh.go();
    let (_, out, err) = sh.finish();
    assert!(
        !out.contains("FORKED"),
        "a fork past pids.max=1 succeeded: {out}"
    );
    assert!(err.to_lowercase().contains("fork"), "{err}");
}

fn freezer_counter() {
    let mut g = mgr("frz", None);
    crate::support::freezer_counter(&mut g, &|g, frozen| {
        let want = if frozen { "FROZEN" } else { "THAWED" };
        assert_eq!(read(p(g, "freezer").join("freezer.state")).trim(), want);
    });
}

fn pids_and_kill_all() {
    let mut g = mgr("kill", None);
    let mut sh = Proc::sh("read x; sleep 1000 & sleep 1000 & read y");
    g.m.apply(sh.pid()).unwrap();
    sh.go();
    wait_until("three processes", || {
        g.m.pids().map(|p| p.len() == 3).unwrap_or(false)
    });
    assert!(g.m.pids().unwrap().contains(&sh.pid()));
    g.m.kill_all(libc::SIGTERM).unwrap();
    wait_until("shell gone", || sh.exited());
    wait_until("cgroup empty", || {
        g.m.pids().map(|p| p.is_empty()).unwrap_or(false)
    });
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Thawed);
    let mut sh2 = Proc::sh("read x; sleep 1000 & read y");
    g.m.apply(sh2.pid()).unwrap();
    sh2.go();
    wait_until("two processes", || {
        g.m.pids().map(|p| p.len() == 2).unwrap_or(false)
    });
    g.m.kill_all(libc::SIGKILL).unwrap();
    wait_until("killed", || sh2.exited());
    wait_until("cgroup empty", || {
        g.m.pids().map(|p| p.is_empty()).unwrap_or(false)
    });
    // A paused container is killed too (the v1 freezer holds signals until thawed).
    let mut sh3 = Proc::sh("read x; sleep 1000 & read y");
    g.m.apply(sh3.pid()).unwrap();
    sh3.go();
    wait_until("two processes", || {
        g.m.pids().map(|p| p.len() == 2).unwrap_or(false)
    });
    g.m.freeze().unwrap();
    g.m.kill_all(libc::SIGKILL).unwrap();
    wait_until("paused container killed", || sh3.exited());
    wait_until("cgroup empty", || {
        g.m.pids().map(|p| p.is_empty()).unwrap_or(false)
    });
}

fn stats_shape() {
    let mut g = mgr("stats", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(
        r#"{"memory":{"limit":100000000},"pids":{"limit":50}}"#,
    ))
    .unwrap();
    let s = g.m.stats().unwrap();
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 50);
    assert_eq!(s.memory.usage.limit, 99999744);
    assert!(s.memory.raw.contains_key("total_rss"));
    let v = serde_json::to_value(&s).unwrap();
    for k in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert!(v["memory"]["usage"]["limit"].is_u64());
    assert!(v["cpuset"]["cpus"].is_array());
    drop(sleeper);
}

fn oom_reported() {
    let mut g = mgr("oom", None);
    let mut hog =
        Proc::sh("read x; x=$(head -c 200000000 /dev/zero | tr '\\000' a); echo survived");
    g.m.apply(hog.pid()).unwrap();
    let lim = 16 * 1024 * 1024;
    let mut r = resources("{}");
    let mut m = oci_spec::runtime::LinuxMemory::default();
    m.set_limit(Some(lim));
    if p(&g, "memory").join("memory.memsw.limit_in_bytes").exists() {
        m.set_swap(Some(lim));
    }
    r.set_memory(Some(m));
    g.m.set(&r).unwrap();
    let mut w = g.m.oom_watcher().unwrap();
    hog.go();
    let mut seen = 0;
    wait_until("OOM event", || {
        if let Ok(OomWait::Oom(n)) = w.wait(Some(std::time::Duration::from_millis(100))) {
            seen += n;
        }
        seen > 0
    });
    let (_, out, _) = hog.finish();
    assert!(
        !out.contains("survived") || w.oom_kills().unwrap() > 0,
        "{out}"
    );
    assert!(w.oom_kills().unwrap() > 0);
}

fn hugetlb_limits() {
    let mut g = mgr("huge", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
    ))
    .unwrap();
    assert_eq!(
        read(p(&g, "hugetlb").join("hugetlb.2MB.limit_in_bytes")).trim(),
        "4194304"
    );
    assert!(g.m.stats().unwrap().hugetlb.contains_key("2MB"));
    drop(sleeper);
}

fn hugetlb_unmounted_check() -> Option<String> {
    needs_v1().or_else(|| {
        host()
            .v1
            .contains_key("hugetlb")
            .then(|| "hugetlb is mounted as v1 here (v1::hugetlb_limits covers it)".into())
    })
}

/// At boot here hugetlb sits on cgroup2 while the rest is v1: containers still run
/// (unlike crun 1.8) and a hugetlb limit gets runc's error.
fn hugetlb_unmounted() {
    let mut g = mgr("nohuge", None);
    assert!(!g.m.paths().contains_key("hugetlb"));
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(r#"{"pids":{"limit":5}}"#)).unwrap();
    let e =
        g.m.set(&resources(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":2097152}]}"#,
        ))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cannot set hugetlb limit: container could not join or create cgroup"
    );
    drop(sleeper);
}

fn net_cls() {
    let mut g = mgr("netcls", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(r#"{"network":{"classID":1048577}}"#))
        .unwrap();
    assert_eq!(
        read(p(&g, "net_cls").join("net_cls.classid")).trim(),
        "1048577"
    );
    drop(sleeper);
}

fn net_cls_unmounted_check() -> Option<String> {
    needs_v1().or_else(|| {
        host()
            .v1
            .contains_key("net_cls")
            .then(|| "net_cls is mounted here (v1::net_cls_classid covers it)".into())
    })
}

fn net_cls_unmounted() {
    let mut g = mgr("nonetcls", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let e =
        g.m.set(&resources(r#"{"network":{"classID":5}}"#))
            .unwrap_err()
            .to_string();
    assert_eq!(
        e,
        "cannot set net_cls limit: container could not join or create cgroup"
    );
    drop(sleeper);
}

fn blkio_weight_check() -> Option<String> {
    needs_v1_controller("blkio").or_else(|| {
        let root = &host().v1["blkio"].mountpoint;
        let probe = root.join(unique("probe"));
        let has = std::fs::create_dir(&probe)
            .map(|_| probe.join("blkio.weight").exists())
            .unwrap_or(false);
        let _ = std::fs::remove_dir(&probe);
        (!has).then(|| "this kernel has no blkio.weight (CFQ); only blkio.bfq.weight, tested in v1::resources_written_to_files".into())
    })
}

fn blkio_weight_cfq() {
    let mut g = mgr("cfq", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(r#"{"blockIO":{"weight":300}}"#))
        .unwrap();
    assert_eq!(read(p(&g, "blkio").join("blkio.weight")).trim(), "300");
    drop(sleeper);
}

fn swap_check() -> Option<String> {
    needs_v1_controller("memory").or_else(|| {
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
        (swaps.lines().count() <= 1)
            .then(|| "no swap is configured on this host (/proc/swaps is empty)".into())
    })
}

fn swap_limit() {
    let mut g = mgr("swap", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    g.m.set(&resources(
        r#"{"memory":{"limit":104857600,"swap":209715200}}"#,
    ))
    .unwrap();
    assert_eq!(
        read(p(&g, "memory").join("memory.memsw.limit_in_bytes")).trim(),
        "209715200"
    );
    drop(sleeper);
}

fn rdma_limit() {
    let mut g = mgr("rdma", None);
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let dev = read(p(&g, "rdma").join("rdma.max"));
    let Some(name) = dev.split_whitespace().next() else {
        panic!("no RDMA device to limit in rdma.max");
    };
    g.m.set(&resources(&format!(
        r#"{{"rdma":{{"{name}":{{"hcaHandles":3}}}}}}"#
    )))
    .unwrap();
    assert!(read(p(&g, "rdma").join("rdma.max")).contains("hca_handle=3"));
    drop(sleeper);
}
