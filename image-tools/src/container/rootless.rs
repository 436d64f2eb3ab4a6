//! Containers of a caller without root, as podman runs them rootless: a user namespace
//! mapping the caller to 0 and its subordinate ids after it ([`crate::rootless`]), a
//! root that is a private copy of the image's layers (podman's "vfs" driver: a
//! non-root caller cannot mount an overlay on the host) with the ownership remapped, no
//! cgroup limits unless a cgroup is delegated, and no network it cannot make (no bridge,
//! no published ports: `--network none`, docker's default here, or `host`).

use super::config::{self, ConfigError, Network, RunConfig};
use super::isolation::Share;
use super::{io_err, ContainerError};
use crate::image::Image;
use crate::rootless::{userns, Mapping};
use crate::store::Store;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What a rootless run cannot do, refused before anything is made.
pub fn validate(cfg: &RunConfig) -> Result<(), ConfigError> {
    match &cfg.network {
        Network::Bridge(n) => {
            return Err(config::flag(
                "--network",
                n,
                "rootless: bridge networks need root (a CNI bridge and veth pairs); use --network none or host",
            ))
        }
        Network::Container(c) => {
            return Err(config::flag(
                "--network",
                &format!("container:{c}"),
                "rootless: each rootless container has its own user namespace, which cannot join another container's namespaces",
            ))
        }
        Network::None | Network::Host => {}
    }
    if let Some(p) = cfg.publish.first() {
        return Err(config::flag(
            "-p/--publish",
            &p.to_string(),
            "rootless: ports cannot be published (that needs a bridge network, which needs root); use --network host to serve on the host's ports",
        ));
    }
    if cfg.publish_all {
        return Err(config::flag(
            "-P/--publish-all",
            "",
            "rootless: ports cannot be published (that needs a bridge network, which needs root)",
        ));
    }
    for (flag, share) in [("--pid", &cfg.isolation.pid), ("--ipc", &cfg.isolation.ipc)] {
        if let Share::Path(p) = share {
            return Err(config::flag(
                flag,
                &p.display().to_string(),
                "rootless: each rootless container has its own user namespace, which cannot join another container's namespaces",
            ));
        }
    }
    let limits = [
        ("--memory", "memory", cfg.memory.clone()),
        ("--cpus", "cpu", cfg.cpus.clone()),
        (
            "--pids-limit",
            "pids",
            cfg.pids_limit.map(|p| p.to_string()),
        ),
    ];
    for (flag, controller, value) in limits {
        let Some(value) = value else { continue };
        if let Err(why) = delegated(controller) {
            // runc's words for a limit a rootless container cannot have.
            return Err(config::flag(
                flag,
                &value,
                format!("cannot set {controller} limit: container could not join or create cgroup (rootless: {why})"),
            ));
        }
    }
    Ok(())
}

/// Whether the caller's own cgroup (v2) is delegated to it with `controller` enabled, so
/// the runtime can make the container's cgroup below it; else why not.
fn delegated(controller: &str) -> Result<(), String> {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        })
        .ok_or("no cgroup v2 hierarchy in /proc/self/cgroup")?;
    let dir = Path::new("/sys/fs/cgroup").join(own.trim_start_matches('/'));
    let uid = nix::unistd::geteuid();
    if nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_err() {
        return Err(format!(
            "no cgroup is delegated to uid {uid}: {} is not writable",
            dir.display()
        ));
    }
    let enabled = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    if !enabled.split_whitespace().any(|c| c == controller) {
        return Err(format!(
            "the {controller} controller is not delegated to {}",
            dir.display()
        ));
    }
    Ok(())
}

/// config.json for a rootless container: runc's rootless changes
/// ([`crate::rootless::rootless_spec`]), and `--device` nodes bound from the host.
pub fn apply(spec: &mut Value, mapping: &Mapping, devices: &[super::isolation::Device]) {
    crate::rootless::rootless_spec(spec, mapping);
    // `--device HOST:CTR`: the runtime binds a device from the host path the container
    // names, so a node seen elsewhere in the container is bound here, as podman does.
    if let Some(list) = spec["linux"]["devices"].as_array_mut() {
        list.retain(|d| !devices.iter().any(|x| d["path"] == x.path.as_str()));
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        // The access (`:r`) is a cgroup device rule, which a rootless container has
        // none of (nor would a read-only mount stop writes to a device node).
        for d in devices {
            mounts.retain(|m| m["destination"] != d.path.as_str());
            mounts.push(json!({
                "destination": d.path, "type": "bind", "source": d.host,
                "options": ["rbind", "rprivate"],
            }));
        }
    }
}

