//! Namespaces: which to create, which to join by path and in what order, and the id maps.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespace, LinuxNamespaceType};

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("linux.namespaces[{index}].path: {path}: {msg}")]
    Path {
        index: usize,
        path: PathBuf,
        msg: String,
    },
    #[error("joining {kind} namespace {path}: {source}")]
    Join {
        kind: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("creating namespaces ({flags:?}): {source}")]
    Unshare {
        flags: CloneFlags,
        source: nix::Error,
    },
    #[error("writing {path}: {source}")]
    Map {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{tool} for pid {pid}: {msg}")]
    MapTool {
        tool: &'static str,
        pid: i32,
        msg: String,
    },
    #[error("linux.{field}[{index}]: {msg}")]
    Mapping {
        field: &'static str,
        index: usize,
        msg: String,
    },
}

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name under /proc/<pid>/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn from_proc_name(name: &str) -> Option<LinuxNamespaceType> {
    LinuxNamespaceType::try_from(name).ok()
}

/// The order runc joins in: user first (so the rest are joined with its privileges),
/// mount last (so the other paths stay reachable while joining).
fn join_rank(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 9,
        _ => 5,
    }
}

/// Namespaces to join, sorted into join order, and the flags to unshare afterwards.
pub struct Plan {
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    pub new_user: bool,
    /// Everything new except the user namespace, which is created (and mapped) first.
    pub unshare: CloneFlags,
}

pub fn plan(namespaces: &[LinuxNamespace]) -> Plan {
    let mut join: Vec<_> = namespaces
        .iter()
        .filter_map(|n| n.path().as_ref().map(|p| (n.typ(), p.clone())))
        .collect();
    join.sort_by_key(|(t, _)| join_rank(*t));
    let mut unshare = CloneFlags::empty();
    let mut new_user = false;
    for n in namespaces.iter().filter(|n| n.path().is_none()) {
        if n.typ() == LinuxNamespaceType::User {
            new_user = true;
        } else {
            unshare |= flag(n.typ());
        }
    }
    Plan {
        join,
        new_user,
        unshare,
    }
}

/// NS_GET_NSTYPE: the CLONE_NEW* type of a namespace file.
fn ns_type_of(file: &File) -> Result<i32, nix::Error> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: the ioctl takes no argument and only reads the descriptor's namespace.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    nix::errno::Errno::result(r)
}

/// Checks every `path` namespace: it exists, is a namespace, and of the stated type.
pub fn check_paths(namespaces: &[LinuxNamespace]) -> Result<(), NsError> {
    for (index, ns) in namespaces.iter().enumerate() {
        let Some(path) = ns.path() else { continue };
        let err = |msg: String| NsError::Path {
            index,
            path: path.clone(),
            msg,
        };
        let file = File::open(path).map_err(|e| err(e.to_string()))?;
        let kind = ns_type_of(&file).map_err(|e| match e {
            nix::errno::Errno::ENOTTY | nix::errno::Errno::EINVAL => {
                err("not a namespace file".into())
            }
            other => err(other.to_string()),
        })?;
        if kind != flag(ns.typ()).bits() {
            return Err(err(format!("not a {} namespace", proc_name(ns.typ()))));
        }
    }
    Ok(())
}

