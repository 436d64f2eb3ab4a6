//! containerd's CRI configuration, read from the documented node config
//! (docs/containerd-cri.toml) with the lines marked `# node:` swapped for a private
//! daemon's values: the tests run the very file a node installs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The documented node configuration.
pub fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/containerd-cri.toml")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{doc}: line {line} is marked `# node:` but has no `key = value`")]
    NotAssignment { doc: String, line: usize },
    #[error("{doc}: key `{key}` is marked `# node:` but no private value was given for it")]
    Unset { doc: String, key: String },
    #[error("{doc}: no line marked `# node:` sets `{key}`")]
    Absent { doc: String, key: String },
}

/// `text` with the value of every `# node:` line replaced from `values` (key → TOML
/// value, written as given). Every marked key must be given and every given key marked,
/// so the doc and the tests cannot drift apart silently.
pub fn rewrite(
    doc: &str,
    text: &str,
    values: &BTreeMap<&str, String>,
) -> Result<String, ConfigError> {
    let mut used = Vec::new();
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.lines().enumerate() {
        // Comment lines may mention the marker; only settings carry it.
        if !line.contains("# node:") || line.trim_start().starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let (lhs, _) = line.split_once('=').ok_or(ConfigError::NotAssignment {
            doc: doc.into(),
            line: n + 1,
        })?;
        let key = lhs.trim();
        let value = values.get(key).ok_or_else(|| ConfigError::Unset {
            doc: doc.into(),
            key: key.into(),
        })?;
        used.push(key.to_string());
        out.push_str(&format!("{lhs}= {value}\n"));
    }
    if let Some(k) = values.keys().find(|k| !used.iter().any(|u| u == *k)) {
        return Err(ConfigError::Absent {
            doc: doc.into(),
            key: k.to_string(),
        });
    }
    Ok(out)
}

/// A TOML basic string.
pub fn quoted(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn marked_lines_take_the_given_values() {
        let text =
            "version = 2\nroot = \"/var/lib/containerd\" # node: store\n  flag = false # node: x\n";
        let out = rewrite(
            "d",
            text,
            &values(&[("root", "\"/tmp/r\""), ("flag", "true")]),
        )
        .unwrap();
        assert_eq!(out, "version = 2\nroot = \"/tmp/r\"\n  flag = true\n");
    }

    #[test]
    fn a_marked_key_without_a_value_is_an_error() {
        let err = rewrite("d", "root = \"/x\" # node: store\n", &values(&[])).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Unset {
                doc: "d".into(),
                key: "root".into()
            }
        );
    }

    #[test]
    fn a_value_for_an_unmarked_key_is_an_error() {
        let err = rewrite("d", "root = \"/x\"\n", &values(&[("root", "\"/y\"")])).unwrap_err();
        assert!(matches!(err, ConfigError::Absent { .. }), "{err:?}");
    }

    #[test]
    fn the_documented_config_names_the_three_handlers() {
        let text = std::fs::read_to_string(doc_path()).unwrap();
        for h in [
            "runtimes.sangja]",
            "runtimes.sangja-runc-shim]",
            "runtimes.runc]",
        ] {
            assert!(text.contains(h), "docs config lacks {h}");
        }
        assert!(text.contains("runtime_type = \"io.containerd.sangja.v2\""));
        assert!(text.contains("BinaryName = "));
    }
}
