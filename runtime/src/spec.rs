//! Loading and validating a bundle's config.json.
//!
//! oci-spec's types reject a whole document over one unknown enum value, and serde on
//! its own reports line and column but not the field. So the text is read as JSON
//! first (syntax errors keep line/column), capability names runc only warns about are
//! filtered out, and the typed parse goes through serde_path_to_error so a type error
//! names the field path (`process.capabilities.bounding[3]`).
//!
//! Every type that holds oci-spec types (the config, process.json, state.json, the init's
//! bootstrap message) is decoded through [`decode`]: serde generates the whole oci-spec
//! deserializer once per Deserializer type it is used with (about 370 KiB of code each),
//! and the runtime's resident size follows its code size (see bench/results.md).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, LinuxNamespaceType, Spec};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("bundle {0}: {1}")]
    Bundle(PathBuf, String),
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON at line {line} column {column}: {msg}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("{path}: {field}: {msg}")]
    Field {
        path: PathBuf,
        field: String,
        msg: String,
    },
}

/// The name of the config file inside a bundle.
pub const CONFIG_NAME: &str = "config.json";

/// Real configs are a few KiB (docker's with its seccomp profile about 30); a config this
/// large is a mistake or an attack on the runtime's memory, refused before it is parsed.
pub const MAX_CONFIG_BYTES: u64 = 32 << 20;

/// Reads `bundle/config.json`. Unknown capability names are dropped with a warning (runc's
/// behaviour); everything else that does not fit runtime-spec is an error naming the field.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let meta = std::fs::metadata(bundle)
        .map_err(|e| SpecError::Bundle(bundle.to_path_buf(), e.to_string()))?;
    if !meta.is_dir() {
        return Err(SpecError::Bundle(
            bundle.to_path_buf(),
            "not a directory".into(),
        ));
    }
    let path = bundle.join(CONFIG_NAME);
    let read = |source| SpecError::Read {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(read)?;
    // Read through a bound, not by the size the file claims: a FIFO or a growing file
    // would otherwise be read without end.
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_CONFIG_BYTES + 1),
        &mut text,
    )
    .map_err(read)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(SpecError::Bundle(
            path.clone(),
            format!(
                "larger than the {} MiB a config may be",
                MAX_CONFIG_BYTES >> 20
            ),
        ));
    }
    parse(&path, &text)
}

/// Parses config text; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| SpecError::Syntax {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        msg: e.to_string(),
    })?;
    let dropped = drop_unknown_capabilities(&mut value);
    for (field, name) in &dropped {
        tracing::warn!(
            "{}: {field}: unknown capability {name:?}, ignored",
            path.display()
        );
    }
    decode(value).map_err(|e| SpecError::Field {
        path: path.to_path_buf(),
        field: e.field,
        msg: e.msg,
    })
}

/// A value that does not fit the type it was decoded as: the field path (empty when the
/// text is not JSON at all) and why.
#[derive(Debug, thiserror::Error)]
pub struct DecodeError {
    pub field: String,
    pub msg: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field.as_str() {
            "" => f.write_str(&self.msg),
            field => write!(f, "{field}: {}", self.msg),
        }
    }
}

/// Decodes a JSON value into any type holding oci-spec types; the one place their
/// deserializer is instantiated (see the module comment).
pub fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| DecodeError {
        field: e.path().to_string(),
        msg: e.inner().to_string(),
    })
}

/// Parses JSON bytes, then [`decode`]s them.
pub fn decode_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| DecodeError {
        field: String::new(),
        msg: e.to_string(),
    })?;
    decode(value)
}

/// Removes capability names oci-spec does not know from every set in `process.capabilities`,
/// returning (field, name) pairs for the warnings.
fn drop_unknown_capabilities(value: &mut Value) -> Vec<(String, String)> {
    let mut dropped = Vec::new();
    let Some(caps) = value
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    else {
        return dropped;
    };
    for (set, list) in caps.iter_mut() {
        let Some(items) = list.as_array_mut() else {
            continue;
        };
        let mut index = 0;
        items.retain(|item| {
            let keep = match item.as_str() {
                Some(name) => {
                    serde_json::from_value::<Capability>(Value::String(name.to_string())).is_ok()
                }
                None => true, // not a string: leave it for the typed parse to reject with its path
            };
            if !keep {
                dropped.push((
                    format!("process.capabilities.{set}[{index}]"),
                    item.as_str().unwrap_or_default().to_string(),
                ));
            }
            index += 1;
            keep
        });
    }
    dropped
}

