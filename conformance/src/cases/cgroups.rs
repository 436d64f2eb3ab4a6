//! linux.resources and linux.cgroupsPath: limits read back from the host's
//! cgroup files of the container's init, and limits that change behaviour
//! (a pids limit stops fork).

use serde_json::{json, Value};
use std::path::PathBuf;

use crate::case::{Case, CaseError, CaseResult};
use crate::cases::util::sleeper;
use crate::cgroups;
use crate::config::Config;
use crate::harness::Ctx;
use crate::host::Need;
use crate::{ensure, ensure_eq, fail};

const RUNC_LACKS: &str = "runc 1.1.5 lacks this field (ignores it): the spec decides";

pub static CASES: &[Case] = &[
    Case { id: "cgroup.memory", field: "linux.resources.memory", needs: &[Need::CgroupV1("memory")], note: None, run: memory },
    Case { id: "cgroup.memory-swap", field: "linux.resources.memory.swap", needs: &[Need::CgroupV1("memory")], note: None, run: memory_swap },
    Case { id: "cgroup.memory-oom-killer", field: "linux.resources.memory.disableOOMKiller", needs: &[Need::CgroupV1("memory")], note: None, run: oom_killer },
    Case { id: "cgroup.cpu", field: "linux.resources.cpu", needs: &[Need::CgroupV1("cpu")], note: None, run: cpu },
    Case { id: "cgroup.cpu-burst", field: "linux.resources.cpu.burst", needs: &[Need::CgroupV1("cpu")], note: Some(RUNC_LACKS), run: cpu_burst },
    Case { id: "cgroup.cpu-idle", field: "linux.resources.cpu.idle", needs: &[Need::CgroupV1("cpu")], note: Some(RUNC_LACKS), run: cpu_idle },
    Case { id: "cgroup.cpuset", field: "linux.resources.cpu.cpus/mems", needs: &[Need::CgroupV1("cpuset")], note: None, run: cpuset },
    Case { id: "cgroup.pids", field: "linux.resources.pids", needs: &[Need::CgroupV1("pids")], note: None, run: pids },
    Case { id: "cgroup.pids-blocks-fork", field: "linux.resources.pids", needs: &[Need::CgroupV1("pids")], note: None, run: pids_blocks_fork },
    Case { id: "cgroup.blkio-throttle", field: "linux.resources.blockIO.throttle*", needs: &[Need::CgroupV1("blkio")], note: None, run: blkio_throttle },
    Case { id: "cgroup.blkio-weight", field: "linux.resources.blockIO.weight", needs: &[Need::CgroupV1("blkio")], note: None, run: blkio_weight },
    Case { id: "cgroup.devices", field: "linux.resources.devices", needs: &[Need::CgroupV1("devices")], note: None, run: devices },
    Case { id: "cgroup.hugetlb", field: "linux.resources.hugepageLimits", needs: &[Need::Hugetlb], note: None, run: hugetlb },
    Case { id: "cgroup.rdma", field: "linux.resources.rdma", needs: &[Need::Rdma], note: None, run: rdma },
    Case { id: "cgroup.network", field: "linux.resources.network", needs: &[Need::CgroupV1("net_cls")], note: None, run: network },
    Case { id: "cgroup.path-absolute", field: "linux.cgroupsPath", needs: &[], note: None, run: path_absolute },
    Case { id: "cgroup.path-relative", field: "linux.cgroupsPath", needs: &[], note: Some("the spec lets the runtime place a relative path; expected as runc: under the caller's cgroup"), run: path_relative },
    Case { id: "cgroup.bad-cpuset", field: "linux.resources.cpu.cpus", needs: &[Need::CgroupV1("cpuset")], note: None, run: bad_cpuset },
    Case { id: "cgroup.bad-quota", field: "linux.resources.cpu.quota", needs: &[Need::CgroupV1("cpu")], note: None, run: bad_quota },
    Case { id: "cgroup.unified-on-v1", field: "linux.resources.unified", needs: &[Need::CgroupV1("pids")], note: None, run: unified_on_v1 },
    Case { id: "cgroup.cpu-realtime", field: "linux.resources.cpu.realtimeRuntime/Period", needs: &[Need::CgroupV1("cpu")], note: None, run: cpu_realtime },
    Case { id: "cgroup.memory-swap-below-limit", field: "linux.resources.memory.swap", needs: &[Need::CgroupV1("memory")], note: None, run: swap_below_limit },
    Case { id: "cgroup.intel-rdt", field: "linux.intelRdt", needs: &[Need::Resctrl], note: None, run: intel_rdt },
    Case { id: "cgroup.memory-kernel-ignored", field: "linux.resources.memory.kernel", needs: &[Need::CgroupV1("memory")], note: Some("kernel memory limits are deprecated: accepted and ignored (runc warns)"), run: memory_kernel_ignored },
];

