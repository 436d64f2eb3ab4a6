//! `run`'s process and isolation flags that map straight onto config.json, as docker
//! maps them: `--privileged`, `--security-opt no-new-privileges`, `--ulimit`, `--device`,
//! `--pid`, `--ipc`, `--uts` and `--stop-signal`.

use super::config::{flag, ConfigError};
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Whose namespace of one kind the container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Share {
    /// Its own (docker's default).
    #[default]
    Private,
    /// The host's: no namespace of that kind in config.json.
    Host,
    /// Another container's: the namespace file of its init (`/proc/PID/ns/KIND`).
    Path(PathBuf),
}

/// `--ulimit NAME=SOFT[:HARD]` as an OCI rlimit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]`, read off the host's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: String,
    /// The node on the host it is read off (bound there by a rootless container).
    pub host: String,
    pub kind: &'static str,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub access: String,
}

#[derive(Debug, Clone, Default)]
pub struct Isolation {
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub ulimits: Vec<Ulimit>,
    pub devices: Vec<Device>,
    pub pid: Share,
    pub ipc: Share,
    pub uts: Share,
    pub stop_signal: Option<String>,
}

/// docker's `--ulimit` names and the rlimits they are.
const ULIMITS: [(&str, &str); 16] = [
    ("as", "RLIMIT_AS"),
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

/// `-1` is unlimited, as in docker.
fn limit_value(flag_value: &str, v: &str) -> Result<u64, ConfigError> {
    if v == "-1" {
        return Ok(u64::MAX);
    }
    v.parse::<u64>().map_err(|_| {
        flag(
            "--ulimit",
            flag_value,
            format!("{v:?} is not a number (or -1 for unlimited)"),
        )
    })
}

pub fn parse_ulimit(s: &str) -> Result<Ulimit, ConfigError> {
    let (name, values) = s.split_once('=').ok_or_else(|| {
        flag(
            "--ulimit",
            s,
            "want NAME=SOFT[:HARD], e.g. nofile=1024:2048",
        )
    })?;
    let kind = ULIMITS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| k.to_string())
        .ok_or_else(|| {
            let names: Vec<&str> = ULIMITS.iter().map(|(n, _)| *n).collect();
            flag(
                "--ulimit",
                s,
                format!("unknown limit {name:?} (one of {})", names.join(", ")),
            )
        })?;
    let (soft, hard) = match values.split_once(':') {
        Some((a, b)) => (limit_value(s, a)?, limit_value(s, b)?),
        None => {
            let v = limit_value(s, values)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(flag(
            "--ulimit",
            s,
            "the soft limit is above the hard limit",
        ));
    }
    Ok(Ulimit { kind, soft, hard })
}

/// A device node on the host, as config.json's `linux.devices` describes it.
fn node(host: &Path, shown: &str) -> Result<(&'static str, u64, u64, u32), ConfigError> {
    let meta = std::fs::metadata(host)
        .map_err(|e| flag("--device", shown, format!("{}: {e}", host.display())))?;
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Err(flag(
            "--device",
            shown,
            format!("{} is not a device node", host.display()),
        ));
    };
    let rdev = meta.rdev();
    Ok((
        kind,
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev),
        meta.mode() & 0o7777,
    ))
}

pub fn parse_device(s: &str) -> Result<Device, ConfigError> {
    let parts: Vec<&str> = s.split(':').collect();
    let is_access = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (host, path, access) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, a] if is_access(a) => (*h, *h, *a),
        [h, c] => (*h, *c, "rwm"),
        [h, c, a] if is_access(a) => (*h, *c, *a),
        _ => {
            return Err(flag(
                "--device",
                s,
                "want HOST[:CONTAINER][:PERMISSIONS], permissions from r, w and m",
            ))
        }
    };
    if !host.starts_with('/') || !path.starts_with('/') {
        return Err(flag("--device", s, "device paths must be absolute"));
    }
    let (kind, major, minor, mode) = node(Path::new(host), s)?;
    Ok(Device {
        path: path.to_string(),
        host: host.to_string(),
        kind,
        major,
        minor,
        mode,
        access: access.to_string(),
    })
}

