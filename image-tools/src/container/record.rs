//! Container records: `containers/<id>/container.json`, found by id, id prefix or name.
//! Creation holds `containers/.lock` so two runs cannot take one name.

use super::{io_err, ContainerError};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

const RECORD: &str = "container.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    /// What the user typed (or the pulled reference).
    pub image: String,
    /// The image id (config digest).
    pub image_id: String,
    /// The process args as written in config.json.
    pub command: Vec<String>,
    /// RFC 3339.
    pub created: String,
    /// The OCI runtime binary, absolute.
    pub runtime: PathBuf,
    /// Started with `-d`: its output goes to `log`.
    pub detached: bool,
    /// `--rm`: removed when it exits.
    pub auto_remove: bool,
    /// `-i`: stdin kept open (a detached container never sees EOF).
    #[serde(default)]
    pub interactive: bool,
    /// RFC 3339, when the process last started.
    #[serde(default)]
    pub started_at: Option<String>,
    /// RFC 3339, when the process last exited.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// The last exit status (128+signal when killed); `None` while it runs or when
    /// nothing saw it exit.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The named and anonymous volumes it mounts (kept from removal while it exists).
    #[serde(default)]
    pub volumes: Vec<String>,
    /// `--restart`: no, on-failure[:N], always, unless-stopped (`None`: no).
    #[serde(default)]
    pub restart_policy: Option<String>,
    /// How often the monitor restarted it since it was last started by a user.
    #[serde(default)]
    pub restart_count: u32,
    /// `stop`/`rm` asked it to end: the monitor does not restart it.
    #[serde(default)]
    pub stop_requested: bool,
    /// `--stop-timeout`: seconds `stop` waits before SIGKILL when `-t` is not given.
    #[serde(default)]
    pub stop_timeout: Option<u64>,
    /// A bridge or `container:` network: what was asked and, while attached, the
    /// attachment (none and host keep nothing here).
    #[serde(default)]
    pub net: Option<super::network::NetSettings>,
    /// The health check it runs (the image's HEALTHCHECK under `--health-*`), if any.
    #[serde(default)]
    pub healthcheck: Option<crate::dockerfile::instruction::Healthcheck>,
    /// `--init`: PID 1 is sangja-init, the command its child.
    #[serde(default)]
    pub init: bool,
    /// The runtime's `--root` it was made under (`None`: the store's `containers/.state`;
    /// a rootless container's is under `$XDG_RUNTIME_DIR`).
    #[serde(default)]
    pub runtime_root: Option<PathBuf>,
    /// Its `rootfs/` is its own copy of the image's layers (rootless: podman's vfs
    /// driver), not an overlay mounted over the shared snapshot.
    #[serde(default)]
    pub vfs: bool,
}

