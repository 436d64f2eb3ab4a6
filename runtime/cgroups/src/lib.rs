//! cgroup management for sangja, matching runc 1.1.5's cgroupfs driver on unified
//! (cgroup2 only), legacy (v1 only) and hybrid hosts.
//!
//! The runtime's order: [`new_manager`] at create, [`Manager::apply`] with the init pid
//! before it can run user code, [`Manager::set`] with `linux.resources` (devices from
//! [`device_rules`] folded in), [`Manager::save`] into state.json. Later commands rebuild
//! the manager with [`load_manager`]; `delete` ends with [`Manager::destroy`].

pub mod bpf;
mod common;
pub mod devices;
mod error;
pub mod events;
mod fsutil;
pub mod host;
pub mod oom;
pub mod path;
pub mod ps;
mod resources;
pub mod stats;
pub mod update;
pub mod v1;
pub mod v2;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use devices::device_rules;
pub use error::Error;
pub use events::Event;
pub use host::Host;
pub use oom::{OomWait, OomWatcher};
pub use stats::Stats;
pub use update::{merge_update, update_from_flags, UpdateError, UpdateFlags};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// cgroup2 only.
    Unified,
    /// v1 controllers only.
    Legacy,
    /// v1 controllers plus a cgroup2 tree (at /sys/fs/cgroup/unified).
    Hybrid,
}

/// The host's cgroup layout, from /proc/self/mountinfo.
pub fn detect_layout() -> Result<Layout, Error> {
    Ok(Host::detect()?.layout)
}

/// What the runtime knows at create time.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// `linux.cgroupsPath`.
    pub cgroups_path: Option<&'a str>,
    pub container_id: &'a str,
    /// `--systemd-cgroup`.
    pub systemd: bool,
    /// An unprivileged caller (runc's rootless mode): on a hybrid host the cgroup2
    /// hierarchy, which has no controllers, is left out when the caller may not join it.
    pub rootless: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

pub trait Manager {
    /// Creates the cgroup directories (remembering which ones it created) without moving
    /// any process in, so limits can be [`Manager::set`] before the first one joins.
    fn create(&mut self) -> Result<(), Error>;
    /// Creates the cgroup directories unless [`Manager::create`] already did, and moves
    /// `pid` into them.
    fn apply(&mut self, pid: i32) -> Result<(), Error>;
    /// Moves another process (an `exec`) into the existing cgroup; never creates one,
    /// so a stopped container's removed cgroup is not brought back.
    fn join(&self, pid: i32) -> Result<(), Error>;
    /// Applies every field the host can express; runc's error or warning otherwise.
    /// Devices are taken from `resources.devices` as given: pass [`device_rules`].
    fn set(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<(), Error>;
    fn freeze(&self) -> Result<(), Error>;
    fn thaw(&self) -> Result<(), Error>;
    fn freezer_state(&self) -> Result<FreezerState, Error>;
    /// Every process in the cgroup and below it.
    fn pids(&self) -> Result<Vec<i32>, Error>;
    /// runc's `events --stats` "data" object.
    fn stats(&self) -> Result<Stats, Error>;
    fn oom_watcher(&self) -> Result<OomWatcher, Error>;
    /// Signals every process: cgroup.kill for SIGKILL where the kernel has it, else
    /// freeze, signal each pid, thaw (as runc does, so no child escapes by forking).
    fn kill_all(&self, signal: i32) -> Result<(), Error>;
    /// Removes the directories this manager created (and only those).
    fn destroy(&self) -> Result<(), Error>;
    /// What [`load_manager`] needs later; stored in the container's state.json.
    fn save(&self) -> serde_json::Value;
    /// controller -> directory ("" for the cgroup2 tree), like runc's cgroup_paths.
    fn paths(&self) -> BTreeMap<String, PathBuf>;
    /// The values now in force for what `update` can change, as resources that
    /// [`Manager::set`] puts back (best effort: a file that cannot be read is left out).
    fn snapshot(&self) -> oci_spec::runtime::LinuxResources;
    /// Whether the cgroup still exists (update/pause of a removed container fail clearly).
    fn exists(&self) -> bool;
}

/// A manager for a new container on this host.
pub fn new_manager(spec: &Spec) -> Result<Box<dyn Manager>, Error> {
    if spec.systemd {
        path::parse_systemd_path(spec.cgroups_path, spec.container_id)?;
        if !path::systemd_running() {
            return Err(Error::SystemdNotRunning);
        }
        // A systemd host was found, but driving it over D-Bus is not implemented yet.
        return Err(Error::InvalidConfig(
            "the systemd cgroup driver is not available in sangja yet; run without --systemd-cgroup".into(),
        ));
    }
    new_manager_on(&Host::detect()?, spec)
}

/// A manager on a given host view (tests use [`Host::fixture`]).
pub fn new_manager_on(host: &Host, spec: &Spec) -> Result<Box<dyn Manager>, Error> {
    let inner = path::inner_path(spec.cgroups_path, spec.container_id);
    match host.layout {
        Layout::Unified => Ok(Box::new(v2::V2Manager::new(host, &inner)?)),
        Layout::Legacy | Layout::Hybrid => {
            let mut m = v1::V1Manager::new(host, &inner)?;
            m.rootless = spec.rootless;
            Ok(Box::new(m))
        }
    }
}

/// Rebuilds a manager from what [`Manager::save`] wrote.
pub fn load_manager(saved: &serde_json::Value) -> Result<Box<dyn Manager>, Error> {
    match saved.get("driver").and_then(|d| d.as_str()) {
        Some(v1::DRIVER) => Ok(Box::new(v1::V1Manager::load(saved)?)),
        Some(v2::DRIVER) => Ok(Box::new(v2::V2Manager::load(saved)?)),
        other => Err(Error::Saved(format!("unknown driver {other:?}"))),
    }
}

/// `update`: applies `new`; if the kernel refuses part of it, writes back what was in
/// force before (read just before writing), so nothing is left half-applied (runc's
/// "Setting back cgroup configs", but from the files rather than the saved config).
/// Devices are not part of an update: pass resources with `devices: None`.
pub fn update(m: &dyn Manager, new: &oci_spec::runtime::LinuxResources) -> Result<(), Error> {
    if !m.exists() {
        return Err(Error::NotRunning);
    }
    let before = m.snapshot();
    let err = match m.set(new) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if let Err(e2) = m.set(&before) {
        tracing::warn!("Setting back cgroup configs failed due to error: {e2}, your state.json and actual configs might be inconsistent.");
    }
    Err(err)
}
