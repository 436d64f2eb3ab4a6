//! Running without root, as podman does rootless: the store under `$XDG_DATA_HOME`,
//! the runtime's state under `$XDG_RUNTIME_DIR`, and containers in a user namespace that
//! maps the caller's own ids to 0 and its /etc/subuid and /etc/subgid ranges after them
//! (written by the setuid helpers newuidmap/newgidmap of apt `uidmap`).

pub mod userns;

use nix::unistd::{getegid, geteuid};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error("{var} is not set: {why}")]
    NoVar { var: &'static str, why: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} {pid}: {msg}")]
    MapTool {
        tool: &'static str,
        pid: u32,
        msg: String,
    },
    #[error("the user-namespace helper ({what}): {msg}")]
    Helper { what: String, msg: String },
}

/// Whether this process runs without root (podman's rootless mode): anything that needs
/// host root is done in a user namespace, or refused.
pub fn active() -> bool {
    !geteuid().is_root()
}

/// The store a rootless caller gets without `--store`: `$XDG_DATA_HOME/sangja-image`,
/// `~/.local/share/sangja-image` when that is unset (the XDG default).
pub fn default_store() -> Result<PathBuf, RootlessError> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("sangja-image"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/sangja-image")),
        None => Err(RootlessError::NoVar {
            var: "HOME",
            why: "a rootless store defaults to $XDG_DATA_HOME/sangja-image or ~/.local/share/sangja-image (or give --store DIR)".into(),
        }),
    }
}

/// The rootless runtime directory: `$XDG_RUNTIME_DIR/sangja-image` (made 0700 if
/// missing), where the OCI runtime keeps its `--root` state, as podman's runroot.
pub fn runroot() -> Result<PathBuf, RootlessError> {
    let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) else {
        return Err(RootlessError::NoVar {
            var: "XDG_RUNTIME_DIR",
            why: "rootless containers keep their runtime state in $XDG_RUNTIME_DIR/sangja-image (set it, or give --runroot DIR or --store DIR)".into(),
        });
    };
    let dir = PathBuf::from(d).join("sangja-image");
    make_private_dir(&dir)?;
    Ok(dir)
}

fn make_private_dir(dir: &Path) -> Result<(), RootlessError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(source) => Err(RootlessError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// One range of an id map: `size` ids from `container` inside map to `host` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// The user namespace a rootless container (and the unpacking of its root) runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

impl Mapping {
    /// The caller's ids as 0, then its subordinate ranges (all of them, in file order)
    /// from 1 on, as podman maps a rootless user. Without a range, or without
    /// newuidmap/newgidmap to write it, only the caller's own id is mapped.
    pub fn for_caller() -> Mapping {
        let uid = geteuid().as_raw();
        let gid = getegid().as_raw();
        let name = nix::unistd::User::from_uid(geteuid())
            .ok()
            .flatten()
            .map(|u| u.name);
        let build = |own: u32, file: &str, tool: &str| {
            let mut map = vec![IdRange {
                container: 0,
                host: own,
                size: 1,
            }];
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let ranges = subordinate_ranges(&text, own, name.as_deref());
            if !ranges.is_empty() && !on_path(tool) {
                tracing::warn!(
                    file,
                    tool,
                    "subordinate ids found but {tool} is missing (apt uidmap): only your own id is mapped"
                );
                return map;
            }
            let mut next = 1u32;
            for (start, count) in ranges {
                map.push(IdRange {
                    container: next,
                    host: start,
                    size: count,
                });
                next = next.saturating_add(count);
            }
            map
        };
        Mapping {
            uids: build(uid, "/etc/subuid", "newuidmap"),
            gids: build(gid, "/etc/subgid", "newgidmap"),
        }
    }

    /// The caller's own ids as 0 and nothing else (`runc spec --rootless`'s mapping).
    pub fn own() -> Mapping {
        let one = |host| {
            vec![IdRange {
                container: 0,
                host,
                size: 1,
            }]
        };
        Mapping {
            uids: one(geteuid().as_raw()),
            gids: one(getegid().as_raw()),
        }
    }

    /// Only the caller's own ids: nothing needs the setuid helpers, and every file of
    /// the container's root is simply the caller's.
    pub fn is_single(&self) -> bool {
        self.uids.len() == 1 && self.gids.len() == 1
    }

    pub fn maps_gid(&self, gid: u32) -> bool {
        self.gids
            .iter()
            .any(|r| gid >= r.container && gid - r.container < r.size)
    }

    /// The host uid a container uid is on disk.
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        self.uids
            .iter()
            .find(|r| uid >= r.container && uid - r.container < r.size)
            .map(|r| r.host + (uid - r.container))
    }
}

/// runc's rootless changes to a config.json (`runc spec --rootless`): the user namespace
/// with `mapping`, /sys bound from the host (sysfs cannot be mounted for a network
/// namespace the container does not own), devpts without `gid=5` when gid 5 is not
/// mapped, no cgroup device rules (there may be no cgroup to hold them; the runtime
/// binds the devices instead of making them).
pub fn rootless_spec(spec: &mut Value, mapping: &Mapping) {
    let ranges = |r: &[IdRange]| {
        r.iter()
            .map(|r| json!({ "containerID": r.container, "hostID": r.host, "size": r.size }))
            .collect::<Vec<_>>()
    };
    let linux = &mut spec["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        if !ns.iter().any(|n| n["type"] == "user") {
            ns.push(json!({ "type": "user" }));
        }
    }
    linux["uidMappings"] = json!(ranges(&mapping.uids));
    linux["gidMappings"] = json!(ranges(&mapping.gids));
    if let Some(r) = linux["resources"].as_object_mut() {
        r.remove("devices");
    }
    let gid5 = mapping.maps_gid(5);
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" && m["type"] == "sysfs" {
                *m = json!({
                    "destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
                });
            }
            if m["type"] == "devpts" && !gid5 {
                if let Some(o) = m["options"].as_array_mut() {
                    o.retain(|x| x != "gid=5");
                }
            }
        }
    }
}

/// The `start:count` ranges of /etc/subuid (or /etc/subgid) text for the user `uid`
/// (lines name it by name or by number).
pub fn subordinate_ranges(text: &str, uid: u32, name: Option<&str>) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            let me = who == uid.to_string() || Some(who) == name;
            let (start, count) = (start.parse().ok()?, count.parse().ok()?);
            (me && count > 0).then_some((start, count))
        })
        .collect()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:200000:10\nbob:300000:65536\nalice:400000:0\n";
        assert_eq!(
            subordinate_ranges(text, 1001, Some("alice")),
            vec![(100000, 65536), (200000, 10)]
        );
        assert!(subordinate_ranges(text, 1002, Some("carol")).is_empty());
        let m = Mapping {
            uids: vec![
                IdRange {
                    container: 0,
                    host: 1001,
                    size: 1,
                },
                IdRange {
                    container: 1,
                    host: 100000,
                    size: 65536,
                },
            ],
            gids: vec![IdRange {
                container: 0,
                host: 1001,
                size: 1,
            }],
        };
        assert_eq!(m.host_uid(0), Some(1001));
        assert_eq!(m.host_uid(1000), Some(100999));
        assert_eq!(m.host_uid(70000), None);
        assert!(m.maps_gid(0) && !m.maps_gid(5));
        assert!(!m.is_single());
    }
}
