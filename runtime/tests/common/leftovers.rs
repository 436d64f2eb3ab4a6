//! What a container can leave on the host, read before and after a test: mounts, cgroup
//! directories, processes, state folders, FIFOs and this process's descriptors.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub mounts: Vec<String>,
    /// Cgroup directories whose name holds the test's marker.
    pub cgroups: Vec<PathBuf>,
    /// Processes whose cgroup path holds the marker.
    pub procs: Vec<i32>,
    /// Entries under the test's --root.
    pub state: Vec<String>,
    pub fds: usize,
}

impl Snapshot {
    /// `marker` is a string every container id of the test holds.
    pub fn take(marker: &str, root: &Path) -> Snapshot {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            // Mount ids change as mounts come and go; the rest of the line says what it is.
            .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
            .collect();
        let mut cgroups = Vec::new();
        find_dirs(Path::new("/sys/fs/cgroup"), marker, 6, &mut cgroups);
        cgroups.sort();
        let mut procs = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                // A zombie has let go of everything but its pid, and its reaping is up to
                // its parent (PID 1 for a container whose runtime went away).
                if cg.contains(marker) && !zombie(pid) {
                    procs.push(pid);
                }
            }
        }
        let mut state: Vec<String> = std::fs::read_dir(root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        state.sort();
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|r| r.count())
            .unwrap_or(0);
        Snapshot {
            mounts,
            cgroups,
            procs,
            state,
            fds,
        }
    }

    /// For trials that share this process with others running at once: its descriptor
    /// count then follows the other trials, not this one.
    pub fn ignoring_fds(mut self) -> Snapshot {
        self.fds = usize::MAX;
        self
    }

    /// What `after` holds that `self` did not, in words; empty when nothing was left.
    pub fn left_by(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        let mut mounts = after.mounts.clone();
        for m in &self.mounts {
            if let Some(i) = mounts.iter().position(|x| x == m) {
                mounts.remove(i);
            }
        }
        out.extend(mounts.into_iter().map(|m| format!("mount {m}")));
        out.extend(
            after
                .cgroups
                .iter()
                .filter(|c| !self.cgroups.contains(c))
                .map(|c| format!("cgroup {}", c.display())),
        );
        out.extend(
            after
                .procs
                .iter()
                .filter(|p| !self.procs.contains(p))
                .map(|p| format!("process {p} ({})", cmdline(*p))),
        );
        out.extend(
            after
                .state
                .iter()
                .filter(|s| !self.state.contains(s))
                .map(|s| format!("state entry {s}")),
        );
        if after.fds > self.fds {
            out.push(format!("{} more open descriptors", after.fds - self.fds));
        }
        out
    }
}

fn zombie(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_none_or(|s| s == "Z" || s == "X")
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn find_dirs(dir: &Path, marker: &str, depth: u32, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let p = e.path();
        if e.file_name().to_string_lossy().contains(marker) {
            out.push(p.clone());
        }
        if depth > 0 {
            find_dirs(&p, marker, depth - 1, out);
        }
    }
}
