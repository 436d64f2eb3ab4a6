//! The cgroup2 manager (unified hosts): one directory, controllers enabled on the way.

pub(crate) mod cpu;
pub(crate) mod freezer;
pub(crate) mod hugetlb;
pub(crate) mod io;
pub(crate) mod memory;
pub(crate) mod unified;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::devices::{to_rules, Emulator};
use crate::host::{join_inner, Host};
use crate::oom::OomWatcher;
use crate::path::go_clean;
use crate::resources as res;
use crate::stats::Stats;
use crate::{common, fsutil, v1, Error, FreezerState, Manager};

pub const DRIVER: &str = "cgroupfs-v2";

/// What `update` can change, as files.
const SNAPSHOT_FILES: &[&str] = &[
    "cpu.weight",
    "cpu.max",
    "cpuset.cpus",
    "cpuset.mems",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "pids.max",
    "io.weight",
    "io.bfq.weight",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct V2Manager {
    driver: String,
    mount: PathBuf,
    dir: PathBuf,
    created: Vec<PathBuf>,
    /// Whether [`Manager::create`] ran (this process only).
    #[serde(skip)]
    made: bool,
}

impl V2Manager {
    /// runc's fs2 placement: absolute under the mount; relative under the *parent* of
    /// our own cgroup (our own one holds processes, so it cannot delegate controllers).
    pub fn new(host: &Host, inner: &str) -> Result<V2Manager, Error> {
        let mount = host
            .unified
            .as_ref()
            .ok_or_else(|| Error::NotMounted("cgroup2".into()))?;
        let dir = if inner.starts_with('/') {
            join_inner(&mount.mountpoint, inner)
        } else {
            let own = host.own.get("").map(String::as_str).unwrap_or("/");
            let rel = own.strip_prefix(mount.root.as_str()).unwrap_or(own);
            let parent = go_clean(&format!("/{rel}/.."));
            join_inner(&join_inner(&mount.mountpoint, &parent), inner)
        };
        Ok(Self::at(&mount.mountpoint, &dir))
    }

    /// A manager for `dir` inside the cgroup2 tree mounted (or delegated) at `mount`.
    pub fn at(mount: &Path, dir: &Path) -> V2Manager {
        V2Manager {
            driver: DRIVER.into(),
            mount: mount.to_path_buf(),
            dir: dir.to_path_buf(),
            created: Vec::new(),
            made: false,
        }
    }

    pub fn load(saved: &serde_json::Value) -> Result<V2Manager, Error> {
        serde_json::from_value(saved.clone()).map_err(|e| Error::Saved(e.to_string()))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Enables every controller a level offers for its children, as runc does from the
    /// mount down to the container's parent. Some may be refused (a threaded subtree,
    /// a realtime process holding cpu): those are skipped one by one.
    fn enable_controllers(&self) {
        let mut chain = vec![self.mount.clone()];
        chain.extend(common::levels(&self.mount, &self.dir));
        chain.pop();
        for level in chain {
            let Ok(avail) = fsutil::read(&level, "cgroup.controllers") else {
                continue;
            };
            let ctrls: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
            if ctrls.is_empty() {
                continue;
            }
            if fsutil::write(
                &level,
                "cgroup.subtree_control",
                &ctrls.join(" "),
                "cgroup.subtree_control",
            )
            .is_err()
            {
                for c in &ctrls {
                    if let Err(e) = fsutil::write(
                        &level,
                        "cgroup.subtree_control",
                        c,
                        "cgroup.subtree_control",
                    ) {
                        tracing::debug!("{e}");
                    }
                }
            }
        }
    }
}

impl Manager for V2Manager {
    fn create(&mut self) -> Result<(), Error> {
        let (mount, dir) = (self.mount.clone(), self.dir.clone());
        common::mkdir_p(&mount, &dir, &mut self.created)?;
        self.enable_controllers();
        self.made = true;
        Ok(())
    }

    fn apply(&mut self, pid: i32) -> Result<(), Error> {
        if !self.made {
            self.create()?;
        }
        common::join(&self.dir, pid)
    }

    fn join(&self, pid: i32) -> Result<(), Error> {
        common::join(&self.dir, pid)
    }

    fn set(&self, r: &LinuxResources) -> Result<(), Error> {
        let d = self.dir.as_path();
        // Everything that can be refused without writing is refused first.
        res::warn_kernel_memory(r);
        if let Some(m) = r.memory() {
            memory::validate(m)?;
        }
        if let Some(c) = r.cpu() {
            cpu::validate(c)?;
        }
        if let Some(u) = r.unified() {
            unified::validate(u)?;
        }
        let devices = match r.devices() {
            Some(list) => Some(Emulator::from_rules(&to_rules(list)?)?),
            None => None,
        };
        if res::has_net_cls(r) || res::has_net_prio(r) {
            tracing::warn!(
                "linux.resources.network is ignored: cgroup v2 has no net_cls/net_prio controllers"
            );
        }
        // cpuset first: a CPU list outside the host is the likeliest refusal, and
        // nothing else has been written when it comes.
        if let (Some(c), true) = (r.cpu(), res::has_cpuset(r)) {
            v1::cpuset::set(d, c)?;
        }
        if let (Some(p), true) = (r.pids(), res::has_pids(r)) {
            v1::pids::set(d, p)?;
        }
        if let (Some(m), true) = (r.memory(), res::has_memory(r)) {
            memory::set(d, m)?;
        }
        if let (Some(b), true) = (r.block_io(), res::has_blkio(r)) {
            io::set(d, b)?;
        }
        if let (Some(c), true) = (r.cpu(), res::has_cpu(r)) {
            cpu::set(d, c)?;
        }
        if let Some(emu) = &devices {
            crate::bpf::apply(d, emu).map_err(|source| Error::Bpf {
                path: d.to_path_buf(),
                source,
            })?;
        }
        if let (Some(h), true) = (r.hugepage_limits(), res::has_hugetlb(r)) {
            hugetlb::set(d, h)?;
        }
        if let (Some(m), true) = (r.rdma(), res::has_rdma(r)) {
            v1::rdma::set(d, m)?;
        }
        if let Some(u) = r.unified() {
            unified::set(d, u)?;
        }
        Ok(())
    }

    fn freeze(&self) -> Result<(), Error> {
        freezer::freeze(&self.dir)
    }

    fn thaw(&self) -> Result<(), Error> {
        freezer::thaw(&self.dir)
    }

    fn freezer_state(&self) -> Result<FreezerState, Error> {
        freezer::state(&self.dir)
    }

    fn pids(&self) -> Result<Vec<i32>, Error> {
        fsutil::read_pids_recursive(&self.dir)
    }

    fn stats(&self) -> Result<Stats, Error> {
        let d = self.dir.as_path();
        let mut s = Stats::default();
        cpu::stats(d, &mut s.cpu)?;
        if fsutil::exists(d, "cpuset.cpus.effective") {
            let list = fsutil::read(d, "cpuset.cpus.effective")?;
            s.cpuset.cpus = crate::stats::parse_cpuset_list(&list).unwrap_or_default();
            let mems = fsutil::read(d, "cpuset.mems.effective")?;
            s.cpuset.mems = crate::stats::parse_cpuset_list(&mems).unwrap_or_default();
        }
        memory::stats(d, &mut s.memory)?;
        if fsutil::exists(d, "pids.current") {
            v1::pids::stats(d, &mut s.pids)?;
        }
        io::stats(d, &mut s.blkio)?;
        hugetlb::stats(d, &mut s.hugetlb)?;
        Ok(s)
    }

    fn oom_watcher(&self) -> Result<OomWatcher, Error> {
        OomWatcher::v2(&self.dir)
    }

    fn kill_all(&self, signal: i32) -> Result<(), Error> {
        if signal == libc::SIGKILL && fsutil::exists(&self.dir, "cgroup.kill") {
            return fsutil::write(&self.dir, "cgroup.kill", "1", "cgroup.kill");
        }
        common::signal_frozen(self, signal)
    }

    fn destroy(&self) -> Result<(), Error> {
        common::remove_created(&self.created, &[self.dir.as_path()])
    }

    fn save(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serialises")
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        BTreeMap::from([(String::new(), self.dir.clone())])
    }

    /// Raw file contents under `unified`: set() writes them back exactly, with no
    /// conversion to lose precision (cpu.weight from shares, say).
    fn snapshot(&self) -> LinuxResources {
        let mut files = std::collections::HashMap::new();
        for f in SNAPSHOT_FILES {
            if let Ok(v) = fsutil::read(&self.dir, f) {
                let v = v.trim();
                // An empty cpuset means "inherit"; a bare newline writes that back.
                files.insert(
                    f.to_string(),
                    if v.is_empty() {
                        "\n".into()
                    } else {
                        v.to_string()
                    },
                );
            }
        }
        let mut r = LinuxResources::default();
        r.set_unified(Some(files));
        r
    }

    fn exists(&self) -> bool {
        self.dir.is_dir()
    }
}
