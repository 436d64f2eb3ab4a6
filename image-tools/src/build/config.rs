//! The image config a build writes, our own type: oci-spec's drops the fields docker
//! keeps (`Healthcheck`, `Shell`, `OnBuild`, `ArgsEscaped`); this one names them and
//! carries any other field through untouched (`extra`), so a base image's config
//! round-trips.

use crate::dockerfile::instruction::Healthcheck;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub config: ContainerConfig,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    /// The config of a `FROM scratch` image on this machine.
    pub fn scratch() -> ImageConfig {
        ImageConfig {
            architecture: crate::registry::platform::Platform::host().architecture,
            os: "linux".into(),
            ..ImageConfig::default()
        }
    }

    pub fn env(&self) -> &[String] {
        self.config.env.as_deref().unwrap_or(&[])
    }

    /// The value ENV gave `key`, if any.
    pub fn env_get(&self, key: &str) -> Option<String> {
        self.env().iter().rev().find_map(|e| {
            e.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    /// Sets `key=value`, in place when the key is there (docker keeps the order).
    pub fn env_set(&mut self, key: &str, value: &str) {
        let env = self.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map(|(k, _)| k) == Some(key) || e.as_str() == key)
        {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }

    /// The SHELL for shell forms: the image's, else docker's `/bin/sh -c`.
    pub fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_fields_round_trip() {
        let text = r#"{
            "created": "2024-01-01T00:00:00Z",
            "author": "me",
            "architecture": "amd64",
            "os": "linux",
            "os.version": "kept",
            "config": {
                "User": "app",
                "ExposedPorts": {"80/tcp": {}},
                "Env": ["A=1"],
                "Entrypoint": ["/bin/sh"],
                "Cmd": ["-c", "x"],
                "Volumes": {"/data": {}},
                "WorkingDir": "/app",
                "Labels": {"a": "b"},
                "StopSignal": "SIGKILL",
                "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5000000000, "Retries": 3},
                "Shell": ["/bin/sh", "-ec"],
                "OnBuild": ["RUN echo hi"],
                "ArgsEscaped": true,
                "Unknown": {"kept": 1}
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:00"]},
            "history": [{"created": "t", "created_by": "RUN x", "empty_layer": true}, {"created_by": "COPY"}]
        }"#;
        let want: Value = serde_json::from_str(text).unwrap();
        let cfg: ImageConfig = serde_json::from_str(text).unwrap();
        assert_eq!(
            cfg.config.on_build.as_deref(),
            Some(&["RUN echo hi".to_string()][..])
        );
        assert_eq!(cfg.config.healthcheck.as_ref().unwrap().retries, 3);
        assert_eq!(cfg.config.args_escaped, Some(true));
        assert_eq!(serde_json::to_value(&cfg).unwrap(), want);
    }

    #[test]
    fn env_order_and_shell() {
        let mut c = ImageConfig::scratch();
        c.env_set("A", "1");
        c.env_set("B", "2");
        c.env_set("A", "3");
        assert_eq!(c.env(), &["A=3".to_string(), "B=2".to_string()]);
        assert_eq!(c.env_get("A").as_deref(), Some("3"));
        assert_eq!(c.shell(), vec!["/bin/sh", "-c"]);
    }
}
