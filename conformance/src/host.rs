//! Host features a case may need; a case whose need is missing is skipped
//! with the reason.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Unprivileged-style user namespaces can be created.
    UserNs,
    /// The kernel has time namespaces.
    TimeNs,
    /// A v1 hierarchy of this controller is mounted.
    CgroupV1(&'static str),
    /// A cgroup v2 hierarchy exists (hybrid or unified).
    CgroupV2,
    AppArmor,
    SeLinux,
    Swap,
    /// The hugetlb controller is usable (v1 mount or v2 controller).
    Hugetlb,
    /// The RDMA cgroup controller exists.
    Rdma,
    /// root holds CAP_SYS_RESOURCE (raising hard limits, negative oom_score_adj).
    SysResource,
    /// A veth link can be created (netDevices cases move one into the container).
    Veth,
    /// Mount idmapping (mount_setattr MOUNT_ATTR_IDMAP) on tmpfs.
    IdmappedMounts,
    /// resctrl (Intel RDT / AMD QoS) mounted at /sys/fs/resctrl.
    Resctrl,
    /// CRIU installed and `criu check` passing on this kernel.
    Criu,
    /// docker's default seccomp profile, as podman installs it (apt
    /// golang-github-containers-common): the source of the old-style allow-lists.
    DockerSeccompProfile,
}

/// Where podman's packages install docker's default seccomp profile.
pub const DOCKER_SECCOMP_PROFILE: &str = "/usr/share/containers/seccomp.json";

fn v1_mounted(controller: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines().any(|l| {
                let Some((_, right)) = l.split_once(" - ") else {
                    return false;
                };
                let f: Vec<&str> = right.split(' ').collect();
                f.len() >= 3 && f[0] == "cgroup" && f[2].split(',').any(|o| o == controller)
            })
        })
        .unwrap_or(false)
}

fn has_cap(bit: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .map(|m| m & (1 << bit) != 0)
        .unwrap_or(false)
}

impl Need {
    /// `Err(reason)` when this host lacks the feature.
    pub fn check(self) -> Result<(), String> {
        let ok = match self {
            Need::UserNs => std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
                .map(|s| s.trim() != "0")
                .unwrap_or(false),
            Need::TimeNs => Path::new("/proc/self/ns/time").exists(),
            Need::CgroupV1(c) => v1_mounted(c),
            Need::CgroupV2 => std::fs::read_to_string("/proc/self/mountinfo")
                .map(|m| m.contains(" - cgroup2 "))
                .unwrap_or(false),
            Need::AppArmor => Path::new("/sys/kernel/security/apparmor").exists(),
            Need::SeLinux => Path::new("/sys/fs/selinux/enforce").exists(),
            Need::Swap => std::fs::read_to_string("/proc/swaps")
                .map(|s| s.lines().count() > 1)
                .unwrap_or(false),
            Need::Hugetlb => v1_mounted("hugetlb"),
            Need::Rdma => v1_mounted("rdma"),
            Need::SysResource => has_cap(24),
            Need::Veth => Path::new("/sys/module/veth").exists() || Path::new("/sbin/ip").exists(),
            Need::Resctrl => Path::new("/sys/fs/resctrl/schemata").exists(),
            Need::Criu => criu_works(),
            Need::DockerSeccompProfile => Path::new(DOCKER_SECCOMP_PROFILE).is_file(),
            Need::IdmappedMounts => {
                // mount_setattr exists from 5.12; tmpfs supports idmapping from 6.3.
                kernel_at_least(6, 3)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(self.missing_reason())
        }
    }

    fn missing_reason(self) -> String {
        match self {
            Need::UserNs => "host: user namespaces disabled".into(),
            Need::TimeNs => "host: kernel without time namespaces".into(),
            Need::CgroupV1(c) => format!("host: no cgroup v1 {c} hierarchy mounted"),
            Need::CgroupV2 => "host: no cgroup2 hierarchy".into(),
            Need::AppArmor => "host: kernel without AppArmor".into(),
            Need::SeLinux => "host: kernel without SELinux".into(),
            Need::Swap => "host: no swap".into(),
            Need::Hugetlb => "host: hugetlb controller not mounted as v1 (it sits on cgroup2 with no v2 controllers in use)".into(),
            Need::Rdma => "host: no RDMA cgroup controller".into(),
            Need::SysResource => "host: root lacks CAP_SYS_RESOURCE".into(),
            Need::Veth => "host: no veth support".into(),
            Need::IdmappedMounts => "host: kernel older than 6.3 (no idmapped tmpfs)".into(),
            Need::Resctrl => "host: no resctrl file system (no Intel RDT / AMD QoS)".into(),
            Need::Criu => "host: `criu check` fails on this kernel (CRIU cannot checkpoint here)".into(),
            Need::DockerSeccompProfile => format!("host: no {DOCKER_SECCOMP_PROFILE} (apt golang-github-containers-common)"),
        }
    }
}

/// `criu check` once per run (it takes a moment).
fn criu_works() -> bool {
    static RESULT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *RESULT.get_or_init(|| {
        std::process::Command::new("criu")
            .arg("check")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|r| {
            let mut it = r.trim().split(['.', '-']);
            Some((
                it.next()?.parse::<u32>().ok()?,
                it.next()?.parse::<u32>().ok()?,
            ))
        })
        .map(|(a, b)| (a, b) >= (major, minor))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_features_give_a_reason() {
        // Whatever this host has, a failing check names the host feature.
        for need in [
            Need::AppArmor,
            Need::SeLinux,
            Need::Rdma,
            Need::CgroupV1("no-such-controller"),
        ] {
            if let Err(reason) = need.check() {
                assert!(reason.starts_with("host: "), "{reason}");
            }
        }
        assert!(Need::CgroupV1("no-such-controller").check().is_err());
    }
}
