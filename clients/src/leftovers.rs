//! What a flow may leave behind on the host: processes (shims, conmon), mounts,
//! cgroups and runtime state directories. Each finder is scoped by a needle the
//! caller owns (its private namespace, store path or container id), so flows of
//! other sessions on the same machine never count.

use std::fs;
use std::path::{Path, PathBuf};

/// A live process whose command line contains `needle` (zombies count as gone:
/// PID 1 here reaps orphans only every few seconds).
pub fn processes_with(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return found;
    };
    let me = std::process::id() as i32;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) && !is_zombie(pid) {
            found.push((pid, cmdline.trim_end().to_string()));
        }
    }
    found
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next())
        })
        .is_none_or(|state| state == 'Z' || state == 'X')
}

/// Mount points (from our mountinfo) whose path contains `needle`.
pub fn mounts_with(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| mp.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Every cgroup hierarchy mounted on this host (v1 controllers and the unified one).
pub fn cgroup_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup ") || t.starts_with("cgroup2 "))
        })
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// cgroup v1 hierarchies this process belongs to that are mounted nowhere: mounted
/// by someone, given child cgroups, then unmounted, the hierarchy lives on unseen.
/// containerd 1.6's cgroups library then fails to load any process's cgroups
/// ("cgroups: cannot find cgroup mount destination").
pub fn unmounted_v1_hierarchies() -> Vec<String> {
    let mounted: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(" - ").nth(1))
        .filter(|t| t.starts_with("cgroup "))
        .filter_map(|t| t.split(' ').nth(2).map(str::to_string))
        .collect();
    let is_mounted = |ctrl: &str| {
        mounted
            .iter()
            .any(|opts| opts.split(',').any(|o| o == ctrl))
    };
    fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (id, ctrls) = (f.next()?, f.next()?);
            (id != "0" && !ctrls.is_empty()).then(|| ctrls.to_string())
        })
        .filter(|ctrls| !ctrls.split(',').all(is_mounted))
        .collect()
}

/// `rel` (a cgroup path like `ns/id`) in every hierarchy where it exists.
pub fn cgroups_named(rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim_start_matches('/');
    cgroup_roots()
        .into_iter()
        .map(|r| r.join(rel))
        .filter(|p| p.is_dir())
        .collect()
}

/// Child cgroups of `rel` in every hierarchy.
pub fn cgroup_children(rel: &str) -> Vec<PathBuf> {
    cgroups_named(rel)
        .into_iter()
        .flat_map(|p| subdirs(&p))
        .collect()
}

/// Entries of a directory (empty when it does not exist).
pub fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    entries(dir).into_iter().filter(|p| p.is_dir()).collect()
}

/// Removes `rel` from every hierarchy when it is empty of tasks and children
/// (rmdir refuses otherwise, so a cgroup someone uses is never touched).
pub fn remove_empty_cgroup(rel: &str) {
    for p in cgroups_named(rel) {
        let _ = fs::remove_dir(&p);
    }
}

/// A report of everything found, or `None` when the host is clean.
#[derive(Default, Debug)]
pub struct Report {
    lines: Vec<String>,
}

impl Report {
    pub fn processes(&mut self, what: &str, found: Vec<(i32, String)>) {
        for (pid, cmd) in found {
            self.lines
                .push(format!("{what} process {pid} still running: {cmd}"));
        }
    }

    pub fn paths(&mut self, what: &str, found: Vec<PathBuf>) {
        for p in found {
            self.lines
                .push(format!("{what} left behind: {}", p.display()));
        }
    }

    pub fn mounts(&mut self, found: Vec<String>) {
        for m in found {
            self.lines.push(format!("mount left behind: {m}"));
        }
    }

    pub fn into_result(self) -> anyhow::Result<()> {
        if self.lines.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("leftovers after the flow:\n  {}", self.lines.join("\n  "))
        }
    }
}
