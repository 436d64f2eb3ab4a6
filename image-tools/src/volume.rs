//! Named volumes, as docker's `local` driver keeps them: `volumes/<name>/_data` under the
//! store (what containers mount) and `volumes/<name>/volume.json` (created, labels,
//! whether it is anonymous). A volume outlives its containers; it is removed only by
//! `volume rm`/`volume prune`, or with its container (`rm -v`, `--rm`) when anonymous,
//! and never while a container record names it. Creation and removal hold the
//! containers' lock, so a volume cannot go while a container that uses it is made.

use crate::container::record::{Containers, Record};
use crate::layer::inroot::{InPath, Root};
use crate::layer::{extract, pack};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("No such volume: {0}")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{}]", .ids.join(", "))]
    InUse { name: String, ids: Vec<String> },
    #[error("volume name {0:?} is invalid: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    #[error("seeding volume {name} from the image's {path}: {reason}")]
    Seed {
        name: String,
        path: String,
        reason: String,
    },
    #[error("volume record {path}: {message}")]
    Record { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Container(#[from] Box<crate::container::ContainerError>),
}

impl From<crate::container::ContainerError> for VolumeError {
    fn from(e: crate::container::ContainerError) -> Self {
        VolumeError::Container(Box::new(e))
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `volume.json` keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    /// RFC 3339.
    pub created: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Made for an image VOLUME or a bare `-v /path`: goes with `rm -v` and `--rm`.
    #[serde(default)]
    pub anonymous: bool,
}

/// The store's `volumes/` directory.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

pub fn valid_name(name: &str) -> Result<(), VolumeError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() >= 2
        && name.len() <= 255;
    if ok {
        Ok(())
    } else {
        Err(VolumeError::BadName(name.to_string()))
    }
}

impl Volumes {
    pub fn new(store_root: &Path) -> Volumes {
        Volumes {
            dir: store_root.join("volumes"),
        }
    }

    /// Where a volume's contents are (what a container mounts).
    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    pub fn load(&self, name: &str) -> Result<Meta, VolumeError> {
        let path = self.meta_path(name);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.to_string()))
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        serde_json::from_slice(&data).map_err(|e| VolumeError::Record {
            path,
            message: e.to_string(),
        })
    }

    /// Makes the volume unless it exists (docker: `volume create` of an existing name
    /// is fine). Returns it and whether it was made now.
    pub fn ensure(
        &self,
        name: &str,
        labels: &[(String, String)],
        anonymous: bool,
    ) -> Result<(Meta, bool), VolumeError> {
        valid_name(name)?;
        if let Ok(m) = self.load(name) {
            return Ok((m, false));
        }
        let data = self.data(name);
        fs::create_dir_all(&data).map_err(io_err(&data))?;
        let meta = Meta {
            name: name.to_string(),
            created: crate::container::record::now(),
            labels: labels.iter().cloned().collect(),
            anonymous,
        };
        let path = self.meta_path(name);
        let tmp = self.dir.join(name).join(".volume.json.tmp");
        fs::write(
            &tmp,
            serde_json::to_vec_pretty(&meta).expect("meta serialises"),
        )
        .map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        Ok((meta, true))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Meta>, VolumeError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir)(e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(io_err(&self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Ok(m) = self.load(&name) {
                out.push(m);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The containers (ids) whose records name the volume.
    pub fn users(&self, name: &str, containers: &Containers) -> Result<Vec<String>, VolumeError> {
        Ok(containers
            .list()?
            .into_iter()
            .filter(|r| r.volumes.iter().any(|v| v == name))
            .map(|r| r.id)
            .collect())
    }

    /// `volume rm`: refused while a container uses it.
    pub fn remove(&self, name: &str, containers: &Containers) -> Result<(), VolumeError> {
        let _lock = containers.lock()?;
        self.load(name)?;
        let users = self.users(name, containers)?;
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                ids: users,
            });
        }
        self.remove_unchecked(name)
    }

    fn remove_unchecked(&self, name: &str) -> Result<(), VolumeError> {
        let dir = self.dir.join(name);
        // Out of sight first, so no one sees half a volume.
        let doomed = self.dir.join(format!(".removing-{name}"));
        fs::rename(&dir, &doomed).map_err(io_err(&dir))?;
        fs::remove_dir_all(&doomed).map_err(io_err(&doomed))
    }

    /// `volume prune`: every volume no container uses (only anonymous ones unless
    /// `all`, as docker 23 does). Returns the names removed and the bytes freed.
    pub fn prune(
        &self,
        containers: &Containers,
        all: bool,
    ) -> Result<(Vec<String>, u64), VolumeError> {
        let _lock = containers.lock()?;
        let records = containers.list()?;
        let mut removed = Vec::new();
        let mut bytes = 0;
        for m in self.list()? {
            if (!all && !m.anonymous) || records.iter().any(|r| r.volumes.contains(&m.name)) {
                continue;
            }
            bytes += du(&self.data(&m.name));
            self.remove_unchecked(&m.name)?;
            removed.push(m.name);
        }
        Ok((removed, bytes))
    }

    /// The anonymous volumes of a removed container (`rm -v`, `--rm`); named ones stay.
    /// The caller holds the containers' lock and has removed the record.
    pub fn remove_anonymous(&self, rec: &Record, containers: &Containers) {
        for name in &rec.volumes {
            let anonymous = self.load(name).is_ok_and(|m| m.anonymous);
            let used = containers
                .list()
                .map(|l| l.iter().any(|r| r.id != rec.id && r.volumes.contains(name)))
                .unwrap_or(true);
            if anonymous && !used {
                if let Err(e) = self.remove_unchecked(name) {
                    tracing::warn!(volume = %name, error = %e, "removing an anonymous volume");
                }
            }
        }
    }

    /// docker's `volume inspect` document.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value, VolumeError> {
        let m = self.load(name)?;
        Ok(serde_json::json!({
            "CreatedAt": m.created,
            "Driver": "local",
            "Labels": m.labels,
            "Mountpoint": self.data(name),
            "Name": m.name,
            "Options": {},
            "Scope": "local",
        }))
    }
}

/// Bytes under a directory (symlinks not followed).
fn du(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Copies what the container's root has at `target` (resolved inside it) into an empty
/// volume, as docker seeds a new volume from the image. Nothing there: nothing to do.
pub fn seed(name: &str, data: &Path, rootfs: &Path, target: &str) -> Result<(), VolumeError> {
    let err = |reason: String| VolumeError::Seed {
        name: name.to_string(),
        path: target.to_string(),
        reason,
    };
    let empty = fs::read_dir(data).map_err(io_err(data))?.next().is_none();
    if !empty {
        return Ok(());
    }
    let path = InPath::parse(target.as_bytes()).map_err(|e| err(e.to_string()))?;
    let root = Root::open(rootfs).map_err(|e| err(e.to_string()))?;
    let dir = match root.open_dir(&path) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(err(e.to_string())),
    };
    let from = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    let tar = pack::pack_dir(&from, Vec::new()).map_err(|e| err(e.to_string()))?;
    let into = Root::open(data).map_err(|e| err(e.to_string()))?;
    extract::apply(&into, &tar[..]).map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// A fresh anonymous volume name (64 hex digits, as docker's).
pub fn anonymous_name() -> String {
    crate::container::record::new_id()
}
