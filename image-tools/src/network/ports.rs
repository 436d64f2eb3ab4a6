//! Published ports: `-p [IP:][HOST:]CONTAINER[/tcp|udp]` parsed, a free host port picked
//! where none is given, `-P`'s EXPOSEd ports, and the check that a host port is free.

use super::NetworkError;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Where the host listens (0.0.0.0: every address).
    pub host_ip: Ipv4Addr,
    /// 0 until a free one is picked.
    pub host_port: u16,
    pub container_port: u16,
    /// tcp or udp.
    pub protocol: String,
}

impl std::fmt::Display for PortMapping {
    /// docker's `ps` form: `127.0.0.1:8080->80/tcp`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.protocol
        )
    }
}

fn bad(value: &str, reason: &str) -> NetworkError {
    NetworkError::Flag {
        flag: "-p/--publish",
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn port(value: &str, p: &str, what: &str) -> Result<u16, NetworkError> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad(
            value,
            &format!("{what} port {p:?} is not a number in 1-65535"),
        )),
    }
}

/// One `-p` value.
pub fn parse(value: &str) -> Result<PortMapping, NetworkError> {
    let (rest, protocol) = match value.rsplit_once('/') {
        Some((r, p @ ("tcp" | "udp"))) => (r, p),
        Some((_, p)) => return Err(bad(value, &format!("protocol {p:?}: want tcp or udp"))),
        None => (value, "tcp"),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => (None, None, *c),
        [h, c] => (None, Some(*h), *c),
        [ip, h, c] => (Some(*ip), Some(*h), *c),
        _ => return Err(bad(value, "want [IP:][HOST:]CONTAINER[/tcp|udp]")),
    };
    let host_ip = match ip {
        None | Some("") => Ipv4Addr::UNSPECIFIED,
        Some(ip) => ip
            .parse()
            .map_err(|_| bad(value, &format!("{ip:?} is not an IPv4 address")))?,
    };
    let host_port = match host {
        None | Some("") => 0,
        Some(h) => port(value, h, "host")?,
    };
    Ok(PortMapping {
        host_ip,
        host_port,
        container_port: port(value, container, "container")?,
        protocol: protocol.to_string(),
    })
}

/// `-P`: every port the image EXPOSEs (`80/tcp` keys of config.ExposedPorts), each to a
/// free host port on every address.
pub fn exposed(image_config: &serde_json::Value) -> Result<Vec<PortMapping>, NetworkError> {
    let Some(ports) = image_config
        .get("config")
        .and_then(|c| c.get("ExposedPorts"))
        .and_then(|p| p.as_object())
    else {
        return Ok(Vec::new());
    };
    ports.keys().map(|k| parse(k)).collect()
}

/// Gives every mapping without a host port a free one, and checks the given ones are
/// free (nothing listening, no other container's mapping in `taken`).
pub fn resolve(mappings: &mut [PortMapping], taken: &[PortMapping]) -> Result<(), NetworkError> {
    for i in 0..mappings.len() {
        let m = &mappings[i];
        let clash = |o: &PortMapping| {
            o.host_port == m.host_port
                && o.protocol == m.protocol
                && (o.host_ip == m.host_ip
                    || o.host_ip.is_unspecified()
                    || m.host_ip.is_unspecified())
        };
        if m.host_port != 0 {
            if taken.iter().any(clash) || mappings[..i].iter().any(clash) {
                return Err(NetworkError::PortInUse { mapping: m.clone() });
            }
            probe(m.host_ip, m.host_port, &m.protocol)
                .map_err(|_| NetworkError::PortInUse { mapping: m.clone() })?;
            continue;
        }
        // The kernel's pick of a free port, retried past any another container maps.
        let mut picked = None;
        for _ in 0..32 {
            let p = probe(m.host_ip, 0, &m.protocol).map_err(|e| NetworkError::Io {
                path: format!("binding {}:0/{}", m.host_ip, m.protocol).into(),
                source: e,
            })?;
            let candidate = PortMapping {
                host_port: p,
                ..m.clone()
            };
            let clash_c = |o: &PortMapping| o.host_port == p && o.protocol == candidate.protocol;
            if !taken.iter().any(clash_c) && !mappings[..i].iter().any(clash_c) {
                picked = Some(p);
                break;
            }
        }
        mappings[i].host_port =
            picked.ok_or_else(|| NetworkError::PortInUse { mapping: m.clone() })?;
    }
    Ok(())
}

/// Binds the port for a moment: fails when something listens there; returns the port
/// bound (the kernel's pick for 0).
fn probe(ip: Ipv4Addr, port: u16, protocol: &str) -> std::io::Result<u16> {
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    if protocol == "udp" {
        Ok(UdpSocket::bind(addr)?.local_addr()?.port())
    } else {
        Ok(TcpListener::bind(addr)?.local_addr()?.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let m = parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(m.to_string(), "127.0.0.1:8080->80/udp");
        let m = parse("8080:80").unwrap();
        assert_eq!(
            (m.host_ip, m.host_port, m.container_port),
            (Ipv4Addr::UNSPECIFIED, 8080, 80)
        );
        let m = parse("80").unwrap();
        assert_eq!(
            (m.host_port, m.container_port, m.protocol.as_str()),
            (0, 80, "tcp")
        );
        let m = parse("127.0.0.1::80").unwrap();
        assert_eq!(m.host_port, 0);
        for bad in ["", "x:80", "80:0", "1:2:3:4", "80/sctp", "70000", "a.b:1:2"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exposed_ports() {
        let c = serde_json::json!({"config": {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}});
        let p = exposed(&c).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|m| m.host_port == 0));
    }

    #[test]
    fn in_use() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut m = vec![parse(&format!("127.0.0.1:{port}:80")).unwrap()];
        assert!(matches!(
            resolve(&mut m, &[]),
            Err(NetworkError::PortInUse { .. })
        ));
        let mut m = vec![parse("127.0.0.1::80").unwrap()];
        resolve(&mut m, &[]).unwrap();
        assert_ne!(m[0].host_port, 0);
        let taken = m.clone();
        let mut again = taken.clone();
        assert!(resolve(&mut again, &taken).is_err());
    }
}
