//! The v1 manager (legacy and hybrid hosts): one directory per mounted controller,
//! plus, on hybrid hosts, the same path in the cgroup2 tree (runc's "" entry).

pub(crate) mod blkio;
pub(crate) mod cpu;
pub(crate) mod cpuacct;
pub(crate) mod cpuset;
pub(crate) mod devices;
pub(crate) mod freezer;
pub(crate) mod hugetlb;
pub(crate) mod memory;
pub(crate) mod net_cls;
pub(crate) mod net_prio;
pub(crate) mod pids;
pub(crate) mod rdma;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::devices::{to_rules, Emulator};
use crate::host::{join_inner, Host};
use crate::oom::OomWatcher;
use crate::resources as res;
use crate::stats::Stats;
use crate::{common, fsutil, Error, FreezerState, Layout, Manager};

pub const DRIVER: &str = "cgroupfs-v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct V1Manager {
    driver: String,
    layout: Layout,
    /// controller -> cgroup directory; "" is the cgroup2 directory on hybrid hosts.
    paths: BTreeMap<String, PathBuf>,
    /// controller -> mountpoint of its hierarchy (creation stops there).
    mounts: BTreeMap<String, PathBuf>,
    /// Directories this manager made, parents before children.
    created: Vec<PathBuf>,
    /// See [`crate::Spec::rootless`].
    #[serde(default)]
    pub(crate) rootless: bool,
    /// Whether [`Manager::create`] ran (this process only).
    #[serde(skip)]
    made: bool,
}

impl V1Manager {
    /// Paths as runc's fs driver computes them: an absolute inner path sits under each
    /// hierarchy's mountpoint, a relative one under this process's own cgroup there.
    pub fn new(host: &Host, inner: &str) -> Result<V1Manager, Error> {
        if !host.v1.contains_key("devices") {
            // Running without device control would let the container open any device.
            return Err(Error::NotMounted("devices".into()));
        }
        let mut paths = BTreeMap::new();
        let mut mounts = BTreeMap::new();
        let mut keys: Vec<String> = host.v1.keys().cloned().collect();
        if host.layout == Layout::Hybrid && host.unified.is_some() {
            keys.push(String::new());
        }
        for key in keys {
            let mount = if key.is_empty() {
                host.unified.as_ref().expect("checked").mountpoint.clone()
            } else {
                host.v1[&key].mountpoint.clone()
            };
            let base = if inner.starts_with('/') {
                mount.clone()
            } else {
                match host.own_dir(&key) {
                    Some(d) => d,
                    None => continue,
                }
            };
            paths.insert(key.clone(), join_inner(&base, inner));
            mounts.insert(key, mount);
        }
        Ok(V1Manager {
            driver: DRIVER.into(),
            layout: host.layout,
            paths,
            mounts,
            created: Vec::new(),
            rootless: false,
            made: false,
        })
    }

    pub fn load(saved: &serde_json::Value) -> Result<V1Manager, Error> {
        serde_json::from_value(saved.clone()).map_err(|e| Error::Saved(e.to_string()))
    }

    pub(crate) fn path(&self, controller: &str) -> Option<&Path> {
        self.paths.get(controller).map(PathBuf::as_path)
    }

    /// The directory for `controller`, or runc's error when the host lacks it.
    fn need(&self, controller: &str) -> Result<&Path, Error> {
        self.path(controller).ok_or_else(|| Error::CannotSet {
            controller: controller.into(),
        })
    }

    /// Each distinct directory once (cpu and cpuacct may share a hierarchy).
    fn dirs(&self) -> Vec<(&str, &Path)> {
        let mut seen = BTreeSet::new();
        self.paths
            .iter()
            .filter(|(_, p)| seen.insert(p.as_path()))
            .map(|(k, p)| (k.as_str(), p.as_path()))
            .collect()
    }

    fn unified(&self) -> Option<&Path> {
        self.path("")
    }

    fn owned_dirs(&self) -> Vec<(String, PathBuf)> {
        self.dirs()
            .into_iter()
            .map(|(k, p)| (k.to_string(), p.to_path_buf()))
            .collect()
    }

