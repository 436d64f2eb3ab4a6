//! Host-side view of cgroups: where a process sits in each hierarchy, and the
//! limit files there, so cases read back what the runtime wrote.

use std::path::PathBuf;

/// One line of /proc/<pid>/cgroup joined with where that hierarchy is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// `memory`, `cpu,cpuacct`, `name=systemd`, or empty for cgroup2.
    pub controllers: String,
    /// Path inside the hierarchy, e.g. `/user/abc`.
    pub path: String,
    /// The directory on the host (mount point + path), when the hierarchy is mounted.
    pub dir: Option<PathBuf>,
}

/// Host mount points of cgroup hierarchies: (super options or "" for cgroup2, mount point).
fn hierarchy_mounts() -> Vec<(Vec<String>, PathBuf)> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 || l[3] != "/" {
            continue;
        }
        match r[0] {
            "cgroup" => out.push((
                r[2].split(',').map(str::to_string).collect(),
                PathBuf::from(l[4]),
            )),
            "cgroup2" => out.push((Vec::new(), PathBuf::from(l[4]))),
            _ => {}
        }
    }
    out
}

/// Parses /proc/<pid>/cgroup text against the host's hierarchy mounts.
pub fn parse_membership(text: &str) -> Vec<Membership> {
    let mounts = hierarchy_mounts();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _ = f.next()?;
            let controllers = f.next()?.to_string();
            let path = f.next()?.to_string();
            let dir = mounts
                .iter()
                .find(|(opts, _)| {
                    if controllers.is_empty() {
                        opts.is_empty()
                    } else {
                        !opts.is_empty()
                            && controllers.split(',').all(|c| opts.iter().any(|o| o == c))
                    }
                })
                .map(|(_, mp)| mp.join(path.trim_start_matches('/')));
            Some(Membership {
                controllers,
                path,
                dir,
            })
        })
        .collect()
}

pub fn of_pid(pid: i32) -> Vec<Membership> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|t| parse_membership(&t))
        .unwrap_or_default()
}

pub fn own() -> Vec<Membership> {
    std::fs::read_to_string("/proc/self/cgroup")
        .map(|t| parse_membership(&t))
        .unwrap_or_default()
}

/// The host directory of `pid` in the hierarchy holding `controller`
/// (`""` for cgroup2).
pub fn dir_of(pid: i32, controller: &str) -> Option<PathBuf> {
    of_pid(pid)
        .into_iter()
        .find(|m| {
            if controller.is_empty() {
                m.controllers.is_empty()
            } else {
                m.controllers.split(',').any(|c| c == controller)
            }
        })
        .and_then(|m| m.dir)
}

/// Reads `file` in `pid`'s cgroup of `controller`, trimmed.
pub fn read(pid: i32, controller: &str, file: &str) -> Result<String, String> {
    let dir = dir_of(pid, controller)
        .ok_or_else(|| format!("pid {pid} has no {controller:?} cgroup mounted on the host"))?;
    let p = dir.join(file);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_membership_resolves_to_existing_dirs() {
        for m in own() {
            if let Some(d) = m.dir {
                assert!(d.is_dir(), "{} missing", d.display());
            }
        }
    }

    #[test]
    fn parses_lines() {
        let m = parse_membership("4:memory:/a/b\n0::/c\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].controllers, "memory");
        assert_eq!(m[0].path, "/a/b");
        assert_eq!(m[1].controllers, "");
    }
}
