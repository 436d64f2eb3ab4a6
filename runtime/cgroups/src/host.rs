//! What the host mounts where: cgroup v1 hierarchies and the cgroup2 tree, from
//! /proc/self/mountinfo, and this process's own cgroups from /proc/self/cgroup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Error, Layout};

/// The v1 controllers runc knows (plus the named systemd hierarchy it joins).
pub(crate) const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "devices",
    "memory",
    "cpu",
    "cpuacct",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "freezer",
    "rdma",
    "misc",
    "name=systemd",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mountpoint: PathBuf,
    /// The mount's root inside the hierarchy ("/" unless in a cgroup namespace or bind).
    pub root: String,
}

/// The cgroup view of the current process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub layout: Layout,
    /// v1 controller (or "name=systemd") -> its hierarchy's mount.
    pub v1: BTreeMap<String, Mount>,
    /// The cgroup2 mount, if any.
    pub unified: Option<Mount>,
    /// controller (or "" for cgroup2) -> this process's cgroup in that hierarchy.
    pub own: BTreeMap<String, String>,
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Host {
    /// The live host, as seen by this process.
    pub fn detect() -> Result<Host, Error> {
        let mi = std::fs::read_to_string("/proc/self/mountinfo").map_err(Error::Mountinfo)?;
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|source| Error::Read {
            path: "/proc/self/cgroup".into(),
            source,
        })?;
        Host::from_texts(&mi, &own)
    }

    /// Parses mountinfo and /proc/<pid>/cgroup text.
    pub fn from_texts(mountinfo: &str, proc_cgroup: &str) -> Result<Host, Error> {
        let mut v1 = BTreeMap::new();
        let mut unified = None;
        for line in mountinfo.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 5 || post.len() < 3 {
                continue;
            }
            let mount = Mount {
                root: unescape(pre[3]),
                mountpoint: PathBuf::from(unescape(pre[4])),
            };
            match post[0] {
                "cgroup2" if unified.is_none() => unified = Some(mount),
                "cgroup" => {
                    for opt in post[2].split(',') {
                        if V1_CONTROLLERS.contains(&opt) {
                            v1.entry(opt.to_string()).or_insert_with(|| mount.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        let has_v1 = v1.keys().any(|k| !k.starts_with("name="));
        // runc's test: cgroup2 mounted at /sys/fs/cgroup itself means a unified host,
        // whatever v1 hierarchies someone mounted elsewhere.
        let cgroup2_at_root = unified
            .as_ref()
            .is_some_and(|m: &Mount| m.mountpoint == Path::new("/sys/fs/cgroup"));
        let layout = match (has_v1 && !cgroup2_at_root, unified.is_some()) {
            (true, true) => Layout::Hybrid,
            (true, false) => Layout::Legacy,
            (false, true) => Layout::Unified,
            (false, false) => return Err(Error::NoCgroupMounts),
        };
        if layout == Layout::Unified {
            // A leftover named v1 hierarchy does not make a unified host hybrid.
            v1.clear();
        }
        let mut own = BTreeMap::new();
        for line in proc_cgroup.lines() {
            let mut it = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if ctrls.is_empty() {
                own.insert(String::new(), path.to_string());
            } else {
                for c in ctrls.split(',') {
                    own.insert(c.to_string(), path.to_string());
                }
            }
        }
        Ok(Host {
            layout,
            v1,
            unified,
            own,
        })
    }

    /// A host shaped like /sys/fs/cgroup under `root`, for tests on fixture trees:
    /// v1 controllers at root/<name>, cgroup2 at root (unified) or root/unified (hybrid),
    /// and this process in "/" everywhere.
    pub fn fixture(layout: Layout, root: &Path, v1_controllers: &[&str]) -> Host {
        let m = |p: PathBuf| Mount {
            mountpoint: p,
            root: "/".into(),
        };
        let mut v1 = BTreeMap::new();
        let mut own = BTreeMap::new();
        if layout != Layout::Unified {
            for c in v1_controllers {
                v1.insert(c.to_string(), m(root.join(c)));
                own.insert(c.to_string(), "/".to_string());
            }
        }
        let unified = match layout {
            Layout::Unified => Some(m(root.to_path_buf())),
            Layout::Hybrid => Some(m(root.join("unified"))),
            Layout::Legacy => None,
        };
        if unified.is_some() {
            own.insert(String::new(), "/".to_string());
        }
        Host {
            layout,
            v1,
            unified,
            own,
        }
    }

    /// The directory of this process's own cgroup for `key` ("" = cgroup2), as runc's
    /// GetOwnCgroupPath: the mountpoint plus the own path with the mount root removed.
    pub fn own_dir(&self, key: &str) -> Option<PathBuf> {
        let mount = if key.is_empty() {
            self.unified.as_ref()?
        } else {
            self.v1.get(key)?
        };
        let own = self.own.get(key).map(String::as_str).unwrap_or("/");
        let rel = own.strip_prefix(mount.root.as_str()).unwrap_or(own);
        Some(join_inner(&mount.mountpoint, rel))
    }
}

/// Joins a cgroup path (absolute or relative) under a directory.
pub(crate) fn join_inner(base: &Path, inner: &str) -> PathBuf {
    let rel = inner.trim_start_matches('/');
    if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host_and_own_paths() {
        let h = Host::from_texts(
            HYBRID,
            "4:memory:/process_api/abc\n1:cpu:/\n0::/\n9:name=systemd:/\n",
        )
        .unwrap();
        assert_eq!(h.layout, Layout::Hybrid);
        assert_eq!(
            h.own_dir("memory").unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(
            h.own_dir("cpu").unwrap(),
            PathBuf::from("/sys/fs/cgroup/cpu")
        );
        assert_eq!(
            h.own_dir("").unwrap(),
            PathBuf::from("/sys/fs/cgroup/unified")
        );
        assert!(h.v1.contains_key("name=systemd"));
        assert!(h.own_dir("hugetlb").is_none());
    }

    #[test]
    fn unified_and_legacy_and_none() {
        let u = Host::from_texts(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
            "0::/user.slice/session-1.scope\n",
        )
        .unwrap();
        assert_eq!(u.layout, Layout::Unified);
        assert_eq!(
            u.own_dir("").unwrap(),
            PathBuf::from("/sys/fs/cgroup/user.slice/session-1.scope")
        );
        let l = Host::from_texts(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
            "",
        )
        .unwrap();
        assert_eq!(l.layout, Layout::Legacy);
        assert_eq!(l.v1["cpuacct"], l.v1["cpu"]);
        let odd = Host::from_texts(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n40 30 0:30 / /mnt/v1mem rw - cgroup cgroup rw,memory\n",
            "0::/\n",
        )
        .unwrap();
        assert_eq!(odd.layout, Layout::Unified);
        assert!(odd.v1.is_empty());
        assert!(matches!(
            Host::from_texts("1 1 0:1 / / rw - ext4 /dev/sda rw\n", ""),
            Err(Error::NoCgroupMounts)
        ));
    }

    #[test]
    fn cgroup_namespace_root_is_stripped_and_escapes_decoded() {
        let h = Host::from_texts(
            "35 31 0:32 /kube/pod1 /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory\n",
            "4:memory:/kube/pod1/ctr\n",
        )
        .unwrap();
        assert_eq!(
            h.own_dir("memory").unwrap(),
            PathBuf::from("/sys/fs/cgroup/mem ory/ctr")
        );
    }
}
