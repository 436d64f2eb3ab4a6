//! The `cgroup` mount: what runc puts at /sys/fs/cgroup.
//!
//! On v1 and hybrid hosts: a tmpfs with one bind of the container's own cgroup directory
//! per v1 hierarchy (or, with a new cgroup namespace, a fresh mount of each hierarchy).
//! On a unified host: a cgroup2 mount. The binds carry the mount's flags (read-only by
//! default, as `runc spec` asks).

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::options::MountOptions;
use super::resolve::{self, Create};
use super::Ctx;
use crate::syscall::fd_path;

/// A cgroup hierarchy mounted on the host: its mount point, the super options naming its
/// controllers, and whether it is cgroup2.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    pub root: PathBuf,
    pub options: String,
    pub v2: bool,
}

pub fn host_hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let v2 = r[0] == "cgroup2";
        if r[0] != "cgroup" && !v2 {
            continue;
        }
        out.push(Hierarchy {
            mountpoint: PathBuf::from(l[4]),
            root: PathBuf::from(l[3]),
            options: r[2].to_string(),
            v2,
        });
    }
    out
}

/// Our own membership: hierarchy key ("cpu,cpuacct", "name=systemd", "" for v2) -> path.
pub fn own_cgroups(proc_cgroup: &str) -> BTreeMap<String, PathBuf> {
    proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _ = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            Some((ctrls.to_string(), PathBuf::from(path)))
        })
        .collect()
}

/// Which /proc/self/cgroup key a v1 hierarchy's super options belong to.
fn key_of(options: &str, membership: &BTreeMap<String, PathBuf>) -> Option<String> {
    let opts: Vec<&str> = options.split(',').collect();
    membership
        .keys()
        .find(|k| !k.is_empty() && k.split(',').all(|c| opts.contains(&c)))
        .cloned()
}

pub fn mount_cgroup(ctx: &Ctx, dest: &Path, typ: &str, opts: &MountOptions) -> Result<(), String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading mountinfo: {e}"))?;
    let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("reading /proc/self/cgroup: {e}"))?;
    let hier = host_hierarchies(&mountinfo);
    let member = own_cgroups(&proc_cgroup);
    let flags = opts
        .flags()
        .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    let v1: Vec<&Hierarchy> = hier.iter().filter(|h| !h.v2).collect();

    let target = resolve::open_in_root(super::ctx_root(ctx), dest, Create::Dir)
        .map_err(|e| format!("creating destination: {e}"))?;
    let tpath = fd_path(target.as_raw_fd());
    if v1.is_empty() || typ == "cgroup2" {
        // Unified host: one cgroup2 mount (its view is the cgroup namespace's root).
        return mount(
            Some("cgroup"),
            tpath.as_c_str(),
            Some("cgroup2"),
            flags,
            None::<&str>,
        )
        .map_err(|e| format!("mounting cgroup2: {e}"));
    }
    mount(
        Some("tmpfs"),
        tpath.as_c_str(),
        Some("tmpfs"),
        flags.difference(MsFlags::MS_RDONLY),
        Some("mode=755"),
    )
    .map_err(|e| format!("mounting tmpfs for the cgroup hierarchies: {e}"))?;
    let mut seen = std::collections::BTreeSet::new();
    for h in v1 {
        let Some(key) = key_of(&h.options, &member) else {
            continue;
        };
        let Some(name) = h
            .mountpoint
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
        else {
            continue;
        };
        if !seen.insert(name.clone()) {
            continue;
        }
        let sub = dest.join(&name);
        let subfd = resolve::open_in_root(super::ctx_root(ctx), &sub, Create::Dir)
            .map_err(|e| format!("creating {}: {e}", sub.display()))?;
        let spath = fd_path(subfd.as_raw_fd());
        if ctx.cgroupns {
            let data: Vec<&str> = h
                .options
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro"))
                .collect();
            mount(
                Some("cgroup"),
                spath.as_c_str(),
                Some("cgroup"),
                flags,
                Some(data.join(",").as_str()),
            )
            .map_err(|e| format!("mounting cgroup hierarchy {name}: {e}"))?;
        } else {
            let rel = member.get(&key).cloned().unwrap_or_default();
            let inner = rel
                .strip_prefix(&h.root)
                .map(Path::to_path_buf)
                .unwrap_or(rel);
            let src = h.mountpoint.join(inner.strip_prefix("/").unwrap_or(&inner));
            mount(
                Some(src.as_path()),
                spath.as_c_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| format!("binding cgroup {}: {e}", src.display()))?;
            let again = resolve::open_in_root(super::ctx_root(ctx), &sub, Create::No)
                .map_err(|e| e.to_string())?;
            let apath = fd_path(again.as_raw_fd());
            mount(
                None::<&str>,
                apath.as_c_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
                None::<&str>,
            )
            .map_err(|e| format!("remounting cgroup {name}: {e}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_host_parsing() {
        let mi = "30 25 0:29 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu\n\
                  36 25 0:36 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                  37 25 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
        let h = host_hierarchies(mi);
        assert_eq!(h.len(), 3);
        assert!(h[1].v2);
        let m = own_cgroups("1:cpu:/x\n9:name=systemd:/y\n0::/z\n");
        assert_eq!(key_of(&h[0].options, &m).as_deref(), Some("cpu"));
        assert_eq!(key_of(&h[2].options, &m).as_deref(), Some("name=systemd"));
    }
}
