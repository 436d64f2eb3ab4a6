//! Device access rules: the list runc 1.1.5 applies, and their v1/v2 enforcement.

pub mod emulator;
pub mod rule;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, Spec};

pub use emulator::Emulator;
pub use rule::{DevKind, Rule};

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("invalid cgroup device access {0:?} (only r, w and m are allowed)")]
    Access(String),
    #[error("invalid cgroup device type {0:?}")]
    Type(String),
    #[error("invalid device {0} number {1}")]
    Number(&'static str, i64),
    #[error("unexpected devices.list line {0:?}")]
    ListLine(String),
    #[error("wildcard rule {0:?} must use rwm access")]
    PartialWildcard(String),
    #[error("rule {rule:?} would punch a hole in the wider rule {wider:?}, which the devices cgroup cannot express")]
    Hole { rule: String, wider: String },
}

fn cg(kind: LinuxDeviceType, major: i64, minor: i64, access: &str) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(true);
    d.set_typ(Some(kind));
    d.set_major((major >= 0).then_some(major));
    d.set_minor((minor >= 0).then_some(minor));
    d.set_access(Some(access.to_string()));
    d
}

/// runc's AllowedDevices: (path if it is a device node runc creates, rule).
fn allowed_defaults() -> Vec<(Option<&'static str>, LinuxDeviceCgroup)> {
    use LinuxDeviceType::{B, C};
    vec![
        (None, cg(C, -1, -1, "m")),
        (None, cg(B, -1, -1, "m")),
        (Some("/dev/null"), cg(C, 1, 3, "rwm")),
        (Some("/dev/random"), cg(C, 1, 8, "rwm")),
        (Some("/dev/full"), cg(C, 1, 7, "rwm")),
        (Some("/dev/tty"), cg(C, 5, 0, "rwm")),
        (Some("/dev/zero"), cg(C, 1, 5, "rwm")),
        (Some("/dev/urandom"), cg(C, 1, 9, "rwm")),
        // /dev/pts/*
        (None, cg(C, 136, -1, "rwm")),
        // /dev/ptmx
        (None, cg(C, 5, 2, "rwm")),
        // /dev/net/tun
        (None, cg(C, 10, 200, "rwm")),
    ]
}

/// The device rules runc 1.1.5 puts in a container's cgroup, in its order:
/// `linux.resources.devices`, then runc's AllowedDevices defaults. A default whose path
/// `linux.devices` also lists is dropped (the spec's node replaces it); `linux.devices`
/// entries themselves get no cgroup rule — measured with runc 1.1.5: a `/dev/kmsg`
/// listed only in `linux.devices` is absent from devices.list, so the config must
/// allow it in `linux.resources.devices`, as docker, podman and containerd do.
pub fn device_rules(spec: &Spec) -> Vec<LinuxDeviceCgroup> {
    let linux = spec.linux().as_ref();
    let mut out: Vec<LinuxDeviceCgroup> = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let spec_paths: Vec<std::path::PathBuf> = linux
        .and_then(|l| l.devices().as_ref())
        .map(|ds| ds.iter().map(|d| d.path().clone()).collect())
        .unwrap_or_default();
    for (path, rule) in allowed_defaults() {
        if path.is_some_and(|p| spec_paths.iter().any(|sp| sp.as_os_str() == p)) {
            continue;
        }
        out.push(rule);
    }
    out
}

/// Converts spec rules, naming the index of the first bad one.
pub fn to_rules(list: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, crate::Error> {
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            Rule::from_spec(d).map_err(|e| {
                crate::Error::field(format!("linux.resources.devices[{i}]"), e.to_string())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn runc_default_order_after_spec_rules() {
        let s = spec(
            r#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]}}}"#,
        );
        let rules: Vec<String> = to_rules(&device_rules(&s))
            .unwrap()
            .iter()
            .map(|r| format!("{}{}", if r.allow { "+" } else { "-" }, r))
            .collect();
        // The list runc 1.1.5 stored in state.json for the same config on this host.
        assert_eq!(
            rules,
            [
                "-a *:* rwm",
                "+c *:* m",
                "+b *:* m",
                "+c 1:3 rwm",
                "+c 1:8 rwm",
                "+c 1:7 rwm",
                "+c 5:0 rwm",
                "+c 1:5 rwm",
                "+c 1:9 rwm",
                "+c 136:* rwm",
                "+c 5:2 rwm",
                "+c 10:200 rwm"
            ]
        );
    }

    #[test]
    fn spec_device_with_default_path_drops_the_default() {
        let s = spec(
            r#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},"linux":{"devices":[{"path":"/dev/zero","type":"c","major":1,"minor":5},{"path":"/dev/kmsg","type":"c","major":1,"minor":11}],"resources":{"devices":[{"allow":false,"access":"rwm"}]}}}"#,
        );
        let list = Emulator::from_rules(&to_rules(&device_rules(&s)).unwrap())
            .unwrap()
            .list_text();
        // devices.list runc 1.1.5 wrote for this config.
        assert_eq!(
            list,
            "b *:* m\nc *:* m\nc 10:200 rwm\nc 136:* rwm\nc 1:3 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:2 rwm\n"
        );
    }
}
