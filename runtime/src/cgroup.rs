//! The runtime's view of a container's cgroup: a thin layer over sangja-cgroups that
//! keeps what `state.json` stores and what the lifecycle commands need.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::Spec;
use sangja_cgroups::{FreezerState, Manager};

#[derive(Debug, thiserror::Error)]
#[error("cgroup: {0}")]
pub struct CgroupError(String);

fn err(e: impl std::fmt::Display) -> CgroupError {
    CgroupError(e.to_string())
}

pub struct Cgroup {
    manager: Box<dyn Manager>,
    resources: Option<oci_spec::runtime::LinuxResources>,
}

impl Cgroup {
    /// The cgroup a new container will live in, with the limits and device rules runc applies.
    pub fn new(spec: &Spec, id: &str, systemd: bool) -> Result<Cgroup, CgroupError> {
        let linux = spec.linux().as_ref();
        let path = linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let manager = sangja_cgroups::new_manager(&sangja_cgroups::Spec {
            cgroups_path: path.as_deref(),
            container_id: id,
            systemd,
        })
        .map_err(err)?;
        let mut resources = linux
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        resources.set_devices(Some(sangja_cgroups::device_rules(spec)));
        Ok(Cgroup {
            manager,
            resources: Some(resources),
        })
    }

    /// Creates the cgroup, moves `pid` in and applies the limits, before any user code runs.
    pub fn apply(&mut self, pid: i32) -> Result<(), CgroupError> {
        self.manager.apply(pid).map_err(err)?;
        if let Some(r) = &self.resources {
            self.manager.set(r).map_err(err)?;
        }
        Ok(())
    }

    pub fn paths(&self) -> BTreeMap<String, PathBuf> {
        self.manager.paths()
    }

    pub fn save(&self) -> serde_json::Value {
        self.manager.save()
    }

    /// The cgroup of an existing container from its saved state; None when it had none.
    pub fn load(saved: &serde_json::Value) -> Option<Cgroup> {
        if saved.is_null() {
            return None;
        }
        match sangja_cgroups::load_manager(saved) {
            Ok(manager) => Some(Cgroup {
                manager,
                resources: None,
            }),
            Err(e) => {
                tracing::warn!("reading the saved cgroup state: {e}");
                None
            }
        }
    }

    pub fn frozen(&self) -> bool {
        matches!(self.manager.freezer_state(), Ok(FreezerState::Frozen))
    }

    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.manager.freeze().map_err(err)
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.manager.thaw().map_err(err)
    }

    pub fn kill_all(&self, sig: i32) -> Result<(), CgroupError> {
        self.manager.kill_all(sig).map_err(err)
    }

    pub fn destroy(&self) -> Result<(), CgroupError> {
        self.manager.destroy().map_err(err)
    }

    pub fn manager(&self) -> &dyn Manager {
        self.manager.as_ref()
    }
}
