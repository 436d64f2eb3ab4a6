//! runc 1.1.5 as the oracle: a busybox container run by runc, and this crate's answer
//! for the same config (placement, devices.list, the `events --stats` shape).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libtest_mimic::Trial;
use sangja_cgroups::{new_manager, Layout, Spec};

use crate::support::{read, unique, wait_until, Guard, Proc};
use crate::{needs_root, trial};

fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn needs_runc() -> Option<String> {
    needs_root()
        .or_else(|| match Command::new("runc").arg("--version").output() {
            Ok(o) if o.status.success() => None,
            _ => Some("runc is not installed".into()),
        })
        .or_else(|| {
            busybox()
                .is_none()
                .then(|| "busybox-static is not installed".into())
        })
        .or_else(|| match sangja_cgroups::detect_layout() {
            Ok(Layout::Unified) => {
                Some("the runc comparison is written for v1/hybrid hosts".into())
            }
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        })
}

/// A runc container, deleted (forced) on drop.
struct RuncContainer {
    root: PathBuf,
    id: String,
    _tmp: tempfile::TempDir,
}

impl RuncContainer {
    fn run(cgroups_path: &str, resources: serde_json::Value) -> RuncContainer {
        let tmp = tempfile::tempdir().unwrap();
        let bundle_buf = tmp.path().to_path_buf();
        let bundle = bundle_buf.as_path();
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(busybox().unwrap(), bin.join("busybox")).unwrap();
        for applet in ["sh", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let st = Command::new("runc")
            .arg("spec")
            .current_dir(bundle)
            .status()
            .unwrap();
        assert!(st.success(), "runc spec");
        let cfg_path = bundle.join("config.json");
        let mut cfg: serde_json::Value = serde_json::from_str(&read(&cfg_path)).unwrap();
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        cfg["linux"]["cgroupsPath"] = cgroups_path.into();
        cfg["linux"]["resources"] = resources;
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        let root = bundle.join("state");
        let id = unique("runc");
        let c = RuncContainer {
            root,
            id,
            _tmp: tmp,
        };
        let out = Command::new("runc")
            .arg("--root")
            .arg(&c.root)
            .args(["run", "-d", &c.id])
            .current_dir(bundle)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe: the detached container keeps its stdio open, and a
            // pipe would never reach EOF.
            .stderr(std::fs::File::create(bundle.join("runc.err")).unwrap())
            .status()
            .unwrap();
        assert!(out.success(), "runc run: {}", read(bundle.join("runc.err")));
        c
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&read(self.root.join(&self.id).join("state.json"))).unwrap()
    }

    fn stats(&self) -> serde_json::Value {
        let out = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["events", "--stats", &self.id])
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "-f", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "runc::same_placement_for_relative_path",
            needs_runc,
            same_placement,
        ),
        trial("runc::same_devices_list", needs_runc, same_devices_list),
        trial("runc::same_stats_shape", needs_runc, same_stats_shape),
    ]
}

fn runc_paths(c: &RuncContainer) -> std::collections::BTreeMap<String, PathBuf> {
    serde_json::from_value(c.state()["cgroup_paths"].clone()).unwrap()
}

/// Removes the listed directories' parents on drop (runc leaves parents it created).
struct RmParents(Vec<PathBuf>);

impl Drop for RmParents {
    fn drop(&mut self) {
        for p in &self.0 {
            if let Some(parent) = p.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

fn same_placement() {
    let parent = unique("place");
    let rel = format!("../{parent}/./ctr");
    // Declared before the container, so it runs after the container's delete.
    let mut leftovers = RmParents(Vec::new());
    let c = RuncContainer::run(&rel, serde_json::json!({}));
    let theirs = runc_paths(&c);
    leftovers.0 = theirs.values().cloned().collect();
    let id = unique("mine");
    let m = new_manager(&Spec {
        cgroups_path: Some(&rel),
        container_id: &id,
        systemd: false,
        rootless: false,
    })
    .unwrap();
    let ours = m.paths();
    // runc joins a few hierarchies we may list differently (misc); compare what both have.
    for (k, p) in &ours {
        if let Some(t) = theirs.get(k) {
            assert_eq!(p, t, "controller {k:?}");
        }
    }
    assert!(ours.contains_key("") == theirs.contains_key(""));
}

fn list(p: &Path) -> BTreeSet<String> {
    read(p.join("devices.list"))
        .lines()
        .map(str::to_string)
        .collect()
}

fn same_devices_list() {
    let res = serde_json::json!({"devices":[{"allow":false,"access":"rwm"},
        {"allow":true,"type":"c","major":1,"minor":3,"access":"r"},
        {"allow":true,"type":"b","major":7,"access":"rw"}]});
    let c = RuncContainer::run(&format!("/{}", unique("dev")), res.clone());
    let theirs = list(&runc_paths(&c)["devices"]);
    let spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
        "ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"resources":res}}))
    .unwrap();
    let id = unique("devs");
    let mut g = Guard::new(
        new_manager(&Spec {
            cgroups_path: None,
            container_id: &id,
            systemd: false,
            rootless: false,
        })
        .unwrap(),
    );
    let sleeper = Proc::sleep();
    g.m.apply(sleeper.pid()).unwrap();
    let mut r = oci_spec::runtime::LinuxResources::default();
    r.set_devices(Some(sangja_cgroups::device_rules(&spec)));
    g.m.set(&r).unwrap();
    assert_eq!(list(&g.m.paths()["devices"]), theirs);
    drop(sleeper);
}

/// Every key runc prints, we print (values differ: two different processes).
fn keys(v: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            let name = format!("{prefix}.{k}");
            // Per-stat names under memory.raw depend on the kernel, compared as a set below.
            if prefix == ".memory.raw" {
                continue;
            }
            out.insert(name.clone());
            keys(x, &name, out);
        }
    }
}

fn same_stats_shape() {
    let res = serde_json::json!({"memory":{"limit":100000000},"pids":{"limit":50}});
    let c = RuncContainer::run(&format!("/{}", unique("stats")), res);
    let theirs = c.stats();
    assert_eq!(theirs["type"], "stats");
    let saved = serde_json::json!({
        "driver":"cgroupfs-v1","layout":"hybrid","paths":runc_paths(&c),"mounts":{},"created":[]});
    // A manager over runc's own cgroups (created: none, so it removes nothing).
    let m = sangja_cgroups::load_manager(&saved).unwrap();
    wait_until("runc container running", || {
        m.pids().map(|p| !p.is_empty()).unwrap_or(false)
    });
    let ours = serde_json::to_value(m.stats().unwrap()).unwrap();
    let theirs = &theirs["data"];
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    keys(&ours, "", &mut a);
    keys(theirs, "", &mut b);
    // omitempty fields come and go with the values (e.g. throttling counts).
    let volatile = |k: &String| {
        k.starts_with(".cpu.throttling.") || k.starts_with(".blkio.") || k == ".memory.cache"
    };
    let a: BTreeSet<_> = a.into_iter().filter(|k| !volatile(k)).collect();
    let b: BTreeSet<_> = b.into_iter().filter(|k| !volatile(k)).collect();
    assert_eq!(a, b);
    let raw = |v: &serde_json::Value| -> BTreeSet<String> {
        v["memory"]["raw"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(raw(&ours), raw(theirs));
    assert_eq!(ours["pids"], theirs["pids"]);
    assert_eq!(
        ours["memory"]["usage"]["limit"],
        theirs["memory"]["usage"]["limit"]
    );
    assert_eq!(ours["cpuset"], theirs["cpuset"]);
}
