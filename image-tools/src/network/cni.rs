//! A CNI runtime (spec 1.0): each plugin of a conflist executed from the plugin
//! directory with CNI_COMMAND ADD/DEL/CHECK, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and
//! CNI_PATH, its own configuration (plus name, cniVersion, prevResult and the
//! runtimeConfig its capabilities ask for) on stdin, its result or error on stdout.

use super::NetworkError;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian's containernetworking-plugins puts the plugins (and podman's
/// /opt/cni/bin after it).
pub const PLUGIN_DIRS: [&str; 2] = ["/usr/lib/cni", "/opt/cni/bin"];
/// host-local's default lease directory.
pub const IPAM_DIR: &str = "/var/lib/cni/networks";

/// Whether the plugins a bridge network needs are installed.
pub fn available() -> bool {
    ["bridge", "host-local", "portmap", "firewall", "loopback"]
        .iter()
        .all(|p| find_plugin(p).is_some())
}

fn find_plugin(kind: &str) -> Option<PathBuf> {
    PLUGIN_DIRS
        .iter()
        .map(|d| Path::new(d).join(kind))
        .find(|p| p.is_file())
}

/// One container's side of a call.
pub struct Target<'a> {
    pub container_id: &'a str,
    pub netns: &'a Path,
    pub ifname: &'a str,
}

/// The capability arguments a runtime hands plugins that ask (`portMappings`).
#[derive(Default)]
pub struct RuntimeConfig {
    pub port_mappings: Vec<Value>,
}

fn plugin_conf(list: &Value, plugin: &Value, prev: Option<&Value>, rc: &RuntimeConfig) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = list["name"].clone();
    conf["cniVersion"] = list["cniVersion"].clone();
    if let Some(p) = prev {
        conf["prevResult"] = p.clone();
    }
    if plugin["capabilities"]["portMappings"] == true {
        conf["runtimeConfig"] = json!({"portMappings": rc.port_mappings});
    }
    conf
}

/// Runs one plugin; its result (an empty object when it printed nothing).
fn exec(command: &str, t: &Target, conf: &Value) -> Result<Value, NetworkError> {
    let kind = conf["type"].as_str().unwrap_or_default().to_string();
    let bin = find_plugin(&kind).ok_or_else(|| NetworkError::Plugin {
        plugin: kind.clone(),
        command: command.into(),
        message: format!("not found in {}", PLUGIN_DIRS.join(" or ")),
    })?;
    tracing::debug!(plugin = %kind, command, container = t.container_id, "CNI");
    let mut child = Command::new(&bin)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", t.container_id)
        .env("CNI_NETNS", t.netns)
        .env("CNI_IFNAME", t.ifname)
        .env("CNI_PATH", PLUGIN_DIRS.join(":"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NetworkError::Io {
            path: bin.clone(),
            source,
        })?;
    let input = serde_json::to_vec(conf).expect("conf serialises");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&input);
    }
    let out = child
        .wait_with_output()
        .map_err(|source| NetworkError::Io {
            path: bin.clone(),
            source,
        })?;
    let parsed: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() {
        // The spec's error object: {"code": N, "msg": "...", "details": "..."}.
        let message = match &parsed {
            Some(e) if e["msg"].is_string() => {
                let mut m = e["msg"].as_str().unwrap_or_default().to_string();
                if let Some(d) = e["details"].as_str().filter(|d| !d.is_empty()) {
                    m.push_str(&format!(": {d}"));
                }
                m
            }
            _ => format!(
                "{} {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        };
        return Err(NetworkError::Plugin {
            plugin: kind,
            command: command.into(),
            message,
        });
    }
    Ok(parsed.unwrap_or_else(|| json!({})))
}

fn plugins(list: &Value) -> &[Value] {
    list["plugins"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// ADD through the list in order, each plugin given the result so far; the last result.
/// A failure part way leaves what earlier plugins made: the caller runs [`del`].
pub fn add(list: &Value, t: &Target, rc: &RuntimeConfig) -> Result<Value, NetworkError> {
    let mut prev: Option<Value> = None;
    for p in plugins(list) {
        let conf = plugin_conf(list, p, prev.as_ref(), rc);
        prev = Some(exec("ADD", t, &conf)?);
    }
    Ok(prev.unwrap_or_else(|| json!({})))
}

/// DEL through the list in reverse order, each given the ADD result (if any). Every
/// plugin runs even when one fails; the first error is returned.
pub fn del(
    list: &Value,
    t: &Target,
    rc: &RuntimeConfig,
    prev: Option<&Value>,
) -> Result<(), NetworkError> {
    let mut first = None;
    for p in plugins(list).iter().rev() {
        let conf = plugin_conf(list, p, prev, rc);
        if let Err(e) = exec("DEL", t, &conf) {
            tracing::warn!(error = %e, "CNI DEL");
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// CHECK through the list in order with the ADD result.
pub fn check(
    list: &Value,
    t: &Target,
    rc: &RuntimeConfig,
    prev: &Value,
) -> Result<(), NetworkError> {
    for p in plugins(list) {
        let conf = plugin_conf(list, p, Some(prev), rc);
        exec("CHECK", t, &conf)?;
    }
    Ok(())
}

/// The loopback plugin on `lo`: a netns made by us starts with it down.
pub fn loopback_up(container_id: &str, netns: &Path) -> Result<(), NetworkError> {
    let conf =
        json!({"cniVersion": super::conflist::CNI_VERSION, "name": "lo", "type": "loopback"});
    exec(
        "ADD",
        &Target {
            container_id,
            netns,
            ifname: "lo",
        },
        &conf,
    )
    .map(|_| ())
}

/// The container's address on the interface `ifname` of a result: (IP, prefix).
pub fn container_ip(result: &Value, ifname: &str) -> Option<String> {
    let ifaces = result["interfaces"].as_array()?;
    result["ips"].as_array()?.iter().find_map(|ip| {
        let i = ip["interface"].as_u64()? as usize;
        let iface = ifaces.get(i)?;
        (iface["name"] == ifname && iface["sandbox"].is_string())
            .then(|| ip["address"].as_str().map(str::to_string))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confs_and_results() {
        let list = json!({"cniVersion": "1.0.0", "name": "n", "plugins": [
            {"type": "bridge"}, {"type": "portmap", "capabilities": {"portMappings": true}}]});
        let rc = RuntimeConfig {
            port_mappings: vec![json!({"hostPort": 1, "containerPort": 2, "protocol": "tcp"})],
        };
        let c = plugin_conf(&list, &list["plugins"][1], Some(&json!({"ips": []})), &rc);
        assert_eq!(c["name"], "n");
        assert_eq!(c["runtimeConfig"]["portMappings"][0]["hostPort"], 1);
        assert!(c["prevResult"].is_object());
        let c = plugin_conf(&list, &list["plugins"][0], None, &rc);
        assert!(c.get("runtimeConfig").is_none() && c.get("prevResult").is_none());
        let result = json!({"interfaces": [{"name": "sj0"}, {"name": "vethX"},
            {"name": "eth0", "sandbox": "/x"}],
            "ips": [{"address": "10.222.1.2/24", "interface": 2}]});
        assert_eq!(
            container_ip(&result, "eth0").as_deref(),
            Some("10.222.1.2/24")
        );
        assert_eq!(container_ip(&result, "eth1"), None);
    }
}