/// Checks what runc's config validator checks before anything is created.
/// `need_process` is false for commands that do not start the container process.
pub fn validate(spec: &Spec, bundle: &Path, need_process: bool) -> Result<(), SpecError> {
    let path = bundle.join(CONFIG_NAME);
    let field = |field: &str, msg: String| SpecError::Field {
        path: path.clone(),
        field: field.to_string(),
        msg,
    };

    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| field("root", "root is missing".into()))?;
    let rootfs = rootfs_path(bundle, root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(field(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ))
        }
        Err(e) => return Err(field("root.path", format!("{}: {e}", rootfs.display()))),
    }

    if need_process {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| field("process", "process is missing".into()))?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(field("process.args", "args must not be empty".into()));
        }
        for (i, kv) in process
            .env()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if !kv.contains('=') || kv.starts_with('=') {
                return Err(field(
                    &format!("process.env[{i}]"),
                    format!("invalid environment variable: {kv:?}"),
                ));
            }
        }
        if !process.cwd().is_absolute() {
            return Err(field(
                "process.cwd",
                format!("cwd {:?} must be an absolute path", process.cwd()),
            ));
        }
    }

    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| field("linux", "linux is missing".into()))?;
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(field(
                &format!("linux.namespaces[{i}]"),
                format!("duplicate namespace type {}", ns.typ()),
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(field(
                    &format!("linux.namespaces[{i}].path"),
                    format!("{} is not an absolute path", p.display()),
                ));
            }
        }
    }
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    let new = |t: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };

    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !new(LinuxNamespaceType::Uts)
        && !has(LinuxNamespaceType::Uts)
    {
        return Err(field(
            "hostname",
            "unable to set hostname without a private UTS namespace".into(),
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(field(
            "domainname",
            "unable to set domainname without a private UTS namespace".into(),
        ));
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if maps && !has(LinuxNamespaceType::User) {
        return Err(field(
            "linux.uidMappings",
            "user namespace mappings specified, but user namespace isn't enabled in the config"
                .into(),
        ));
    }
    if new(LinuxNamespaceType::User) && !maps {
        return Err(field(
            "linux.uidMappings",
            "user namespaces enabled, but no user mapping found".into(),
        ));
    }
    if let Some(sysctl) = linux.sysctl() {
        let mut keys: Vec<&String> = sysctl.keys().collect();
        keys.sort();
        for key in keys {
            check_sysctl(key, &namespaces, spec)
                .map_err(|msg| field(&format!("linux.sysctl.{key}"), msg))?;
        }
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !new(LinuxNamespaceType::Time)
    {
        return Err(field(
            "linux.timeOffsets",
            "time offsets specified, but no new time namespace in the config".into(),
        ));
    }
    Ok(())
}

/// runc's sysctl validation: only namespaced keys, and only with their namespace.
fn check_sysctl(
    key: &str,
    namespaces: &[oci_spec::runtime::LinuxNamespace],
    spec: &Spec,
) -> Result<(), String> {
    let ns = |t: LinuxNamespaceType| namespaces.iter().find(|n| n.typ() == t);
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return match ns(LinuxNamespaceType::Ipc) {
            Some(_) => Ok(()),
            None => Err(format!(
                "sysctl {key:?} is not allowed in the host's ipc namespace"
            )),
        };
    }
    if key.starts_with("net.") {
        return match ns(LinuxNamespaceType::Network) {
            Some(n) if n.path().is_none() => Ok(()),
            Some(n) if !same_ns(n.path().as_deref(), "net") => Ok(()),
            _ => Err(format!(
                "sysctl {key:?} not allowed in host network namespace"
            )),
        };
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if ns(LinuxNamespaceType::Uts).is_none() {
            return Err(format!(
                "sysctl {key:?} is not allowed in the host's uts namespace"
            ));
        }
        let field = if key == "kernel.hostname" {
            spec.hostname()
        } else {
            spec.domainname()
        };
        if field.as_deref().is_some_and(|v| !v.is_empty()) {
            return Err(format!(
                "sysctl {key:?} is not allowed as it conflicts with the OCI {} field",
                &key[7..]
            ));
        }
        return Ok(());
    }
    Err(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    ))
}

/// Whether a namespace path is the one this process lives in (the host's, for the runtime).
fn same_ns(path: Option<&Path>, kind: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(p) = path else { return false };
    match (
        std::fs::metadata(p),
        std::fs::metadata(format!("/proc/self/ns/{kind}")),
    ) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// `root.path` is taken relative to the bundle unless absolute.
pub fn rootfs_path(bundle: &Path, root: &Path) -> PathBuf {
    if root.is_absolute() {
        root.to_path_buf()
    } else {
        bundle.join(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},
        "process":{"user":{"uid":0,"gid":0},"args":["true"],"cwd":"/",
        "capabilities":{"bounding":["CAP_KILL","CAP_NOPE"]}},
        "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}"#;

    #[test]
    fn unknown_capability_is_dropped_not_fatal() {
        let spec = parse(Path::new("config.json"), MIN).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
    }

    // The check oci-spec does by hand here (vendor/oci-spec/SANGJA.md), once by regex.
    #[test]
    fn exec_cpu_affinity_format() {
        let with = |v: &str| {
            MIN.replace(
                r#""cwd":"/","#,
                &format!(r#""cwd":"/","execCPUAffinity":{{"initial":"{v}","final":"0"}},"#),
            )
        };
        for good in ["0", "0-3", "0,2", "0-1,4-7,9", "10-12"] {
            assert!(
                parse(Path::new("config.json"), &with(good)).is_ok(),
                "{good}"
            );
        }
        for bad in ["", "a", "1-", "-1", "1,,2", "1-2-3", "1,", " 1", "\u{0663}"] {
            let err = parse(Path::new("config.json"), &with(bad))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("execCPUAffinity") && err.contains("config.json"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn syntax_error_names_line() {
        let err = parse(Path::new("/b/config.json"), "{\n\"ociVersion\": ,}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/b/config.json") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn type_error_names_field_path() {
        let text = MIN.replace(r#""uid":0"#, r#""uid":"zero""#);
        let err = parse(Path::new("config.json"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("process.user.uid"), "{err}");
    }

    #[test]
    fn unknown_namespace_names_field() {
        let text = MIN.replace(r#"{"type":"mount"}"#, r#"{"type":"bogus"}"#);
        let err = parse(Path::new("config.json"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.namespaces[1].type"), "{err}");
    }
}