/// Creates a sleeping container with `resources`, reads each (controller,
/// file) of its init from the host, deletes it, and returns the values.
fn read_back(
    ctx: &mut Ctx,
    resources: Value,
    files: &[(&str, &str)],
) -> Result<Vec<String>, CaseError> {
    let mut cfg = sleeper();
    cfg.set("/linux/resources", resources);
    let (id, pid) = ctx.create_ok(&cfg)?;
    let values: Result<Vec<String>, String> = files
        .iter()
        .map(|(c, f)| cgroups::read(pid, c, f))
        .collect();
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    values.map_err(CaseError::Fail)
}

fn memory(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(
        ctx,
        json!({"memory": {"limit": 67108864, "reservation": 33554432, "swappiness": 10}}),
        &[
            ("memory", "memory.limit_in_bytes"),
            ("memory", "memory.soft_limit_in_bytes"),
            ("memory", "memory.swappiness"),
        ],
    )?;
    ensure_eq!(
        v,
        vec!["67108864", "33554432", "10"],
        "memory.limit_in_bytes, soft_limit_in_bytes, swappiness"
    );
    Ok(())
}

fn memory_swap(ctx: &mut Ctx) -> CaseResult {
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        return Err(CaseError::Skip(
            "host: no swap accounting (memory.memsw.*)".into(),
        ));
    }
    let v = read_back(
        ctx,
        json!({"memory": {"limit": 67108864, "swap": 134217728}}),
        &[("memory", "memory.memsw.limit_in_bytes")],
    )?;
    ensure_eq!(
        v,
        vec!["134217728"],
        "memory.memsw.limit_in_bytes (memory+swap)"
    );
    Ok(())
}

fn oom_killer(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(
        ctx,
        json!({"memory": {"limit": 67108864, "disableOOMKiller": true}}),
        &[("memory", "memory.oom_control")],
    )?;
    ensure!(
        v[0].lines().any(|l| l == "oom_kill_disable 1"),
        "memory.oom_control: {:?}",
        v[0]
    );
    Ok(())
}

fn cpu(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(
        ctx,
        json!({"cpu": {"shares": 512, "quota": 50000, "period": 100000}}),
        &[
            ("cpu", "cpu.shares"),
            ("cpu", "cpu.cfs_quota_us"),
            ("cpu", "cpu.cfs_period_us"),
        ],
    )?;
    ensure_eq!(
        v,
        vec!["512", "50000", "100000"],
        "cpu.shares, cfs_quota_us, cfs_period_us"
    );
    Ok(())
}

fn host_file_exists(controller: &str, file: &str) -> CaseResult {
    let p = PathBuf::from("/sys/fs/cgroup").join(controller).join(file);
    if p.exists() {
        Ok(())
    } else {
        Err(CaseError::Skip(format!(
            "host: kernel has no {}",
            p.display()
        )))
    }
}

fn cpu_burst(ctx: &mut Ctx) -> CaseResult {
    host_file_exists("cpu", "cpu.cfs_burst_us")?;
    let v = read_back(
        ctx,
        json!({"cpu": {"quota": 50000, "period": 100000, "burst": 20000}}),
        &[("cpu", "cpu.cfs_burst_us")],
    )?;
    ensure_eq!(v, vec!["20000"], "cpu.cfs_burst_us");
    Ok(())
}

fn cpu_idle(ctx: &mut Ctx) -> CaseResult {
    host_file_exists("cpu", "cpu.idle")?;
    let v = read_back(ctx, json!({"cpu": {"idle": 1}}), &[("cpu", "cpu.idle")])?;
    ensure_eq!(v, vec!["1"], "cpu.idle");
    Ok(())
}

fn cpuset(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(
        ctx,
        json!({"cpu": {"cpus": "0", "mems": "0"}}),
        &[("cpuset", "cpuset.cpus"), ("cpuset", "cpuset.mems")],
    )?;
    ensure_eq!(v, vec!["0", "0"], "cpuset.cpus, cpuset.mems");
    Ok(())
}

fn pids(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(ctx, json!({"pids": {"limit": 42}}), &[("pids", "pids.max")])?;
    ensure_eq!(v, vec!["42"], "pids.max");
    Ok(())
}

/// With pids.limit 4 the container (checker = 1 task) can start at most 3
/// children, and fork then fails with EAGAIN.
fn pids_blocks_fork(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/linux/resources/pids", json!({"limit": 4}));
    let r = ctx.check(cfg, &["spawn", "10"])?;
    let p = r.probe(0);
    ensure_eq!(
        p["started"].as_u64(),
        Some(3),
        "children started under pids.limit 4"
    );
    ensure_eq!(
        p["failure"]["errno"].as_i64(),
        Some(libc::EAGAIN as i64),
        "errno of the fork past the limit"
    );
    Ok(())
}