    /// runc leaves the controller-less cgroup2 hierarchy of a hybrid host alone; a
    /// rootless caller, who may not move a process there from the root cgroup, goes
    /// without it (nothing is limited there).
    fn optional(&self) -> impl Fn(&str, &Error) -> bool {
        let rootless = self.rootless;
        move |key: &str, e: &Error| key.is_empty() && rootless && e.is_permission()
    }
}

impl Manager for V1Manager {
    fn create(&mut self) -> Result<(), Error> {
        let dirs = self.owned_dirs();
        let optional = self.optional();
        for (key, dir) in &dirs {
            let mount = self.mounts[key].clone();
            match common::mkdir_p(&mount, dir, &mut self.created) {
                Ok(()) => {}
                Err(e) if optional(key, &e) => {
                    tracing::debug!("rootless: leaving out the cgroup2 hierarchy: {e}");
                    self.paths.remove(key);
                    continue;
                }
                Err(e) => return Err(e),
            }
            if key == "cpuset" {
                for level in common::levels(&mount, dir) {
                    cpuset::fill_from_parent(&level)?;
                }
            }
        }
        self.made = true;
        Ok(())
    }

    fn apply(&mut self, pid: i32) -> Result<(), Error> {
        if !self.made {
            self.create()?;
        }
        let optional = self.optional();
        for (key, dir) in self.owned_dirs() {
            match common::join(&dir, pid) {
                Ok(()) => {}
                Err(e) if optional(&key, &e) => {
                    tracing::debug!("rootless: leaving out the cgroup2 hierarchy: {e}");
                    self.paths.remove(&key);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn join(&self, pid: i32) -> Result<(), Error> {
        for (_, dir) in self.dirs() {
            common::join(dir, pid)?;
        }
        Ok(())
    }

    fn set(&self, r: &LinuxResources) -> Result<(), Error> {
        // Refuse before writing anything, so a bad config leaves no half-applied state.
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(Error::InvalidConfig(
                "cannot use unified on cgroup v1".into(),
            ));
        }
        res::warn_kernel_memory(r);
        let checks: [(&str, bool); 11] = [
            ("cpuset", res::has_cpuset(r)),
            ("devices", r.devices().is_some()),
            ("memory", res::has_memory(r)),
            ("cpu", res::has_cpu(r)),
            ("pids", res::has_pids(r)),
            ("blkio", res::has_blkio(r)),
            ("hugetlb", res::has_hugetlb(r)),
            ("net_cls", res::has_net_cls(r)),
            ("net_prio", res::has_net_prio(r)),
            ("rdma", res::has_rdma(r)),
            ("freezer", false),
        ];
        for (c, wanted) in checks {
            if wanted {
                self.need(c)?;
            }
        }
        let devices = match r.devices() {
            Some(list) => Some(Emulator::from_rules(&to_rules(list)?)?),
            None => None,
        };
        if let (Some(cpu), true) = (r.cpu(), res::has_cpuset(r)) {
            cpuset::set(self.need("cpuset")?, cpu)?;
        }
        if let Some(emu) = &devices {
            devices::set(self.need("devices")?, emu)?;
        }
        if let (Some(m), true) = (r.memory(), res::has_memory(r)) {
            memory::set(self.need("memory")?, m)?;
        }
        if let (Some(c), true) = (r.cpu(), res::has_cpu(r)) {
            cpu::set(self.need("cpu")?, c)?;
        }
        if let (Some(p), true) = (r.pids(), res::has_pids(r)) {
            pids::set(self.need("pids")?, p)?;
        }
        if let (Some(b), true) = (r.block_io(), res::has_blkio(r)) {
            blkio::set(self.need("blkio")?, b)?;
        }
        if let (Some(h), true) = (r.hugepage_limits(), res::has_hugetlb(r)) {
            hugetlb::set(self.need("hugetlb")?, h)?;
        }
        if let (Some(n), true) = (r.network(), res::has_net_cls(r)) {
            net_cls::set(self.need("net_cls")?, n)?;
        }
        if let (Some(n), true) = (r.network(), res::has_net_prio(r)) {
            net_prio::set(self.need("net_prio")?, n)?;
        }
        if let (Some(m), true) = (r.rdma(), res::has_rdma(r)) {
            rdma::set(self.need("rdma")?, m)?;
        }
        Ok(())
    }

    fn freeze(&self) -> Result<(), Error> {
        match (self.path("freezer"), self.unified()) {
            (Some(d), _) => freezer::freeze(d),
            // Hybrid host without a v1 freezer: cgroup2's cgroup.freeze does the job.
            (None, Some(u)) => crate::v2::freezer::freeze(u),
            (None, None) => Err(Error::NotMounted("freezer".into())),
        }
    }

    fn thaw(&self) -> Result<(), Error> {
        match (self.path("freezer"), self.unified()) {
            (Some(d), _) => freezer::thaw(d),
            (None, Some(u)) => crate::v2::freezer::thaw(u),
            (None, None) => Err(Error::NotMounted("freezer".into())),
        }
    }

    fn freezer_state(&self) -> Result<FreezerState, Error> {
        match (self.path("freezer"), self.unified()) {
            (Some(d), _) => freezer::state(d),
            (None, Some(u)) => crate::v2::freezer::state(u),
            (None, None) => Ok(FreezerState::Thawed),
        }
    }

    fn pids(&self) -> Result<Vec<i32>, Error> {
        // runc reads the devices hierarchy, which every v1 container has.
        fsutil::read_pids_recursive(self.need("devices")?)
    }

    fn stats(&self) -> Result<Stats, Error> {
        let mut s = Stats::default();
        if let Some(d) = self.path("cpuacct") {
            cpuacct::stats(d, &mut s.cpu.usage)?;
        }
        if let Some(d) = self.path("cpu") {
            cpu::stats(d, &mut s.cpu.throttling)?;
        }
        if let Some(d) = self.path("cpuset") {
            cpuset::stats(d, &mut s.cpuset)?;
        }
        if let Some(d) = self.path("memory") {
            memory::stats(d, &mut s.memory)?;
        }
        if let Some(d) = self.path("pids") {
            pids::stats(d, &mut s.pids)?;
        }
        if let Some(d) = self.path("blkio") {
            blkio::stats(d, &mut s.blkio)?;
        }
        if let Some(d) = self.path("hugetlb") {
            hugetlb::stats(d, &mut s.hugetlb)?;
        }
        Ok(s)
    }

    fn oom_watcher(&self) -> Result<OomWatcher, Error> {
        OomWatcher::v1(
            self.path("memory")
                .ok_or_else(|| Error::NotMounted("memory".into()))?,
        )
    }

    fn kill_all(&self, signal: i32) -> Result<(), Error> {
        if signal == libc::SIGKILL {
            if let Some(u) = self.unified().filter(|u| fsutil::exists(u, "cgroup.kill")) {
                // Hybrid: every container process also sits in the cgroup2 directory.
                fsutil::write(u, "cgroup.kill", "1", "cgroup.kill")?;
                // A task frozen by the v1 freezer only dies once thawed (runc thaws
                // after signalling too), so a paused container must be let go.
                if self.freezer_state()? == FreezerState::Frozen {
                    self.thaw()?;
                }
                return Ok(());
            }
        }
        common::signal_frozen(self, signal)
    }

    fn destroy(&self) -> Result<(), Error> {
        let leaves: Vec<&Path> = self.dirs().into_iter().map(|(_, p)| p).collect();
        common::remove_created(&self.created, &leaves)
    }

    fn save(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serialises")
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        self.paths.clone()
    }

    fn snapshot(&self) -> LinuxResources {
        snapshot::v1(self)
    }

    fn exists(&self) -> bool {
        self.path("devices").is_some_and(|p| p.is_dir())
    }
}

impl V1Manager {
    /// The directories this manager created so far (parents first).
    pub fn created(&self) -> &[PathBuf] {
        &self.created
    }
}