/// docker's `--restart` policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    /// At most this many restarts (`None`: no limit) after a non-zero exit.
    OnFailure(Option<u32>),
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        match s.split_once(':') {
            None => match s {
                "" | "no" => Ok(RestartPolicy::No),
                "on-failure" => Ok(RestartPolicy::OnFailure(None)),
                "always" => Ok(RestartPolicy::Always),
                "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
                _ => Err("want no, on-failure[:N], always or unless-stopped".into()),
            },
            Some(("on-failure", n)) => n
                .parse::<u32>()
                .map(|n| RestartPolicy::OnFailure(Some(n)))
                .map_err(|_| format!("maximum retry count {n:?} must be a number")),
            Some(_) => Err("only on-failure takes a maximum retry count".into()),
        }
    }

    /// Whether the monitor starts the container again after it exited with `code`
    /// (`None`: nobody saw the status), having restarted it `count` times.
    pub fn restarts(self, code: Option<i32>, count: u32, stop_requested: bool) -> bool {
        if stop_requested {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure(max) => {
                code.is_some_and(|c| c != 0) && max.is_none_or(|m| count < m)
            }
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

impl Record {
    pub fn restart(&self) -> RestartPolicy {
        self.restart_policy
            .as_deref()
            .and_then(|p| RestartPolicy::parse(p).ok())
            .unwrap_or(RestartPolicy::No)
    }
}

#[cfg(test)]
mod restart_tests {
    use super::RestartPolicy as P;

    #[test]
    fn policies() {
        assert_eq!(P::parse("on-failure:2"), Ok(P::OnFailure(Some(2))));
        assert!(P::parse("always:3").is_err());
        assert!(P::parse("sometimes").is_err());
        let p = P::OnFailure(Some(2));
        assert!(p.restarts(Some(1), 0, false) && p.restarts(Some(1), 1, false));
        assert!(!p.restarts(Some(1), 2, false) && !p.restarts(Some(0), 0, false));
        assert!(P::Always.restarts(Some(0), 100, false));
        assert!(!P::Always.restarts(Some(1), 0, true));
        assert!(!P::No.restarts(Some(1), 0, false));
    }
}

/// Now, as records keep times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The `containers/` directory of a store.
#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
}

pub struct CreateLock {
    _flock: Flock<File>,
}

impl Containers {
    pub fn new(store_root: &Path) -> Containers {
        Containers {
            dir: store_root.join("containers"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Held while a container is being created (name checks) or removed.
    pub fn lock(&self) -> Result<CreateLock, ContainerError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let flock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| ContainerError::Io {
                path,
                source: e.into(),
            })?;
        Ok(CreateLock { _flock: flock })
    }

    pub fn list(&self) -> Result<Vec<Record>, ContainerError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(&self.dir)(e)),
        };
        for e in entries {
            let e = e.map_err(io_err(&self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            // A directory without a record is a container being created or removed.
            if let Ok(r) = self.load(&name) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    pub fn load(&self, id: &str) -> Result<Record, ContainerError> {
        let path = self.path(id).join(RECORD);
        let mut data = String::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_string(&mut data))
            .map_err(io_err(&path))?;
        serde_json::from_str(&data).map_err(|e| ContainerError::Record {
            path,
            message: e.to_string(),
        })
    }

    /// Writes the record (temp file + rename).
    pub fn save(&self, record: &Record) -> Result<(), ContainerError> {
        let dir = self.path(&record.id);
        let tmp = dir.join(".container.json.tmp");
        let data = serde_json::to_vec_pretty(record).expect("record serialises");
        fs::write(&tmp, data).map_err(io_err(&tmp))?;
        let path = dir.join(RECORD);
        fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// By full id, name, or unique id prefix.
    pub fn find(&self, query: &str) -> Result<Record, ContainerError> {
        let all = self.list()?;
        if let Some(r) = all.iter().find(|r| r.id == query || r.name == query) {
            return Ok(r.clone());
        }
        let hits: Vec<&Record> = all
            .iter()
            .filter(|r| !query.is_empty() && r.id.starts_with(query))
            .collect();
        match hits.len() {
            0 => Err(ContainerError::NotFound(query.to_string())),
            1 => Ok(hits[0].clone()),
            _ => Err(ContainerError::Ambiguous {
                query: query.to_string(),
                ids: hits.iter().map(|r| r.id[..12].to_string()).collect(),
            }),
        }
    }

    /// Fails when `name` is taken; the caller holds [`Containers::lock`].
    pub fn check_name(&self, name: &str) -> Result<(), ContainerError> {
        valid_name(name)?;
        if let Some(r) = self.list()?.into_iter().find(|r| r.name == name) {
            return Err(ContainerError::NameInUse {
                name: name.to_string(),
                id: r.id[..12].to_string(),
            });
        }
        Ok(())
    }
}

pub fn valid_name(name: &str) -> Result<(), ContainerError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(ContainerError::BadName(name.to_string()))
    }
}

/// A new random 64-hex id.
pub fn new_id() -> String {
    let mut buf = [0u8; 32];
    if File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .is_err()
    {
        let seed = format!(
            "{}-{:?}-{}",
            std::process::id(),
            std::time::SystemTime::now(),
            crate::store::unique_name("c")
        );
        return crate::digest::Digest::of_bytes(seed.as_bytes())
            .hex()
            .to_string();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Docker-like generated names: adjective_noun, made unique by the caller's check.
pub fn generated_name(id: &str) -> String {
    const A: [&str; 8] = [
        "brave", "calm", "eager", "fond", "keen", "quiet", "swift", "wise",
    ];
    const N: [&str; 8] = [
        "sangja", "otter", "heron", "maple", "pine", "tiger", "crane", "river",
    ];
    let b = u8::from_str_radix(&id[..2], 16).unwrap_or(0) as usize;
    let c = u8::from_str_radix(&id[2..4], 16).unwrap_or(0) as usize;
    format!("{}_{}_{}", A[b % 8], N[c % 8], &id[4..8])
}