/// Fills the container's `rootfs` with its own copy of the image's layers, each file
/// owned by the host id its image owner maps to: unpacked here when only the caller's
/// id is mapped (everything is then the caller's, 0 inside), else by a helper in a user
/// namespace with the container's mapping.
pub fn populate(
    store: &Store,
    image: &Image,
    rootfs: &Path,
    mapping: &Mapping,
) -> Result<(), ContainerError> {
    std::fs::create_dir_all(rootfs).map_err(io_err(rootfs))?;
    if mapping.is_single() {
        return crate::unpack::unpack_into(store, image, rootfs).map_err(|source| {
            super::snapshot::SnapshotError::Unpack {
                image: image.label(),
                source: Box::new(source),
            }
            .into()
        });
    }
    let op: Vec<OsString> = vec![
        "unpack".into(),
        image.id().to_string().into(),
        rootfs.into(),
    ];
    userns::run_helper(
        mapping,
        Some(store.root()),
        &op,
        &format!("unpacking image {}", image.label()),
    )?;
    Ok(())
}

/// Removes a directory tree; one holding files of subordinate ids (which the caller may
/// not delete) is removed by a helper in the caller's user namespace.
pub fn remove_all(dir: &Path) -> Result<(), ContainerError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && crate::rootless::active() => {
            let mapping = Mapping::for_caller();
            if mapping.is_single() {
                return Err(io_err(dir)(e));
            }
            let op: Vec<OsString> = vec!["remove".into(), PathBuf::from(dir).into()];
            userns::run_helper(&mapping, None, &op, &format!("removing {}", dir.display()))?;
            Ok(())
        }
        Err(e) => Err(io_err(dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootless::IdRange;

    fn spec() -> Value {
        json!({
            "linux": {
                "namespaces": [{ "type": "pid" }, { "type": "mount" }],
                "resources": { "devices": [{ "allow": false, "access": "rwm" }], "pids": { "limit": 5 } },
            },
            "mounts": [
                { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"] },
                { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "gid=5"] },
            ],
        })
    }

    fn own(id: u32) -> IdRange {
        IdRange {
            container: 0,
            host: id,
            size: 1,
        }
    }

    #[test]
    fn runc_rootless_changes() {
        let single = Mapping {
            uids: vec![own(1001)],
            gids: vec![own(1001)],
        };
        let mut s = spec();
        apply(&mut s, &single, &[]);
        assert_eq!(s["linux"]["namespaces"][2]["type"], "user");
        assert_eq!(
            s["linux"]["uidMappings"],
            json!([{ "containerID": 0, "hostID": 1001, "size": 1 }])
        );
        assert!(s["linux"]["resources"].get("devices").is_none());
        assert_eq!(s["linux"]["resources"]["pids"]["limit"], 5);
        assert_eq!(s["mounts"][0]["type"], "none");
        assert_eq!(s["mounts"][0]["source"], "/sys");
        assert_eq!(s["mounts"][1]["options"], json!(["newinstance"]));

        let ranged = Mapping {
            uids: vec![own(1001)],
            gids: vec![
                own(1001),
                IdRange {
                    container: 1,
                    host: 100000,
                    size: 65536,
                },
            ],
        };
        let mut s = spec();
        apply(&mut s, &ranged, &[]);
        assert_eq!(s["mounts"][1]["options"], json!(["newinstance", "gid=5"]));
        assert_eq!(s["linux"]["gidMappings"][1]["hostID"], 100000);
        // Applied twice (a restart rewrites nothing, but it must stay one namespace).
        apply(&mut s, &ranged, &[]);
        assert_eq!(s["linux"]["namespaces"].as_array().unwrap().len(), 3);
    }
}
