//! IPv4 subnets: parsing `A.B.C.D/N`, overlap, and the host's own routes
//! (/proc/net/route) a container network must not shadow.

use super::NetworkError;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    fn network(self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.network()
    }

    pub fn overlaps(self, other: Subnet) -> bool {
        let mask = self.mask() & other.mask();
        self.network() & mask == other.network() & mask
    }

    /// The first host address, docker's default gateway.
    pub fn first_host(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network() + 1)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network()), self.prefix)
    }
}

impl std::str::FromStr for Subnet {
    type Err = NetworkError;
    fn from_str(s: &str) -> Result<Subnet, NetworkError> {
        let bad = |reason: &str| NetworkError::Flag {
            flag: "--subnet",
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (a, p) = s.split_once('/').ok_or_else(|| bad("want A.B.C.D/N"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| bad("the prefix length is not a number"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("the prefix length must be between 8 and 30"));
        }
        Ok(Subnet { addr, prefix })
    }
}

/// One line of /proc/net/route: the interface and the destination it routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub dest: Subnet,
}

/// The host's routes other than default routes (a default route overlaps everything
/// and says nothing about which subnets are in use).
pub fn host_routes() -> Vec<Route> {
    std::fs::read_to_string("/proc/net/route")
        .map(|t| parse_routes(&t))
        .unwrap_or_default()
}

pub fn parse_routes(text: &str) -> Vec<Route> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (iface, dest, mask) = (f.first()?, hex(f.get(1)?)?, hex(f.get(7)?)?);
            if mask == 0 {
                return None;
            }
            Some(Route {
                iface: iface.to_string(),
                dest: Subnet {
                    addr: Ipv4Addr::from(dest),
                    prefix: mask.count_ones() as u8,
                },
            })
        })
        .collect()
}

/// The host route `subnet` would shadow, ignoring routes through `own_bridge` (the
/// network's own, once it has been used).
pub fn colliding_route(subnet: Subnet, own_bridge: &str, routes: &[Route]) -> Option<Route> {
    routes
        .iter()
        .find(|r| r.iface != own_bridge && r.dest.overlaps(subnet))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_overlap() {
        let s: Subnet = "10.222.1.0/24".parse().unwrap();
        assert!(s.contains("10.222.1.9".parse().unwrap()));
        assert!(!s.contains("10.222.2.9".parse().unwrap()));
        assert!(s.overlaps("10.0.0.0/8".parse().unwrap()));
        assert!(!s.overlaps("10.222.2.0/24".parse().unwrap()));
        assert_eq!(s.first_host().to_string(), "10.222.1.1");
        assert_eq!(
            "10.222.1.7/24".parse::<Subnet>().unwrap().to_string(),
            "10.222.1.0/24"
        );
        assert!("10.1.1.0".parse::<Subnet>().is_err());
        assert!("10.1.1.0/33".parse::<Subnet>().is_err());
    }

    #[test]
    fn routes() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_routes(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].dest.to_string(), "192.0.2.0/24");
        let s: Subnet = "192.0.0.0/16".parse().unwrap();
        assert!(colliding_route(s, "sangja0", &r).is_some());
        assert!(colliding_route(s, "eth0", &r).is_none());
    }
}