/// The first real block device of the host as (major, minor).
fn block_device() -> Option<(u64, u64)> {
    let mut devs: Vec<(u64, u64)> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with("loop"))
        .filter_map(|e| {
            let s = std::fs::read_to_string(e.path().join("dev")).ok()?;
            let (a, b) = s.trim().split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    devs.sort();
    devs.into_iter().next()
}

fn blkio_throttle(ctx: &mut Ctx) -> CaseResult {
    let Some((major, minor)) = block_device() else {
        return Err(CaseError::Skip("host: no block device".into()));
    };
    let v = read_back(
        ctx,
        json!({"blockIO": {
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]
        }}),
        &[
            ("blkio", "blkio.throttle.read_bps_device"),
            ("blkio", "blkio.throttle.write_iops_device"),
        ],
    )?;
    ensure_eq!(
        v,
        vec![
            format!("{major}:{minor} 1048576"),
            format!("{major}:{minor} 100")
        ],
        "blkio.throttle.read_bps_device, write_iops_device"
    );
    Ok(())
}

/// Which blkio weight file a fresh child cgroup gets on this kernel (it only
/// appears in non-root cgroups, and only as the BFQ one with BFQ in use).
fn blkio_weight_file() -> Result<&'static str, CaseError> {
    let own = cgroups::own()
        .into_iter()
        .find(|m| m.controllers.split(',').any(|c| c == "blkio"))
        .and_then(|m| m.dir)
        .ok_or_else(|| CaseError::Skip("host: no blkio hierarchy".into()))?;
    let probe = own.join(format!("sangja-conformance-probe-{}", std::process::id()));
    std::fs::create_dir(&probe)
        .map_err(|e| CaseError::Harness(format!("cannot create {}: {e}", probe.display())))?;
    let found = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| probe.join(f).exists());
    let _ = std::fs::remove_dir(&probe);
    found.ok_or_else(|| {
        CaseError::Skip("host: no blkio weight file in child cgroups (no CFQ/BFQ scheduler)".into())
    })
}

fn blkio_weight(ctx: &mut Ctx) -> CaseResult {
    let file = blkio_weight_file()?;
    let mut cfg = sleeper();
    cfg.set("/linux/resources/blockIO", json!({"weight": 300}));
    let (id, pid) = ctx.create_ok(&cfg)?;
    let value = cgroups::read(pid, "blkio", file);
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    let w = value.map_err(CaseError::Fail)?;
    // blkio.weight holds the number; blkio.bfq.weight reads "default 300".
    ensure!(w.split_whitespace().last() == Some("300"), "{file}: {w:?}");
    Ok(())
}

fn devices(ctx: &mut Ctx) -> CaseResult {
    let res = json!({"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]});
    let v = read_back(ctx, res, &[("devices", "devices.list")])?;
    let list: Vec<&str> = v[0].lines().collect();
    ensure!(
        !list.contains(&"a *:* rwm"),
        "devices.list still allows everything: {list:?}"
    );
    ensure!(
        list.contains(&"c 10:229 rw"),
        "devices.list lacks the allowed c 10:229 rw: {list:?}"
    );
    ensure!(
        list.contains(&"c 1:3 rwm"),
        "devices.list lacks /dev/null (a default device): {list:?}"
    );
    Ok(())
}

fn hugetlb(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(
        ctx,
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 20971520}]}),
        &[("hugetlb", "hugetlb.2MB.limit_in_bytes")],
    )?;
    ensure_eq!(v, vec!["20971520"], "hugetlb.2MB.limit_in_bytes");
    Ok(())
}

