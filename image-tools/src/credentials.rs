//! Registry credentials where docker keeps them: `$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, under `auths` with `auth` = base64("user:password").
//! Other keys of the file are kept as they are.

use base64::Engine as _;
use serde_json::{Map, Value};
use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The key docker uses for Docker Hub.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no home directory: set DOCKER_CONFIG or HOME")]
    NoHome,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, <hidden>)", self.username)
    }
}

impl Credential {
    /// The value of a Basic `Authorization` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// `config.json` in `$DOCKER_CONFIG`, else in `~/.docker`.
pub fn config_path() -> Result<PathBuf, CredentialsError> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(CredentialsError::NoHome)?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The `auths` key for a registry as a reference names it (`docker.io` is Docker Hub).
pub fn key_for(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        other => other.to_string(),
    }
}

/// The host part of an `auths` key: `https://host:port/v1/` → `host:port`.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn read(path: &Path) -> Result<Map<String, Value>, CredentialsError> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(CredentialsError::Io {
                what: "read",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&data) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CredentialsError::Invalid {
            path: path.to_path_buf(),
            message: "not a JSON object".into(),
        }),
        Err(e) => Err(CredentialsError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// The stored credential for `registry`, matching keys with or without scheme and path.
pub fn lookup(path: &Path, registry: &str) -> Result<Option<Credential>, CredentialsError> {
    let config = read(path)?;
    let Some(Value::Object(auths)) = config.get("auths") else {
        return Ok(None);
    };
    let want = key_for(registry);
    let entry = auths.get(&want).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| key_host(k) == key_host(&want))
            .map(|(_, v)| v)
    });
    let Some(entry) = entry else {
        return Ok(None);
    };
    let invalid = |message: &str| CredentialsError::Invalid {
        path: path.to_path_buf(),
        message: format!("auths[{want:?}]: {message}"),
    };
    if let Some(auth) = entry.get("auth").and_then(|v| v.as_str()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| invalid(&format!("auth is not base64: {e}")))?;
        let raw = String::from_utf8(raw).map_err(|_| invalid("auth is not UTF-8"))?;
        let (user, pass) = raw
            .split_once(':')
            .ok_or_else(|| invalid("auth is not user:password"))?;
        return Ok(Some(Credential {
            username: user.to_string(),
            password: pass.to_string(),
        }));
    }
    match (
        entry.get("username").and_then(|v| v.as_str()),
        entry.get("password").and_then(|v| v.as_str()),
    ) {
        (Some(u), Some(p)) => Ok(Some(Credential {
            username: u.to_string(),
            password: p.to_string(),
        })),
        _ => Ok(None),
    }
}

fn write(path: &Path, config: &Map<String, Value>) -> Result<(), CredentialsError> {
    let io_err = |what, source| CredentialsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| io_err("create directory for", e))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut data = serde_json::to_vec_pretty(config).expect("JSON serialises");
    data.push(b'\n');
    let result = (|| {
        use io::Write;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("write", e));
    }
    Ok(())
}

/// Records `cred` for `registry`, keeping everything else in the file.
pub fn store(path: &Path, registry: &str, cred: &Credential) -> Result<(), CredentialsError> {
    let mut config = read(path)?;
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let auths = auths.as_object_mut().expect("object");
    let key = key_for(registry);
    auths.retain(|k, _| k == &key || key_host(k) != key_host(&key));
    let raw = format!("{}:{}", cred.username, cred.password);
    auths.insert(
        key,
        serde_json::json!({ "auth": base64::engine::general_purpose::STANDARD.encode(raw) }),
    );
    write(path, &config)
}

/// Forgets `registry`'s credentials; false when there were none.
pub fn remove(path: &Path, registry: &str) -> Result<bool, CredentialsError> {
    let mut config = read(path)?;
    let key = key_for(registry);
    let removed = match config.get_mut("auths").and_then(|a| a.as_object_mut()) {
        Some(auths) => {
            let before = auths.len();
            auths.retain(|k, _| key_host(k) != key_host(&key));
            auths.len() != before
        }
        None => false,
    };
    if removed {
        write(path, &config)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_lookup_remove_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d/config.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            r#"{"auths":{"other:1":{"auth":"YTpi"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let cred = Credential {
            username: "me".into(),
            password: "p:w".into(),
        };
        store(&path, "127.0.0.1:5000", &cred).unwrap();
        assert_eq!(lookup(&path, "127.0.0.1:5000").unwrap(), Some(cred));
        assert_eq!(
            lookup(&path, "other:1").unwrap().unwrap().username,
            "a".to_string()
        );
        let v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "x");
        assert_eq!(
            v["auths"]["127.0.0.1:5000"]["auth"],
            base64::engine::general_purpose::STANDARD.encode("me:p:w")
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert!(remove(&path, "127.0.0.1:5000").unwrap());
        assert!(!remove(&path, "127.0.0.1:5000").unwrap());
        assert_eq!(lookup(&path, "127.0.0.1:5000").unwrap(), None);
        assert_eq!(key_for("docker.io"), DOCKER_HUB_KEY);
        fs::write(
            &path,
            r#"{"auths":{"https://docker.io/v1/":{"auth":"YTpi"}}}"#,
        )
        .unwrap();
        assert!(lookup(&path, "docker.io").unwrap().is_none());
        fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YTpi"}}}"#,
        )
        .unwrap();
        assert!(lookup(&path, "docker.io").unwrap().is_some());
    }
}
