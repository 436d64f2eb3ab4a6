//! Registry settings from a file: `/etc/sangja/registries.json` (or
//! `$SANGJA_REGISTRIES_CONFIG`), shaped like docker's daemon.json:
//! `{"insecure-registries": ["host:port", ...]}`. A missing file is no settings.

use std::path::PathBuf;

pub const DEFAULT_PATH: &str = "/etc/sangja/registries.json";

#[derive(Debug, thiserror::Error)]
#[error("registry settings {path}: {message}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct RegistryConfig {
    #[serde(default, rename = "insecure-registries")]
    pub insecure_registries: Vec<String>,
}

pub fn path() -> PathBuf {
    std::env::var_os("SANGJA_REGISTRIES_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

pub fn load() -> Result<RegistryConfig, ConfigError> {
    let path = path();
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryConfig::default()),
        Err(e) => {
            return Err(ConfigError {
                path,
                message: e.to_string(),
            })
        }
    };
    crate::store::parse_json(&path.display().to_string(), &data).map_err(|e| ConfigError {
        path,
        message: e.to_string(),
    })
}