fn rdma(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(
        ctx,
        json!({"rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 10000}}}),
        &[("rdma", "rdma.max")],
    )?;
    ensure!(
        v[0].contains("mlx5_0 hca_handle=3 hca_object=10000"),
        "rdma.max: {:?}",
        v[0]
    );
    Ok(())
}

fn network(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(
        ctx,
        json!({"network": {"classID": 1048577}}),
        &[("net_cls", "net_cls.classid")],
    )?;
    ensure_eq!(v, vec!["1048577"], "net_cls.classid");
    Ok(())
}

/// Every hierarchy directory for `path` (relative to each hierarchy root),
/// deepest first, so the case can remove what it named.
fn hierarchy_dirs(path: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for m in cgroups::own() {
        if let Some(dir) = m.dir {
            let root = dir
                .to_string_lossy()
                .trim_end_matches(m.path.trim_start_matches('/'))
                .trim_end_matches('/')
                .to_string();
            out.push(PathBuf::from(root).join(path.trim_start_matches('/')));
        }
    }
    out
}

fn path_absolute(ctx: &mut Ctx) -> CaseResult {
    let parent = format!("sangja-conformance-{}", std::process::id());
    for d in hierarchy_dirs(&parent) {
        ctx.remove_at_end(d);
    }
    let mut cfg = sleeper();
    let path = format!("/{parent}/abs");
    cfg.set("/linux/cgroupsPath", json!(path));
    let (id, pid) = ctx.create_ok(&cfg)?;
    let theirs = cgroups::of_pid(pid);
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    let mut checked = 0;
    for m in theirs
        .iter()
        .filter(|m| m.dir.is_some() && !m.controllers.starts_with("name="))
    {
        ensure_eq!(
            m.path,
            path,
            format!("cgroup path in hierarchy {:?}", m.controllers)
        );
        checked += 1;
    }
    if checked == 0 {
        fail!("the container is in no mounted cgroup hierarchy");
    }
    Ok(())
}

fn path_relative(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set("/linux/cgroupsPath", json!("sangja-rel/inner"));
    let own = cgroups::own();
    for m in &own {
        if let Some(d) = &m.dir {
            ctx.remove_at_end(d.join("sangja-rel"));
        }
    }
    let (id, pid) = ctx.create_ok(&cfg)?;
    let theirs = cgroups::of_pid(pid);
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    for m in own
        .iter()
        .filter(|m| m.dir.is_some() && !m.controllers.starts_with("name="))
    {
        let want = format!("{}/sangja-rel/inner", m.path.trim_end_matches('/'));
        let got = theirs
            .iter()
            .find(|t| t.controllers == m.controllers)
            .map(|t| t.path.clone());
        ensure_eq!(
            got,
            Some(want),
            format!("cgroup path in hierarchy {:?}", m.controllers)
        );
    }
    Ok(())
}

fn bad_cpuset(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set("/linux/resources/cpu", json!({"cpus": "99"}));
    let out = ctx.refused(&cfg, "create")?;
    ensure!(
        out.stderr.contains("cpuset") || out.stderr.contains("99"),
        "error does not name cpuset.cpus: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn bad_quota(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set(
        "/linux/resources/cpu",
        json!({"quota": 500, "period": 100000}),
    );
    let out = ctx.refused(&cfg, "create")?;
    ensure!(
        out.stderr.contains("cfs_quota")
            || out.stderr.contains("quota")
            || out.stderr.contains("cpu.max"),
        "error does not name the quota: {}",
        out.stderr.trim()
    );
    Ok(())
}

/// unified keys name cgroup v2 files; where the controller lives on v1 the
/// runtime cannot apply them and MUST refuse.
fn unified_on_v1(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set("/linux/resources/unified", json!({"pids.max": "10"}));
    let out = ctx.refused(&cfg, "create")?;
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("unified") || e.contains("v2") || e.contains("pids.max"),
        "error does not explain unified: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn cpu_realtime(ctx: &mut Ctx) -> CaseResult {
    host_file_exists("cpu", "cpu.rt_runtime_us")?;
    let v = read_back(
        ctx,
        json!({"cpu": {"realtimePeriod": 100000, "realtimeRuntime": 10000}}),
        &[("cpu", "cpu.rt_period_us"), ("cpu", "cpu.rt_runtime_us")],
    )?;
    ensure_eq!(
        v,
        vec!["100000", "10000"],
        "cpu.rt_period_us, rt_runtime_us"
    );
    Ok(())
}

/// memory.swap is memory+swap: a value below the memory limit is refused.
fn swap_below_limit(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set(
        "/linux/resources/memory",
        json!({"limit": 67108864, "swap": 33554432}),
    );
    let out = ctx.refused(&cfg, "create")?;
    ensure!(
        out.stderr.to_lowercase().contains("swap"),
        "error does not name swap: {}",
        out.describe()
    );
    Ok(())
}

fn intel_rdt(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = sleeper();
    cfg.set(
        "/linux/intelRdt",
        json!({"closID": "sangja-conformance", "l3CacheSchema": "L3:0=f"}),
    );
    let (id, _) = ctx.create_ok(&cfg)?;
    let schemata =
        std::fs::read_to_string("/sys/fs/resctrl/sangja-conformance/schemata").unwrap_or_default();
    let out = ctx.delete(&id, true)?;
    ensure!(out.ok(), "delete --force failed: {}", out.describe());
    ensure!(
        schemata.contains("L3:0=f"),
        "resctrl schemata: {schemata:?}"
    );
    Ok(())
}

fn memory_kernel_ignored(ctx: &mut Ctx) -> CaseResult {
    let v = read_back(
        ctx,
        json!({"memory": {"limit": 67108864, "kernel": 33554432, "kernelTCP": 16777216}}),
        &[("memory", "memory.limit_in_bytes")],
    )?;
    ensure_eq!(
        v,
        vec!["67108864"],
        "memory.limit_in_bytes beside the ignored kernel limits"
    );
    Ok(())
}
