//! Every resource file write, on temp trees shaped like /sys/fs/cgroup for unified,
//! legacy and hybrid hosts. Control files start empty (or with the kernel's value where
//! the code reads it first); writes append, so each file shows every write in order.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use sangja_cgroups::v2::V2Manager;
use sangja_cgroups::{new_manager_on, Host, Layout, Manager, Spec};

const V1: &[&str] = &[
    "cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
    "net_cls", "net_prio", "rdma",
];

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn touch(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (f, content) in files {
        fs::write(dir.join(f), content).unwrap();
    }
}

fn get(dir: &Path, f: &str) -> String {
    fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
}

fn spec<'a>(path: Option<&'a str>, id: &'a str) -> Spec<'a> {
    Spec {
        cgroups_path: path,
        container_id: id,
        systemd: false,
        rootless: false,
    }
}

struct V1Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    m: Box<dyn Manager>,
}

impl V1Fixture {
    fn new(layout: Layout, controllers: &[&str]) -> V1Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let host = Host::fixture(layout, &root, controllers);
        let m = new_manager_on(&host, &spec(Some("/ctr"), "ctr")).unwrap();
        V1Fixture { _tmp: tmp, root, m }
    }
    fn dir(&self, c: &str) -> PathBuf {
        self.root.join(c).join("ctr")
    }
}

