//! The `--root` directory: one folder per container holding `state.json` (written
//! atomically), the `exec.fifo` that holds a created container before `start`, and a
//! lock so two commands on one container never race.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container with given ID already exists")]
    Exists,
    #[error("container does not exist")]
    NotExist,
    #[error("invalid container id {0:?}: must be non-empty and match [A-Za-z0-9_+.-]+ (no path separators)")]
    InvalidId(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Corrupt { path: PathBuf, msg: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The container status as runtime-spec names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        })
    }
}

/// What sangja keeps about a container between commands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init; 0 once known to be gone.
    pub pid: i32,
    /// The init's start time in clock ticks, so a recycled pid is never mistaken for it.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 with nanoseconds, as runc prints it.
    pub created: String,
    pub owner: String,
    /// The config the container was created from (hooks at delete, exec defaults, annotations).
    pub config: oci_spec::runtime::Spec,
    /// The cgroup manager's saved form (see sangja-cgroups), null when none was set up.
    #[serde(default)]
    pub cgroup: serde_json::Value,
    /// Network devices moved into the container, to move back out on delete.
    #[serde(default)]
    pub net_devices: Vec<(String, String)>,
    /// Whether create got as far as the init's Ready. A live init without it belongs to a
    /// create that was killed midway: it reads as `creating`, and dies with its channel.
    #[serde(default = "yes")]
    pub ready: bool,
}

fn yes() -> bool {
    true
}

pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// One container's folder under `--root`, held locked for as long as this value lives.
pub struct ContainerDir {
    pub path: PathBuf,
    // The flock lives as long as this handle.
    _lock: File,
}

impl ContainerDir {
    /// Makes the folder for a new container; the mkdir itself is the existence check, so two
    /// concurrent creates of one id cannot both succeed.
    pub fn create(root: &Path, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(io(root))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists)
            }
            Err(e) => return Err(io(&path)(e)),
        }
        let lock = lock_dir(&path)?;
        Ok(ContainerDir { path, _lock: lock })
    }

    /// Opens and locks an existing container's folder.
    pub fn open(root: &Path, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id).map_err(|_| StateError::NotExist)?;
        let path = root.join(id);
        let lock = match lock_dir(&path) {
            Ok(l) => l,
            Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotExist)
            }
            Err(e) => return Err(e),
        };
        // A delete may have removed the folder while we waited for the lock.
        if !path.join(STATE_FILE).exists() {
            return Err(StateError::NotExist);
        }
        Ok(ContainerDir { path, _lock: lock })
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    pub fn load(&self) -> Result<State, StateError> {
        let p = self.path.join(STATE_FILE);
        let text = fs::read(&p).map_err(io(&p))?;
        crate::spec::decode_slice(&text).map_err(|e| StateError::Corrupt {
            path: p,
            msg: e.to_string(),
        })
    }

    /// Writes state.json through a temporary file and a rename, so readers never see half of it.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let p = self.path.join(STATE_FILE);
        let tmp = self.path.join(".state.json.tmp");
        let data = serde_json::to_vec(state).map_err(|e| StateError::Corrupt {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&data).map_err(io(&tmp))?;
        fs::rename(&tmp, &p).map_err(io(&p))
    }

    /// Removes the folder and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        fs::remove_dir_all(&self.path).map_err(io(&self.path))
    }
}

fn lock_dir(path: &Path) -> Result<File, StateError> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(io(path))?;
    // SAFETY: flock on a descriptor we own; the lock lives as long as the File.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } < 0 {
        return Err(io(path)(std::io::Error::last_os_error()));
    }
    Ok(f)
}

/// Ids of every container under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let mut ids = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(io(root)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(root))?;
        if entry.path().join(STATE_FILE).exists() {
            if let Some(name) = entry.file_name().to_str() {
                ids.push(name.to_string());
            }
        }
    }
    ids.sort();
    Ok(ids)
}

/// runc's timestamp format: RFC 3339 with nanoseconds, in UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The OCI state document, shaped exactly as runc prints it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty", default)]
    pub annotations: std::collections::HashMap<String, String>,
    pub owner: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_paths() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_twice_fails_and_keeps_first() {
        let tmp = std::env::temp_dir().join(format!("sangja-state-test-{}", std::process::id()));
        let first = ContainerDir::create(&tmp, "c1").unwrap();
        std::fs::write(first.path.join("marker"), b"x").unwrap();
        drop(first);
        assert!(matches!(
            ContainerDir::create(&tmp, "c1"),
            Err(StateError::Exists)
        ));
        assert!(tmp.join("c1/marker").exists());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
