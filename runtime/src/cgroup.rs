//! The runtime's view of a container's cgroup: a thin layer over sangja-cgroups that
//! keeps what `state.json` stores and what the lifecycle commands need.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::Spec;
use sangja_cgroups::{FreezerState, Manager};

#[derive(Debug, thiserror::Error)]
#[error("cgroup: {msg}")]
pub struct CgroupError {
    msg: String,
    /// The kernel refused for want of permission (rootless mode tolerates that).
    permission: bool,
}

fn msg_err(msg: String) -> CgroupError {
    CgroupError {
        msg,
        permission: false,
    }
}

fn err(e: sangja_cgroups::Error) -> CgroupError {
    CgroupError {
        permission: e.is_permission(),
        msg: e.to_string(),
    }
}

impl CgroupError {
    pub fn is_permission(&self) -> bool {
        self.permission
    }

    /// runc's words for a limit a rootless container cannot have without a cgroup.
    pub fn cannot_set(controller: &str) -> CgroupError {
        msg_err(format!(
            "cannot set {controller} limit: container could not join or create cgroup"
        ))
    }
}

pub struct Cgroup {
    manager: Box<dyn Manager>,
    resources: Option<oci_spec::runtime::LinuxResources>,
    /// runc's rootless mode: device rules are tried but their failure is ignored (an
    /// unprivileged caller may not write them even in a cgroup delegated to it).
    rootless: bool,
}

impl Cgroup {
    /// The cgroup a new container will live in, with the limits and device rules runc applies.
    pub fn new(
        spec: &Spec,
        id: &str,
        systemd: bool,
        rootless: bool,
    ) -> Result<Cgroup, CgroupError> {
        let linux = spec.linux().as_ref();
        let path = linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let manager = sangja_cgroups::new_manager(&sangja_cgroups::Spec {
            cgroups_path: path.as_deref(),
            container_id: id,
            systemd,
            rootless,
        })
        .map_err(err)?;
        let mut resources = linux
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        resources.set_devices(Some(sangja_cgroups::device_rules(spec)));
        Ok(Cgroup {
            manager,
            resources: Some(resources),
            rootless,
        })
    }

    /// Creates the cgroup, moves `pid` in and applies the limits, before any user code runs.
    pub fn apply(&mut self, pid: i32) -> Result<(), CgroupError> {
        self.manager.apply(pid).map_err(err)?;
        self.set_limits()
    }

    /// Creates the cgroup and applies the limits with no process in it yet; [`Cgroup::enter`]
    /// then moves the container's in. `create` does this while stage 1 starts, so the
    /// directories and limits cost nothing on the way to the container's first step.
    pub fn prepare(&mut self) -> Result<(), CgroupError> {
        self.manager.create().map_err(err)?;
        self.set_limits()
    }

    /// Moves `pid` into the cgroup [`Cgroup::prepare`] made.
    pub fn enter(&mut self, pid: i32) -> Result<(), CgroupError> {
        self.manager.apply(pid).map_err(err)
    }

    fn set_limits(&self) -> Result<(), CgroupError> {
        let Some(r) = &self.resources else {
            return Ok(());
        };
        if !self.rootless {
            return self.manager.set(r).map_err(err);
        }
        let mut limits = r.clone();
        let devices = limits.devices().clone();
        limits.set_devices(None);
        self.manager.set(&limits).map_err(err)?;
        let mut rules = oci_spec::runtime::LinuxResources::default();
        rules.set_devices(devices);
        if let Err(e) = self.manager.set(&rules) {
            tracing::debug!("rootless: device rules not applied: {e}");
        }
        Ok(())
    }

    /// Moves an exec'd process into the container's cgroup, or into `sub` below it
    /// (`exec --cgroup [controller[,controller]:]path`). As runc, the path is joined onto
    /// the container's cgroup (a leading `/` included); unlike runc, a path that climbs
    /// out of it with `..` is refused rather than joined.
    ///
    /// Nothing is created: an exec racing a `delete` must not bring back the cgroup the
    /// delete just removed (as runc's EnterPid, it only writes into what exists).
    pub fn join(&mut self, pid: i32, sub: Option<&str>) -> Result<(), CgroupError> {
        let Some(sub) = sub else {
            return self.manager.join(pid).map_err(|e| match e {
                sangja_cgroups::Error::Join { path, source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    msg_err(format!(
                        "the container's cgroup {} is gone (the container was deleted)",
                        path.display()
                    ))
                }
                e => err(e),
            });
        };
        let (ctrls, rel) = match sub.split_once(':') {
            Some((c, p)) => (Some(c.split(',').collect::<Vec<_>>()), p),
            None => (None, sub),
        };
        let rel = inside(rel).ok_or_else(|| {
            msg_err(format!(
                "--cgroup {sub}: the path must stay inside the container's cgroup"
            ))
        })?;
        let paths = self.manager.paths();
        let mut targets: Vec<PathBuf> = match ctrls {
            None => paths.values().map(|dir| dir.join(&rel)).collect(),
            Some(list) => list
                .iter()
                .map(|c| {
                    paths
                        .iter()
                        .find(|(name, _)| name.split(',').any(|n| n == *c))
                        .map(|(_, dir)| dir.join(&rel))
                        .ok_or_else(|| {
                            msg_err(format!(
                                "--cgroup {sub}: no controller {c} in the container's cgroups"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        targets.dedup();
        if let Some(t) = targets.iter().find(|t| !t.is_dir()) {
            return Err(msg_err(format!(
                "--cgroup {sub}: {} does not exist",
                t.display()
            )));
        }
        for target in &targets {
            std::fs::write(target.join("cgroup.procs"), pid.to_string()).map_err(|e| {
                msg_err(format!("--cgroup {sub}: joining {}: {e}", target.display()))
            })?;
        }
        Ok(())
    }

    /// The first resource group (memory, cpu, pids, ...) the config sets a limit in,
    /// leaving out the device rules every container carries.
    pub fn limited_controller(&self) -> Option<String> {
        let r = self.resources.as_ref()?;
        let v = serde_json::to_value(r).ok()?;
        v.as_object()?
            .iter()
            .filter(|(k, _)| k.as_str() != "devices")
            .find(|(_, v)| match v {
                serde_json::Value::Null => false,
                serde_json::Value::Object(o) => o.values().any(|x| !x.is_null()),
                serde_json::Value::Array(a) => !a.is_empty(),
                _ => true,
            })
            .map(|(k, _)| k.clone())
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
                rootless: false,
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

/// A sub-cgroup path as runc joins it onto the container's (`/` and `.` dropped, `..` going
/// up); None when it climbs out of the container's cgroup.
fn inside(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in std::path::Path::new(path).components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            // `..` pops a component in the guard; with none left it would climb out.
            std::path::Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::inside;
    use std::path::PathBuf;

    #[test]
    fn sub_cgroup_paths_stay_inside() {
        assert_eq!(inside("sub"), Some(PathBuf::from("sub")));
        assert_eq!(inside("/a/b"), Some(PathBuf::from("a/b")));
        assert_eq!(inside("a/../b/./c"), Some(PathBuf::from("b/c")));
        assert_eq!(inside("a/.."), Some(PathBuf::new()));
        assert_eq!(inside("../other"), None);
        assert_eq!(inside("/../other"), None);
        assert_eq!(inside("a/../../other"), None);
    }
}