/// Joins the namespaces in `plan.join`, all opened first so later paths stay reachable.
pub fn join(list: &[(LinuxNamespaceType, PathBuf)]) -> Result<(), NsError> {
    let mut files = Vec::new();
    for (t, p) in list {
        let f = File::open(p).map_err(|e| NsError::Join {
            kind: proc_name(*t),
            path: p.clone(),
            source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        files.push((*t, p, f));
    }
    for (t, p, f) in files {
        setns(&f, flag(t)).map_err(|source| NsError::Join {
            kind: proc_name(t),
            path: p.clone(),
            source,
        })?;
    }
    Ok(())
}

pub fn unshare_flags(flags: CloneFlags) -> Result<(), NsError> {
    if flags.is_empty() {
        return Ok(());
    }
    unshare(flags).map_err(|source| NsError::Unshare { flags, source })
}

/// Checks a set of id mappings: non-empty sizes, no overflow, no overlap on either side.
pub fn check_mappings(field: &'static str, maps: &[LinuxIdMapping]) -> Result<(), NsError> {
    for (i, m) in maps.iter().enumerate() {
        let err = |msg: String| NsError::Mapping {
            field,
            index: i,
            msg,
        };
        if m.size() == 0 {
            return Err(err("size must be greater than 0".into()));
        }
        if m.container_id().checked_add(m.size()).is_none()
            || m.host_id().checked_add(m.size()).is_none()
        {
            return Err(err("range overflows 32 bits".into()));
        }
        for (j, o) in maps.iter().enumerate().take(i) {
            let overlap = |a: u32, b: u32| a < b + o.size() && b < a + m.size();
            if overlap(m.container_id(), o.container_id()) {
                return Err(err(format!("containerID range overlaps {field}[{j}]")));
            }
            if overlap(m.host_id(), o.host_id()) {
                return Err(err(format!("hostID range overlaps {field}[{j}]")));
            }
        }
    }
    if maps.len() > 340 {
        return Err(NsError::Mapping {
            field,
            index: 340,
            msg: "the kernel takes at most 340 ranges".into(),
        });
    }
    Ok(())
}

/// Writes uid_map and gid_map of `pid`, as runc does: directly when the kernel lets us
/// (root, or a rootless caller mapping only its own id), else through the setuid helpers
/// newuidmap/newgidmap (apt uidmap), which check the ranges in /etc/subuid and
/// /etc/subgid. A rootless caller mapping only its own gid without the helper must deny
/// setgroups first, or the kernel refuses the gid map.
pub fn write_id_maps(
    pid: i32,
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
    rootless: bool,
) -> Result<(), NsError> {
    if rootless && !gids.is_empty() && !needs_map_tool(gids, nix::unistd::getegid().as_raw()) {
        let path = Path::new("/proc").join(pid.to_string()).join("setgroups");
        std::fs::write(&path, "deny").map_err(|source| NsError::Map { path, source })?;
    }
    for (name, tool, maps) in [
        ("uid_map", "newuidmap", uids),
        ("gid_map", "newgidmap", gids),
    ] {
        if maps.is_empty() {
            continue;
        }
        let path = Path::new("/proc").join(pid.to_string()).join(name);
        let text: String = maps
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        match std::fs::write(&path, text) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => map_with_tool(tool, pid, maps)?,
            Err(source) => return Err(NsError::Map { path, source }),
        }
    }
    Ok(())
}

/// Whether mapping `maps` takes more than the caller's own id (so an unprivileged caller
/// needs newuidmap/newgidmap).
pub fn needs_map_tool(maps: &[LinuxIdMapping], own: u32) -> bool {
    !matches!(maps, [m] if m.size() == 1 && m.host_id() == own)
}

fn map_with_tool(tool: &'static str, pid: i32, maps: &[LinuxIdMapping]) -> Result<(), NsError> {
    let mut cmd = std::process::Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let err = |msg: String| NsError::MapTool { tool, pid, msg };
    let out = cmd.output().map_err(|e| {
        err(if e.kind() == std::io::ErrorKind::NotFound {
            "not found: mapping more than your own id needs it (apt uidmap) and ranges in /etc/subuid and /etc/subgid".to_string()
        } else {
            e.to_string()
        })
    })?;
    if !out.status.success() {
        return Err(err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn m(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(s)
            .build()
            .unwrap()
    }

    #[test]
    fn mappings() {
        assert!(check_mappings("uidMappings", &[m(0, 1000, 10), m(10, 5000, 10)]).is_ok());
        assert!(check_mappings("uidMappings", &[m(0, 1000, 10), m(5, 5000, 10)]).is_err());
        assert!(check_mappings("uidMappings", &[m(0, 1000, 10), m(20, 1005, 10)]).is_err());
        assert!(check_mappings("uidMappings", &[m(0, 1000, 0)]).is_err());
        assert!(check_mappings("uidMappings", &[m(u32::MAX, 1000, 2)]).is_err());
    }

    #[test]
    fn join_order_user_first_mount_last() {
        let ns = |t, p: &str| {
            let mut n = LinuxNamespace::default();
            n.set_typ(t);
            n.set_path(Some(PathBuf::from(p)));
            n
        };
        let p = plan(&[
            ns(LinuxNamespaceType::Mount, "/m"),
            ns(LinuxNamespaceType::Network, "/n"),
            ns(LinuxNamespaceType::User, "/u"),
        ]);
        let order: Vec<_> = p.join.iter().map(|(t, _)| proc_name(*t)).collect();
        assert_eq!(order, ["user", "net", "mnt"]);
        assert!(p.unshare.is_empty() && !p.new_user);
    }
}
