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

    /// Moves an exec'd process into the container's cgroup, or into `sub` below it
    /// (`exec --cgroup [controller:]path`), which must stay inside the container's.
    pub fn join(&mut self, pid: i32, sub: Option<&str>) -> Result<(), CgroupError> {
        let Some(sub) = sub else {
            return self.manager.apply(pid).map_err(err);
        };
        let (ctrl, rel) = sub
            .split_once(':')
            .map(|(c, p)| (Some(c), p))
            .unwrap_or((None, sub));
        let rel = std::path::Path::new(rel);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(CgroupError(format!(
                "--cgroup {sub}: the path must be relative and stay inside the container's cgroup"
            )));
        }
        let mut joined = false;
        for (name, dir) in self.manager.paths() {
            if ctrl.is_some_and(|c| !name.split(',').any(|n| n == c)) {
                continue;
            }
            let target = dir.join(rel);
            if !target.is_dir() {
                return Err(CgroupError(format!(
                    "--cgroup {sub}: {} does not exist",
                    target.display()
                )));
            }
            std::fs::write(target.join("cgroup.procs"), pid.to_string()).map_err(|e| {
                CgroupError(format!("--cgroup {sub}: joining {}: {e}", target.display()))
            })?;
            joined = true;
        }
        if !joined {
            return Err(CgroupError(format!(
                "--cgroup {sub}: no such controller in the container's cgroups"
            )));
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