#[test]
fn legacy_v1_every_resource_file() {
    let f = V1Fixture::new(Layout::Legacy, V1);
    touch(
        &f.dir("memory"),
        &[
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.memsw.limit_in_bytes", ""),
            ("memory.soft_limit_in_bytes", ""),
            ("memory.oom_control", ""),
            ("memory.swappiness", ""),
            ("memory.use_hierarchy", ""),
        ],
    );
    touch(
        &f.dir("cpu"),
        &[
            ("cpu.shares", ""),
            ("cpu.cfs_period_us", ""),
            ("cpu.cfs_quota_us", ""),
            ("cpu.cfs_burst_us", ""),
            ("cpu.idle", ""),
            ("cpu.rt_period_us", ""),
            ("cpu.rt_runtime_us", ""),
        ],
    );
    touch(
        &f.dir("cpuset"),
        &[("cpuset.cpus", ""), ("cpuset.mems", "")],
    );
    touch(&f.dir("pids"), &[("pids.max", "")]);
    touch(
        &f.dir("blkio"),
        &[
            ("blkio.weight", ""),
            ("blkio.weight_device", ""),
            ("blkio.leaf_weight", ""),
            ("blkio.leaf_weight_device", ""),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
        ],
    );
    touch(
        &f.dir("hugetlb"),
        &[
            ("hugetlb.2MB.limit_in_bytes", ""),
            ("hugetlb.2MB.rsvd.limit_in_bytes", ""),
            ("hugetlb.1GB.limit_in_bytes", ""),
        ],
    );
    touch(&f.dir("net_cls"), &[("net_cls.classid", "")]);
    touch(&f.dir("net_prio"), &[("net_prio.ifpriomap", "")]);
    touch(&f.dir("rdma"), &[("rdma.max", "")]);
    f.m.set(&res(r#"{
        "memory":{"limit":104857600,"reservation":52428800,"swap":209715200,"swappiness":10,
                  "disableOOMKiller":true,"useHierarchy":true,"kernel":1,"kernelTCP":1},
        "cpu":{"shares":1024,"quota":20000,"period":100000,"burst":5000,"idle":1,
               "realtimeRuntime":950000,"realtimePeriod":1000000,"cpus":"0-1","mems":"0"},
        "pids":{"limit":-1},
        "blockIO":{"weight":500,"leafWeight":200,
                   "weightDevice":[{"major":8,"minor":0,"weight":300,"leafWeight":100}],
                   "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
                   "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":2097152}],
                   "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
                   "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":200}]},
        "hugepageLimits":[{"pageSize":"2MB","limit":4194304},{"pageSize":"1GB","limit":0}],
        "network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5},{"name":"lo","priority":1}]},
        "rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10000}}
    }"#))
    .unwrap();
    let mem = f.dir("memory");
    // Swap grows past the current limit: memsw is written first, then the limit.
    assert_eq!(get(&mem, "memory.memsw.limit_in_bytes"), "209715200");
    assert_eq!(
        get(&mem, "memory.limit_in_bytes"),
        "9223372036854771712\n104857600"
    );
    assert_eq!(get(&mem, "memory.soft_limit_in_bytes"), "52428800");
    assert_eq!(get(&mem, "memory.oom_control"), "1");
    assert_eq!(get(&mem, "memory.swappiness"), "10");
    assert_eq!(get(&mem, "memory.use_hierarchy"), "1");
    let cpu = f.dir("cpu");
    assert_eq!(get(&cpu, "cpu.shares"), "1024");
    assert_eq!(get(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(get(&cpu, "cpu.cfs_quota_us"), "20000");
    assert_eq!(get(&cpu, "cpu.cfs_burst_us"), "5000");
    assert_eq!(get(&cpu, "cpu.idle"), "1");
    assert_eq!(get(&cpu, "cpu.rt_period_us"), "1000000");
    assert_eq!(get(&cpu, "cpu.rt_runtime_us"), "950000");
    assert_eq!(get(&f.dir("cpuset"), "cpuset.cpus"), "0-1");
    assert_eq!(get(&f.dir("cpuset"), "cpuset.mems"), "0");
    assert_eq!(get(&f.dir("pids"), "pids.max"), "max");
    let b = f.dir("blkio");
    assert_eq!(get(&b, "blkio.weight"), "500");
    assert_eq!(get(&b, "blkio.leaf_weight"), "200");
    assert_eq!(get(&b, "blkio.weight_device"), "8:0 300");
    assert_eq!(get(&b, "blkio.leaf_weight_device"), "8:0 100");
    assert_eq!(get(&b, "blkio.throttle.read_bps_device"), "8:0 1048576");
    assert_eq!(get(&b, "blkio.throttle.write_bps_device"), "8:0 2097152");
    assert_eq!(get(&b, "blkio.throttle.read_iops_device"), "8:0 100");
    assert_eq!(get(&b, "blkio.throttle.write_iops_device"), "8:16 200");
    let h = f.dir("hugetlb");
    assert_eq!(get(&h, "hugetlb.2MB.limit_in_bytes"), "4194304");
    assert_eq!(get(&h, "hugetlb.2MB.rsvd.limit_in_bytes"), "4194304");
    assert_eq!(get(&h, "hugetlb.1GB.limit_in_bytes"), "0");
    assert_eq!(get(&f.dir("net_cls"), "net_cls.classid"), "1048577");
    assert_eq!(get(&f.dir("net_prio"), "net_prio.ifpriomap"), "eth0 5lo 1");
    assert_eq!(
        get(&f.dir("rdma"), "rdma.max"),
        "mlx5_1 hca_handle=3 hca_object=10000"
    );
}

#[test]
fn v1_memory_shrinking_writes_limit_before_swap_and_minus_one_unlimits_both() {
    let f = V1Fixture::new(Layout::Legacy, &["memory", "devices"]);
    let mem = f.dir("memory");
    touch(
        &mem,
        &[
            ("memory.limit_in_bytes", "209715200\n"),
            ("memory.memsw.limit_in_bytes", ""),
        ],
    );
    f.m.set(&res(r#"{"memory":{"limit":52428800,"swap":104857600}}"#))
        .unwrap();
    assert_eq!(get(&mem, "memory.limit_in_bytes"), "209715200\n52428800");
    assert_eq!(get(&mem, "memory.memsw.limit_in_bytes"), "104857600");
    touch(
        &mem,
        &[
            ("memory.limit_in_bytes", "1\n"),
            ("memory.memsw.limit_in_bytes", ""),
        ],
    );
    f.m.set(&res(r#"{"memory":{"limit":-1}}"#)).unwrap();
    // runc: unlimited memory without a swap value unlimits swap too, swap first.
    assert_eq!(get(&mem, "memory.memsw.limit_in_bytes"), "-1");
    assert_eq!(get(&mem, "memory.limit_in_bytes"), "1\n-1");
}

#[test]
fn v1_refusals_name_the_field() {
    let f = V1Fixture::new(Layout::Legacy, &["memory", "devices", "cpu", "blkio"]);
    touch(&f.dir("memory"), &[("memory.swappiness", "")]);
    let e =
        f.m.set(&res(r#"{"memory":{"swappiness":101}}"#))
            .unwrap_err()
            .to_string();
    assert_eq!(e, "linux.resources.memory.swappiness: invalid memory swappiness value: 101 (valid range is 0-100)");
    assert_eq!(get(&f.dir("memory"), "memory.swappiness"), "");
    // A controller the host does not mount: runc's wording, nothing written.
    let e =
        f.m.set(&res(r#"{"pids":{"limit":5}}"#))
            .unwrap_err()
            .to_string();
    assert_eq!(
        e,
        "cannot set pids limit: container could not join or create cgroup"
    );
    // The kernel clamps shares silently; the read-back reports the bound.
    touch(&f.dir("cpu"), &[("cpu.shares", "262144")]);
    let e =
        f.m.set(&res(r#"{"cpu":{"shares":1}}"#))
            .unwrap_err()
            .to_string();
    assert!(
        e.contains("linux.resources.cpu.shares: the minimum allowed cpu-shares is"),
        "{e}"
    );
    // No weight file at all (no CFQ, no BFQ): the field and file are named.
    fs::create_dir_all(f.dir("blkio")).unwrap();
    let e =
        f.m.set(&res(r#"{"blockIO":{"weight":100}}"#))
            .unwrap_err()
            .to_string();
    assert!(
        e.starts_with("linux.resources.blockIO.weight: writing \"100\" to blkio.bfq.weight in "),
        "{e}"
    );
    assert!(e.ends_with("No such file or directory"), "{e}");
}

#[test]
fn v1_bfq_weight_files_when_no_cfq() {
    let f = V1Fixture::new(Layout::Legacy, &["blkio", "devices"]);
    let b = f.dir("blkio");
    touch(
        &b,
        &[("blkio.bfq.weight", ""), ("blkio.bfq.weight_device", "")],
    );
    f.m.set(&res(
        r#"{"blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":50}]}}"#,
    ))
    .unwrap();
    assert_eq!(get(&b, "blkio.bfq.weight"), "300");
    assert_eq!(get(&b, "blkio.bfq.weight_device"), "8:0 50");
}

#[test]
fn v1_devices_minimal_transition() {
    let f = V1Fixture::new(Layout::Legacy, &["devices"]);
    let d = f.dir("devices");
    // Already an allow-list: only the difference is written, removals first.
    touch(
        &d,
        &[
            ("devices.list", "c 1:3 rwm\nc 1:5 rwm\n"),
            ("devices.allow", ""),
            ("devices.deny", ""),
        ],
    );
    f.m.set(&res(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":9,"access":"rw"}]}"#))
        .unwrap_err(); // the fixture's devices.list does not change, so the check fails
    assert_eq!(get(&d, "devices.deny"), "c 1:5 rwm");
    assert_eq!(get(&d, "devices.allow"), "c 1:9 rw");
    // From allow-all (a new cgroup): reset, then each exception.
    touch(
        &d,
        &[
            ("devices.list", "a *:* rwm\n"),
            ("devices.allow", ""),
            ("devices.deny", ""),
        ],
    );
    let _ = f.m.set(&res(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#));
    assert_eq!(get(&d, "devices.deny"), "a *:* rwm");
    assert_eq!(get(&d, "devices.allow"), "c 1:3 rwm");
    // A deny-list: allow all, then each deny; the kernel hides denies, nothing to verify.
    touch(
        &d,
        &[
            ("devices.list", "a *:* rwm\n"),
            ("devices.allow", ""),
            ("devices.deny", ""),
        ],
    );
    f.m.set(&res(r#"{"devices":[{"allow":true,"access":"rwm"},{"allow":false,"type":"b","major":8,"access":"w"}]}"#)).unwrap();
    assert_eq!(get(&d, "devices.allow"), "a *:* rwm");
    assert_eq!(get(&d, "devices.deny"), "b 8:* w");
}

#[test]
fn hybrid_placement_keeps_going_without_hugetlb_and_net_cls() {
    // This host's boot state: hugetlb on cgroup2, net_cls/net_prio not mounted.
    let tmp = tempfile::tempdir().unwrap();
    let host = Host::fixture(
        Layout::Hybrid,
        tmp.path(),
        &["cpu", "cpuacct", "memory", "devices", "freezer", "pids"],
    );
    let m = new_manager_on(&host, &spec(None, "abc")).unwrap();
    let paths = m.paths();
    assert_eq!(paths[""], tmp.path().join("unified/abc"));
    assert_eq!(paths["memory"], tmp.path().join("memory/abc"));
    assert!(!paths.contains_key("hugetlb"));
    let e = m
        .set(&res(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":2097152}]}"#,
        ))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot set hugetlb limit: container could not join or create cgroup"
    );
    // Without devices, v1 refuses outright (runc treats it as fatal).
    let no_dev = Host::fixture(Layout::Legacy, tmp.path(), &["memory"]);
    assert!(new_manager_on(&no_dev, &spec(None, "x")).is_err());
}

#[test]
fn v1_apply_creates_levels_fills_cpuset_and_destroy_removes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let host = Host::fixture(Layout::Legacy, tmp.path(), &["cpuset", "devices"]);
    touch(
        &tmp.path().join("cpuset"),
        &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")],
    );
    fs::create_dir_all(tmp.path().join("devices")).unwrap();
    let mut m = new_manager_on(&host, &spec(Some("a/b"), "x")).unwrap();
    // tmpfs does not populate new directories as cgroupfs does, so the cpuset copy
    // (which reads the new level's empty files) fails at the first level: the error
    // names it, and the levels made so far are still recorded for destroy.
    let e = m.apply(1).unwrap_err().to_string();
    assert!(e.contains("cpuset/a/cpuset.cpus"), "{e}");
    assert!(tmp.path().join("cpuset/a/b").is_dir());
    m.destroy().unwrap();
    assert!(!tmp.path().join("cpuset/a").exists());
    assert!(!tmp.path().join("devices/a").exists());
    assert!(
        tmp.path().join("cpuset").exists(),
        "the mount itself is never removed"
    );
}

fn v2_fixture(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, V2Manager) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ctr");
    touch(&dir, files);
    let m = V2Manager::at(tmp.path(), &dir);
    (tmp, dir, m)
}

#[test]
fn v2_every_resource_file() {
    let (_t, d, m) = v2_fixture(&[
        ("memory.max", ""),
        ("memory.low", ""),
        ("memory.swap.max", ""),
        ("memory.current", "4096\n"),
        ("cpu.weight", ""),
        ("cpu.max", "max 100000\n"),
        ("cpu.max.burst", ""),
        ("cpu.idle", ""),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
        ("pids.max", ""),
        ("io.weight", ""),
        ("io.max", ""),
        ("hugetlb.2MB.max", ""),
        ("hugetlb.2MB.rsvd.max", ""),
        ("rdma.max", ""),
        (
            "cgroup.controllers",
            "cpu memory pids io hugetlb rdma cpuset\n",
        ),
    ]);
    m.set(&res(r#"{
        "memory":{"limit":104857600,"reservation":1048576,"swap":314572800,"checkBeforeUpdate":true},
        "cpu":{"shares":1024,"quota":50000,"period":200000,"burst":1000,"idle":0,"cpus":"1","mems":"0"},
        "pids":{"limit":64},
        "blockIO":{"weight":1000,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}],
                   "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":20}]},
        "hugepageLimits":[{"pageSize":"2MB","limit":2097152}],
        "rdma":{"mlx4_0":{"hcaHandles":2}},
        "unified":{"memory.high":"90000000"}
    }"#))
    .unwrap_err(); // memory.high is not in the fixture: the unified write fails last
                   // v2 swap excludes memory: 300M total - 100M memory.
    assert_eq!(get(&d, "memory.swap.max"), "209715200");
    assert_eq!(get(&d, "memory.max"), "104857600");
    assert_eq!(get(&d, "memory.low"), "1048576");
    assert_eq!(get(&d, "cpu.weight"), "39");
    assert_eq!(get(&d, "cpu.max"), "max 100000\n50000 200000");
    assert_eq!(get(&d, "cpu.max.burst"), "1000");
    assert_eq!(get(&d, "cpu.idle"), "0");
    assert_eq!(get(&d, "cpuset.cpus"), "1");
    assert_eq!(get(&d, "pids.max"), "64");
    assert_eq!(get(&d, "io.weight"), "10000");
    assert_eq!(get(&d, "io.max"), "8:0 rbps=10008:0 wiops=20");
    assert_eq!(get(&d, "hugetlb.2MB.max"), "2097152");
    assert_eq!(get(&d, "hugetlb.2MB.rsvd.max"), "2097152");
    assert_eq!(get(&d, "rdma.max"), "mlx4_0 hca_handle=2");
    touch(&d, &[("memory.high", "")]);
    m.set(&res(r#"{"unified":{"memory.high":"90000000"}}"#))
        .unwrap();
    assert_eq!(get(&d, "memory.high"), "90000000");
}

#[test]
fn v2_conversions_and_refusals() {
    let (_t, d, m) = v2_fixture(&[
        ("memory.max", ""),
        ("memory.swap.max", ""),
        ("memory.current", "50000000\n"),
        ("cpu.max", "30000 100000\n"),
        ("io.bfq.weight", ""),
        ("cgroup.controllers", "memory\n"),
    ]);
    // Only the period: the quota in force is kept.
    m.set(&res(r#"{"cpu":{"period":50000}}"#)).unwrap();
    assert_eq!(get(&d, "cpu.max"), "30000 100000\n30000 50000");
    // -1 quota is max; memory -1 without swap unlimits swap too.
    m.set(&res(r#"{"cpu":{"quota":-1},"memory":{"limit":-1}}"#))
        .unwrap();
    assert!(get(&d, "cpu.max").ends_with("max"));
    assert_eq!(get(&d, "memory.swap.max"), "max");
    assert_eq!(get(&d, "memory.max"), "max");
    // memory == swap total: swap disabled.
    m.set(&res(r#"{"memory":{"limit":100000000,"swap":100000000}}"#))
        .unwrap();
    assert_eq!(get(&d, "memory.swap.max"), "max0");
    // BFQ takes the v1 scale directly, and per-device weights.
    m.set(&res(
        r#"{"blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":20}]}}"#,
    ))
    .unwrap();
    assert_eq!(get(&d, "io.bfq.weight"), "3008:0 20");
    let before = get(&d, "memory.max");
    let e = m
        .set(&res(
            r#"{"memory":{"limit":1000,"checkBeforeUpdate":true}}"#,
        ))
        .unwrap_err()
        .to_string();
    assert!(e.contains("below the current usage 50000000"), "{e}");
    assert_eq!(get(&d, "memory.max"), before);
    let e = m
        .set(&res(r#"{"memory":{"limit":100,"swap":50}}"#))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "linux.resources.memory.swap: memory+swap limit should be >= memory limit"
    );
    let e = m
        .set(&res(r#"{"cpu":{"realtimeRuntime":1000}}"#))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.cpu.realtimeRuntime:"), "{e}");
    let e = m
        .set(&res(r#"{"unified":{"cgroup.procs/../x":"1"}}"#))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no slashes"), "{e}");
    let e = m
        .set(&res(r#"{"unified":{"io.max":"8:0 rbps=1"}}"#))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "linux.resources.unified.io.max: unified resource \"io.max\" can't be set: controller \"io\" not available");
    // Swap accounting off: "max" and "0" are what holds anyway.
    fs::remove_file(d.join("memory.swap.max")).unwrap();
    m.set(&res(r#"{"memory":{"limit":-1}}"#)).unwrap();
    let e = m
        .set(&res(r#"{"memory":{"limit":1000,"swap":3000}}"#))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linux.resources.memory.swap: writing \"2000\" to memory.swap.max"),
        "{e}"
    );
}

#[test]
fn unified_placement_relative_goes_under_the_parent_of_our_cgroup() {
    let tmp = tempfile::tempdir().unwrap();
    let mut host = Host::fixture(Layout::Unified, tmp.path(), &[]);
    host.own
        .insert(String::new(), "/user.slice/session-1.scope".into());
    let m = new_manager_on(&host, &spec(None, "c1")).unwrap();
    assert_eq!(m.paths()[""], tmp.path().join("user.slice/c1"));
    let m = new_manager_on(&host, &spec(Some("../../../pods/c2"), "c2")).unwrap();
    assert_eq!(m.paths()[""], tmp.path().join("user.slice/pods/c2"));
    let m = new_manager_on(&host, &spec(Some("/pods/../c3"), "c3")).unwrap();
    assert_eq!(m.paths()[""], tmp.path().join("c3"));
    let saved = m.save();
    assert_eq!(
        sangja_cgroups::load_manager(&saved).unwrap().paths(),
        m.paths()
    );
}

#[test]
fn v1_stats_from_files() {
    let f = V1Fixture::new(Layout::Legacy, V1);
    touch(
        &f.dir("cpuacct"),
        &[
            ("cpuacct.usage", "3000\n"),
            ("cpuacct.usage_percpu", "1000 2000 \n"),
            (
                "cpuacct.usage_all",
                "cpu user system\n0 600 400\n1 1500 500\n",
            ),
            ("cpuacct.stat", "user 2\nsystem 1\n"),
        ],
    );
    touch(
        &f.dir("cpu"),
        &[(
            "cpu.stat",
            "nr_periods 5\nnr_throttled 2\nthrottled_time 777\n",
        )],
    );
    touch(
        &f.dir("memory"),
        &[
            ("memory.stat", "cache 8192\nrss 4096\ntotal_rss 4096\n"),
            ("memory.limit_in_bytes", "99999744\n"),
            ("memory.usage_in_bytes", "12288\n"),
            ("memory.max_usage_in_bytes", "20480\n"),
            ("memory.failcnt", "0\n"),
            ("memory.kmem.tcp.limit_in_bytes", "9223372036854771712\n"),
            ("memory.kmem.tcp.failcnt", "0\n"),
        ],
    );
    touch(
        &f.dir("pids"),
        &[("pids.current", "3\n"), ("pids.max", "max\n")],
    );
    touch(
        &f.dir("cpuset"),
        &[
            ("cpuset.cpus", "0-1\n"),
            ("cpuset.mems", "0\n"),
            ("cpuset.sched_relax_domain_level", "-1\n"),
        ],
    );
    touch(
        &f.dir("blkio"),
        &[
            (
                "blkio.bfq.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
            ),
            ("blkio.bfq.io_serviced_recursive", "8:0 Read 1\n"),
        ],
    );
    touch(
        &f.dir("hugetlb"),
        &[
            ("hugetlb.2MB.limit_in_bytes", "0\n"),
            ("hugetlb.2MB.usage_in_bytes", "2097152\n"),
            ("hugetlb.2MB.failcnt", "1\n"),
        ],
    );
    let s = f.m.stats().unwrap();
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v["cpu"],
        serde_json::json!({"usage":{"total":3000,"percpu":[1000,2000],"percpu_kernel":[400,500],"percpu_user":[600,1500],
            "kernel":10000000,"user":20000000},"throttling":{"periods":5,"throttledPeriods":2,"throttledTime":777}})
    );
    assert_eq!(v["memory"]["cache"], 8192);
    assert_eq!(
        v["memory"]["usage"],
        serde_json::json!({"limit":99999744,"usage":12288,"max":20480,"failcnt":0})
    );
    assert_eq!(
        v["memory"]["swap"],
        serde_json::json!({"limit":0,"failcnt":0})
    );
    assert_eq!(
        v["memory"]["kernelTCP"],
        serde_json::json!({"limit":9223372036854771712u64,"failcnt":0})
    );
    assert_eq!(v["pids"], serde_json::json!({"current":3}));
    assert_eq!(v["cpuset"]["cpus"], serde_json::json!([0, 1]));
    assert_eq!(v["cpuset"]["sched_relax_domain_level"], -1);
    assert_eq!(
        v["blkio"],
        serde_json::json!({"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":4096},{"major":8,"op":"Write"}],
            "ioServicedRecursive":[{"major":8,"op":"Read","value":1}]})
    );
    assert_eq!(
        v["hugetlb"],
        serde_json::json!({"2MB":{"usage":2097152,"failcnt":1}})
    );
}

#[test]
fn v2_stats_from_files() {
    let (_t, _d, m) = v2_fixture(&[
        ("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 1\nthrottled_usec 2\n"),
        ("memory.stat", "anon 4096\nfile 8192\n"),
        ("memory.current", "12288\n"),
        ("memory.max", "max\n"),
        ("memory.swap.current", "0\n"),
        ("memory.swap.max", "max\n"),
        ("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n"),
        ("pids.current", "2\n"),
        ("pids.max", "10\n"),
        ("io.stat", "8:0 rbytes=4096 wbytes=512 rios=2 wios=1 dbytes=0 dios=0\n"),
        ("hugetlb.2MB.max", "max\n"),
        ("hugetlb.2MB.current", "0\n"),
        ("hugetlb.2MB.events", "max 3\n"),
    ]);
    let v = serde_json::to_value(m.stats().unwrap()).unwrap();
    assert_eq!(
        v["cpu"]["usage"],
        serde_json::json!({"total":10000,"kernel":4000,"user":6000})
    );
    assert_eq!(
        v["cpu"]["throttling"],
        serde_json::json!({"periods":3,"throttledPeriods":1,"throttledTime":2000})
    );
    assert_eq!(v["memory"]["cache"], 8192);
    assert_eq!(
        v["memory"]["usage"],
        serde_json::json!({"limit":18446744073709551615u64,"usage":12288,"failcnt":4})
    );
    assert_eq!(v["memory"]["swap"]["usage"], 12288);
    assert_eq!(v["pids"], serde_json::json!({"current":2,"limit":10}));
    assert_eq!(
        v["blkio"]["ioServiceBytesRecursive"][1],
        serde_json::json!({"major":8,"op":"Write","value":512})
    );
    assert_eq!(
        v["blkio"]["ioServicedRecursive"][0],
        serde_json::json!({"major":8,"op":"Read","value":2})
    );
    assert_eq!(v["hugetlb"]["2MB"], serde_json::json!({"failcnt":3}));
}

#[test]
fn v2_freezer_files_and_kill_file() {
    let (_t, d, m) = v2_fixture(&[
        ("cgroup.freeze", ""),
        ("cgroup.events", "populated 1\nfrozen 1\n"),
        ("cgroup.kill", ""),
        ("cgroup.procs", ""),
    ]);
    m.freeze().unwrap();
    assert_eq!(get(&d, "cgroup.freeze"), "1");
    m.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(get(&d, "cgroup.kill"), "1");
    assert_eq!(
        m.freezer_state().unwrap(),
        sangja_cgroups::FreezerState::Frozen
    );
}

#[test]
fn refused_update_puts_old_values_back() {
    let f = V1Fixture::new(Layout::Legacy, &["memory", "devices", "blkio", "pids"]);
    touch(
        &f.dir("memory"),
        &[("memory.limit_in_bytes", "104857600\n")],
    );
    touch(&f.dir("pids"), &[("pids.max", "10\n")]);
    fs::create_dir_all(f.dir("blkio")).unwrap();
    fs::create_dir_all(f.dir("devices")).unwrap();
    // memory and pids are written, then blkio (no weight file here) is refused.
    let new = res(r#"{"memory":{"limit":5000000},"pids":{"limit":20},"blockIO":{"weight":100}}"#);
    let e = sangja_cgroups::update(f.m.as_ref(), &new)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.blockIO.weight"), "{e}");
    // What was in force before is written back.
    assert_eq!(
        get(&f.dir("memory"), "memory.limit_in_bytes"),
        "104857600\n5000000104857600"
    );
    assert_eq!(get(&f.dir("pids"), "pids.max"), "10\n2010");
    // A container whose cgroup is gone cannot be updated.
    fs::remove_dir_all(f.dir("devices")).unwrap();
    let e = sangja_cgroups::update(f.m.as_ref(), &new)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "container not running");
}

#[test]
fn v2_snapshot_is_written_back_raw() {
    let (_t, d, m) = v2_fixture(&[
        ("cpu.weight", "100\n"),
        ("cpu.max", "max 100000\n"),
        ("cpuset.cpus", "\n"),
        ("pids.max", "max\n"),
        ("cgroup.controllers", "cpu cpuset pids\n"),
    ]);
    let e = sangja_cgroups::update(&m, &res(r#"{"cpu":{"cpus":"1","shares":2048},"pids":{"limit":5},"unified":{"nosuch.file":"1"}}"#))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nosuch"), "{e}");
    assert_eq!(get(&d, "cpuset.cpus"), "\n1\n");
    assert_eq!(get(&d, "cpu.weight"), "100\n79100");
    assert_eq!(get(&d, "cpu.max"), "max 100000\nmax 100000");
    assert_eq!(get(&d, "pids.max"), "max\n5max");
}

#[test]
fn v2_oom_watcher_counts_oom_kills_and_sees_removal() {
    use sangja_cgroups::OomWait;
    use std::time::Duration;
    let (_t, d, m) = v2_fixture(&[("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")]);
    let mut w = m.oom_watcher().unwrap();
    assert_eq!(
        w.wait(Some(Duration::from_millis(1))).unwrap(),
        OomWait::Timeout
    );
    fs::write(
        d.join("memory.events"),
        "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n",
    )
    .unwrap();
    assert_eq!(w.wait(None).unwrap(), OomWait::Oom(2));
    assert_eq!(w.oom_kills().unwrap(), 2);
    fs::remove_file(d.join("memory.events")).unwrap();
    assert_eq!(w.wait(None).unwrap(), OomWait::Gone);
}
