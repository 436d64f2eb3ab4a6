//! The crate's error type. Every message names the path or spec field that failed.

use std::io;
use std::path::PathBuf;

/// The OS reason without Rust's " (os error N)" tail, so messages read like runc's.
pub(crate) fn os_msg(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading /proc/self/mountinfo: {}", os_msg(.0))]
    Mountinfo(#[source] io::Error),
    #[error("no cgroup filesystem is mounted (looked in /proc/self/mountinfo)")]
    NoCgroupMounts,
    #[error("reading {}: {}", .path.display(), os_msg(.source))]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: unexpected content {content:?}: {reason}")]
    Parse {
        path: PathBuf,
        content: String,
        reason: String,
    },
    #[error("{field}: writing {value:?} to {file} in {}: {}", .dir.display(), os_msg(.source))]
    Write {
        field: String,
        file: String,
        value: String,
        dir: PathBuf,
        source: io::Error,
    },
    #[error("creating cgroup {}: {}", .path.display(), os_msg(.source))]
    Create { path: PathBuf, source: io::Error },
    #[error("moving pid {pid} into cgroup {}: {}", .path.display(), os_msg(.source))]
    Join {
        pid: i32,
        path: PathBuf,
        source: io::Error,
    },
    #[error("removing cgroup {}: {}", .path.display(), os_msg(.source))]
    Remove { path: PathBuf, source: io::Error },
    /// runc's wording when a resource is asked of a controller the host does not mount.
    #[error("cannot set {controller} limit: container could not join or create cgroup")]
    CannotSet { controller: String },
    #[error("the {0} cgroup controller is not mounted on this host")]
    NotMounted(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("linux.cgroupsPath: expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {0:?} instead")]
    SystemdPath(String),
    #[error(
        "systemd not running on this host, cannot use systemd cgroups manager (--systemd-cgroup)"
    )]
    SystemdNotRunning,
    #[error("linux.resources.memory.limit: unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})")]
    MemoryBelowUsage { limit: i64, usage: u64, peak: u64 },
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("{action} cgroup {}: timed out, state is still {state:?}", .path.display())]
    FreezeTimeout {
        action: &'static str,
        path: PathBuf,
        state: String,
    },
    #[error("sending signal {signal} to pid {pid}: {source}")]
    Signal {
        signal: i32,
        pid: i32,
        source: nix::Error,
    },
    /// runc's wording (containerd treats it as "already gone").
    #[error("container not running")]
    NotRunning,
    #[error("saved cgroup state is invalid: {0}")]
    Saved(String),
    #[error("linux.resources.devices: {0}")]
    Devices(#[from] crate::devices::RuleError),
    #[error("linux.resources.devices: cgroup v2 device program on {}: {source}", .path.display())]
    Bpf {
        path: PathBuf,
        source: crate::bpf::BpfError,
    },
    #[error("OOM notification on {}: {source}", .path.display())]
    Oom { path: PathBuf, source: nix::Error },
}

impl Error {
    /// The kernel refused for want of permission (an unprivileged caller).
    pub fn is_permission(&self) -> bool {
        match self {
            Error::Create { source, .. }
            | Error::Join { source, .. }
            | Error::Write { source, .. } => {
                matches!(
                    source.raw_os_error(),
                    Some(libc::EACCES | libc::EPERM | libc::EROFS)
                )
            }
            _ => false,
        }
    }
}

impl Error {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