/// `--security-opt no-new-privileges[:true|false|=true|=false]`; `None` when `opt` is
/// another option.
pub fn parse_no_new_privileges(opt: &str) -> Option<Result<bool, ConfigError>> {
    let rest = opt.strip_prefix("no-new-privileges")?;
    Some(match rest {
        "" | ":true" | "=true" => Ok(true),
        ":false" | "=false" => Ok(false),
        _ => Err(flag(
            "--security-opt",
            opt,
            "want no-new-privileges, no-new-privileges:true or no-new-privileges:false",
        )),
    })
}

/// Every device node under /dev on the host, for `--privileged` (docker gives them all).
fn host_devices() -> Vec<Device> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(items) = std::fs::read_dir(&dir) else {
            continue;
        };
        for item in items.flatten() {
            let path = item.path();
            let Ok(ft) = item.file_type() else { continue };
            // /dev/pts and /dev/mqueue and /dev/shm are the container's own mounts.
            if ft.is_dir()
                && !["pts", "mqueue", "shm"]
                    .iter()
                    .any(|d| path == Path::new("/dev").join(d))
            {
                stack.push(path);
            } else if ft.is_char_device() || ft.is_block_device() {
                let shown = path.display().to_string();
                if let Ok((kind, major, minor, mode)) = node(&path, &shown) {
                    out.push(Device {
                        path: shown.clone(),
                        host: shown,
                        kind,
                        major,
                        minor,
                        mode,
                        access: "rwm".into(),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The namespace file of kind `kind` of a running container's init, for
/// `--pid/--ipc container:NAME`.
pub fn namespace_of(
    containers: &super::record::Containers,
    query: &str,
    kind: &str,
) -> Result<PathBuf, super::ContainerError> {
    let target = containers.find(query)?;
    let running = matches!(
        super::lifecycle::status(containers, &target),
        super::runtime::Status::Running | super::runtime::Status::Paused
    );
    let pid = super::lifecycle::init_pid(containers, &target.id)
        .filter(|_| running)
        .ok_or_else(|| super::ContainerError::NotRunning(target.name.clone()))?;
    Ok(PathBuf::from(format!("/proc/{pid}/ns/{kind}")))
}

fn share(spec: &mut Value, kind: &str, how: &Share) {
    let ns = spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("runc spec has namespaces");
    match how {
        Share::Private => {}
        Share::Host => ns.retain(|n| n["type"] != kind),
        Share::Path(p) => {
            for n in ns.iter_mut().filter(|n| n["type"] == kind) {
                n["path"] = json!(p);
            }
        }
    }
}

/// Applies the flags to a spec already holding the image's process and docker's
/// defaults (capabilities, seccomp, masked paths).
pub fn apply(spec: &mut Value, iso: &Isolation) {
    share(spec, "pid", &iso.pid);
    share(spec, "ipc", &iso.ipc);
    if iso.uts == Share::Host {
        share(spec, "uts", &Share::Host);
        if let Some(o) = spec.as_object_mut() {
            o.remove("hostname");
        }
    }
    // docker's default is off (runc's spec template, which bundles keep, has it on).
    spec["process"]["noNewPrivileges"] = json!(iso.no_new_privileges);
    if !iso.ulimits.is_empty() {
        let mut rlimits: Vec<Value> = spec["process"]["rlimits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for u in &iso.ulimits {
            rlimits.retain(|r| r["type"] != u.kind.as_str());
            rlimits.push(json!({"type": u.kind, "soft": u.soft, "hard": u.hard}));
        }
        spec["process"]["rlimits"] = json!(rlimits);
    }
    let mut devices = iso.devices.clone();
    if iso.privileged {
        // docker --privileged: every capability, no seccomp filter, nothing masked or
        // read-only, /sys writable, every host device and any device node allowed.
        // What this process holds (CapEff): root without one of them (CAP_SYS_RESOURCE
        // on some hosts) cannot hand it on; docker's "all" means all the daemon has.
        let caps = super::config::own_capabilities(caps::CapSet::Effective);
        let user_is_root = spec["process"]["user"]["uid"].as_u64() == Some(0);
        let effective: Vec<String> = if user_is_root {
            caps.clone()
        } else {
            Vec::new()
        };
        spec["process"]["capabilities"] = json!({
            "bounding": caps, "effective": effective, "permitted": effective,
        });
        let linux = &mut spec["linux"];
        if let Some(o) = linux.as_object_mut() {
            o.remove("seccomp");
            o.remove("maskedPaths");
            o.remove("readonlyPaths");
        }
        linux["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        if let Some(mounts) = spec["mounts"].as_array_mut() {
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/sys") {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| o != "ro");
                }
            }
        }
        for d in host_devices() {
            if !devices.iter().any(|x| x.path == d.path) {
                devices.push(d);
            }
        }
    }
    if !devices.is_empty() {
        let mut list: Vec<Value> = spec["linux"]["devices"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut rules: Vec<Value> = spec["linux"]["resources"]["devices"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for d in &devices {
            list.retain(|x| x["path"] != d.path.as_str());
            list.push(json!({
                "path": d.path, "type": d.kind, "major": d.major, "minor": d.minor,
                "fileMode": d.mode, "uid": 0, "gid": 0,
            }));
            if !iso.privileged {
                rules.push(json!({
                    "allow": true, "type": d.kind, "major": d.major, "minor": d.minor,
                    "access": d.access,
                }));
            }
        }
        spec["linux"]["devices"] = json!(list);
        spec["linux"]["resources"]["devices"] = json!(rules);
    }
    if let Some(sig) = &iso.stop_signal {
        spec["annotations"][crate::bundle::spec::STOP_SIGNAL_ANNOTATION] = json!(sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_follow_docker() {
        assert_eq!(
            parse_ulimit("nofile=1024:2048").unwrap(),
            Ulimit {
                kind: "RLIMIT_NOFILE".into(),
                soft: 1024,
                hard: 2048
            }
        );
        let u = parse_ulimit("core=-1").unwrap();
        assert_eq!((u.soft, u.hard), (u64::MAX, u64::MAX));
        for bad in ["nofile", "files=1", "nofile=x", "nofile=10:5"] {
            let e = parse_ulimit(bad).unwrap_err().to_string();
            assert!(e.contains("--ulimit"), "{bad}: {e}");
        }
    }

    #[test]
    fn devices_are_read_off_the_host() {
        let d = parse_device("/dev/null:/dev/mynull:rw").unwrap();
        assert_eq!(
            (d.path.as_str(), d.kind, d.major, d.minor, d.access.as_str()),
            ("/dev/mynull", "c", 1, 3, "rw")
        );
        assert_eq!(parse_device("/dev/zero:r").unwrap().path, "/dev/zero");
        for bad in [
            "/etc/passwd",
            "/dev/nonexistent-x",
            "dev/null",
            "/dev/null:/x:q",
        ] {
            let e = parse_device(bad).unwrap_err().to_string();
            assert!(e.contains("--device"), "{bad}: {e}");
        }
    }

    #[test]
    fn no_new_privileges_forms() {
        assert!(parse_no_new_privileges("seccomp=unconfined").is_none());
        assert!(parse_no_new_privileges("no-new-privileges")
            .unwrap()
            .unwrap());
        assert!(!parse_no_new_privileges("no-new-privileges:false")
            .unwrap()
            .unwrap());
        assert!(parse_no_new_privileges("no-new-privileges:maybe")
            .unwrap()
            .is_err());
    }

    #[test]
    fn host_namespaces_leave_the_spec() {
        let mut spec = json!({
            "hostname": "x",
            "process": {"user": {"uid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}], "resources": {}},
            "mounts": [],
        });
        let iso = Isolation {
            pid: Share::Host,
            ipc: Share::Path("/proc/7/ns/ipc".into()),
            uts: Share::Host,
            ..Isolation::default()
        };
        apply(&mut spec, &iso);
        assert_eq!(
            spec["linux"]["namespaces"],
            json!([{"type": "ipc", "path": "/proc/7/ns/ipc"}])
        );
        assert!(spec.get("hostname").is_none());
    }
}
