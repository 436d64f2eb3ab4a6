//! A network's CNI configuration list: bridge (with host-local IPAM), portmap, firewall;
//! written from [`NetworkConfig`] and read back from the stored file.

use super::subnet::Subnet;
use super::NetworkError;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::path::Path;

pub const CNI_VERSION: &str = "1.0.0";

/// What `network create` decides; everything else in the conflist follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The name users give (`bridge` for the default one).
    pub name: String,
    /// The CNI network name (host-local keeps its leases in /var/lib/cni/networks/<it>).
    pub cni_name: String,
    /// The Linux bridge.
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// RFC 3339.
    pub created: String,
}

impl NetworkConfig {
    /// The conflist JSON (our own fields under `org.sangja`, which plugins never see:
    /// each gets only its own entry of `plugins`).
    pub fn to_conflist(&self) -> Value {
        json!({
            "cniVersion": CNI_VERSION,
            "name": self.cni_name,
            "org.sangja": {"name": self.name, "created": self.created},
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": true,
                    "ipMasq": true,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "ranges": [[{
                            "subnet": self.subnet.to_string(),
                            "gateway": self.gateway.to_string(),
                        }]],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
                {"type": "firewall", "backend": "iptables"},
            ],
        })
    }

    pub fn from_conflist(path: &Path, v: &Value) -> Result<NetworkConfig, NetworkError> {
        let bad = |what: &str| NetworkError::Config {
            path: path.to_path_buf(),
            message: format!("{what} missing or invalid"),
        };
        let s = |v: &Value, what: &str| v.as_str().map(str::to_string).ok_or_else(|| bad(what));
        let bridge = v["plugins"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["type"] == "bridge"))
            .ok_or_else(|| bad("plugins[type=bridge]"))?;
        let range = &bridge["ipam"]["ranges"][0][0];
        Ok(NetworkConfig {
            name: s(&v["org.sangja"]["name"], "org.sangja.name")?,
            cni_name: s(&v["name"], "name")?,
            bridge: s(&bridge["bridge"], "plugins[bridge].bridge")?,
            subnet: s(&range["subnet"], "ipam.ranges[0][0].subnet")?
                .parse()
                .map_err(|_| bad("ipam.ranges[0][0].subnet"))?,
            gateway: s(&range["gateway"], "ipam.ranges[0][0].gateway")?
                .parse()
                .map_err(|_| bad("ipam.ranges[0][0].gateway"))?,
            created: v["org.sangja"]["created"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = NetworkConfig {
            name: "web".into(),
            cni_name: "web".into(),
            bridge: "sj-0123abcd".into(),
            subnet: "10.222.3.0/24".parse().unwrap(),
            gateway: "10.222.3.1".parse().unwrap(),
            created: "2026-01-01T00:00:00Z".into(),
        };
        let v = c.to_conflist();
        assert_eq!(v["plugins"][1]["capabilities"]["portMappings"], true);
        assert_eq!(NetworkConfig::from_conflist(Path::new("x"), &v).unwrap(), c);
        assert!(NetworkConfig::from_conflist(Path::new("x"), &json!({})).is_err());
    }
}
