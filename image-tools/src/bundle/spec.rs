//! The runtime config.json of a bundle: runc's default spec (`runc spec`, embedded) with
//! the image's command, environment, working directory, user and volumes, no terminal,
//! and the docker/podman default seccomp profile for the spec's capabilities.

use super::user::ExecUser;
use super::BundleError;
use crate::image::Image;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

/// What `runc spec` (1.1.5) writes.
const RUNC_DEFAULT: &str = include_str!("runc_default.json");
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
pub const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";

pub struct SpecInputs<'a> {
    pub image: &'a Image,
    pub user: ExecUser,
    /// Overrides the image's Entrypoint+Cmd when not empty.
    pub args: Vec<String>,
    /// The docker-format seccomp profile, or `None` for no seccomp.
    pub seccomp_profile: Option<Vec<u8>>,
}

/// The strings of an image config's array field (`Cmd`, `Entrypoint`, `Env`); none when absent.
pub(crate) fn config_strings(cfg: &Value, key: &str) -> Vec<String> {
    cfg.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the image names something to run (Entrypoint or Cmd).
pub fn has_command(image: &Image) -> bool {
    let cfg = image
        .config_raw
        .get("config")
        .cloned()
        .unwrap_or(Value::Null);
    !config_strings(&cfg, "Entrypoint").is_empty() || !config_strings(&cfg, "Cmd").is_empty()
}

/// Sets `linux.seccomp` from a docker-format profile, for the spec's bounding
/// capabilities (call it again after changing them).
pub fn apply_seccomp(spec: &mut Value, profile: &[u8]) -> Result<(), BundleError> {
    let caps = spec["process"]["capabilities"]["bounding"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let arch = sangja_seccomp::docker_profile::native_arch();
    let seccomp = sangja_seccomp::docker_profile::convert(profile, &caps, arch)
        .map_err(|e| BundleError::Seccomp(e.to_string()))?;
    spec["linux"]["seccomp"] = serde_json::to_value(seccomp).expect("seccomp serialises");
    Ok(())
}

/// The config as JSON (keys sorted, lists in runc's order), checked to parse as a Spec.
pub fn build(inputs: SpecInputs<'_>) -> Result<Value, BundleError> {
    let image = inputs.image;
    let cfg = image
        .config_raw
        .get("config")
        .cloned()
        .unwrap_or(Value::Null);
    let mut spec: Value = serde_json::from_str(RUNC_DEFAULT).expect("embedded runc spec is JSON");

    let args = if inputs.args.is_empty() {
        let mut a = config_strings(&cfg, "Entrypoint");
        a.extend(config_strings(&cfg, "Cmd"));
        a
    } else {
        inputs.args
    };
    if args.is_empty() {
        return Err(BundleError::NoCommand(image.label()));
    }
    let mut env = config_strings(&cfg, "Env");
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", inputs.user.home));
    }
    let cwd = cfg
        .get("WorkingDir")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("/")
        .to_string();

    let process = &mut spec["process"];
    process["terminal"] = json!(false);
    process["args"] = json!(args);
    process["env"] = json!(env);
    process["cwd"] = json!(cwd);
    process["user"] = json!({"uid": inputs.user.uid, "gid": inputs.user.gid});
    if !inputs.user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(inputs.user.additional_gids);
    }
    // A container's root is writable under docker and podman; runc's example makes it
    // read-only only because it has no image to protect.
    spec["root"]["readonly"] = json!(false);

    // Image volumes become anonymous tmpfs mounts: there is no volume store yet.
    if let Some(Value::Object(vols)) = cfg.get("Volumes") {
        let mounts = spec["mounts"].as_array_mut().expect("runc spec has mounts");
        for dest in vols.keys() {
            mounts.push(json!({
                "destination": dest,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["rw", "nosuid", "nodev", "mode=755"],
            }));
        }
    }
    if let Some(sig) = cfg.get("StopSignal").and_then(Value::as_str) {
        spec["annotations"] = json!({ STOP_SIGNAL_ANNOTATION: sig });
    }

    if let Some(profile) = inputs.seccomp_profile {
        apply_seccomp(&mut spec, &profile)?;
    }

    serde_json::from_value::<Spec>(spec.clone()).map_err(|e| BundleError::Spec(e.to_string()))?;
    Ok(spec)
}
