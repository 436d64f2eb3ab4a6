//! The store's networks: `networks/<name>.conflist`, one CNI configuration list each.
//! The default `bridge` is written on first use with a subnet no host route covers.

use super::conflist::NetworkConfig;
use super::subnet::{self, Subnet};
use super::NetworkError;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// docker's name for the default network.
pub const DEFAULT_NETWORK: &str = "bridge";
/// The default network's Linux bridge (docker0 for docker, cni-podman0 for podman),
/// shared by every store on the host.
pub const DEFAULT_BRIDGE: &str = "sangja0";
/// Its CNI name (the host-local lease directory), shared as the bridge is.
const DEFAULT_CNI_NAME: &str = "sangja";

pub struct Networks {
    dir: PathBuf,
}

pub struct NetworksLock {
    _flock: Flock<File>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NetworkError + '_ {
    move |source| NetworkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// docker's rule for network names.
fn valid_name(name: &str) -> Result<(), NetworkError> {
    let mut c = name.chars();
    let ok = c.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && c.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 64;
    if !ok {
        return Err(NetworkError::BadName(name.to_string()));
    }
    if matches!(name, "host" | "none" | "default" | DEFAULT_NETWORK) {
        return Err(NetworkError::Reserved(name.to_string()));
    }
    Ok(())
}

impl Networks {
    pub fn new(store_root: &Path) -> Networks {
        Networks {
            dir: store_root.join("networks"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.conflist"))
    }

    /// Held while networks are made or removed, and while containers' hosts files of a
    /// network are rewritten.
    pub fn lock(&self) -> Result<NetworksLock, NetworkError> {
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        let flock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| NetworkError::Io {
                path: path.clone(),
                source: e.into(),
            })?;
        Ok(NetworksLock { _flock: flock })
    }

    fn load(&self, name: &str) -> Result<Option<NetworkConfig>, NetworkError> {
        let path = self.path(name);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let v: serde_json::Value =
            serde_json::from_slice(&data).map_err(|e| NetworkError::Config {
                path: path.clone(),
                message: e.to_string(),
            })?;
        NetworkConfig::from_conflist(&path, &v).map(Some)
    }

    /// The stored conflist, as plugins get it.
    pub fn conflist(&self, net: &NetworkConfig) -> Result<serde_json::Value, NetworkError> {
        let path = self.path(&net.name);
        let data = fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&data).map_err(|e| NetworkError::Config {
            path,
            message: e.to_string(),
        })
    }

    /// A network by name; `bridge` is made on first use.
    pub fn get(&self, name: &str) -> Result<NetworkConfig, NetworkError> {
        if let Some(n) = self.load(name)? {
            return Ok(n);
        }
        if name == DEFAULT_NETWORK {
            let _lock = self.lock()?;
            if let Some(n) = self.load(name)? {
                return Ok(n);
            }
            return self.make_default();
        }
        Err(NetworkError::NotFound(name.to_string()))
    }

    /// Every network, the default one included once it exists.
    pub fn list(&self) -> Result<Vec<NetworkConfig>, NetworkError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        for e in entries.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if let Some(name) = f.strip_suffix(".conflist") {
                if let Some(n) = self.load(name)? {
                    out.push(n);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn write(&self, net: &NetworkConfig) -> Result<(), NetworkError> {
        let path = self.path(&net.name);
        let tmp = self.dir.join(format!(".{}.tmp", net.name));
        let data = serde_json::to_vec_pretty(&net.to_conflist()).expect("conflist serialises");
        fs::write(&tmp, data).map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The first of docker's default pools (172.17-31.0.0/16) no host route and no other
    /// network of this store covers.
    fn make_default(&self) -> Result<NetworkConfig, NetworkError> {
        let routes = subnet::host_routes();
        let others = self.list()?;
        let subnet = (17..=31u8)
            .map(|b| Subnet {
                addr: Ipv4Addr::new(172, b, 0, 0),
                prefix: 16,
            })
            .find(|s| {
                subnet::colliding_route(*s, DEFAULT_BRIDGE, &routes).is_none()
                    && !others.iter().any(|o| o.subnet.overlaps(*s))
            })
            .ok_or(NetworkError::NoFreeSubnet)?;
        let net = NetworkConfig {
            name: DEFAULT_NETWORK.into(),
            cni_name: DEFAULT_CNI_NAME.into(),
            bridge: DEFAULT_BRIDGE.into(),
            subnet,
            gateway: subnet.first_host(),
            created: crate::container::record::now(),
        };
        self.write(&net)?;
        Ok(net)
    }

    /// `network create`: a subnet given (checked against the host's routes and the other
    /// networks) or the first free 10.89.N.0/24 (podman's pool).
    pub fn create(
        &self,
        name: &str,
        subnet: Option<Subnet>,
        gateway: Option<Ipv4Addr>,
    ) -> Result<NetworkConfig, NetworkError> {
        valid_name(name)?;
        let _lock = self.lock()?;
        if self.load(name)?.is_some() {
            return Err(NetworkError::Exists(name.to_string()));
        }
        let store = std::path::absolute(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let id = crate::digest::Digest::of_bytes(format!("{}\0{name}", store.display()).as_bytes());
        let bridge = format!("sj-{}", &id.hex()[..8]);
        let routes = subnet::host_routes();
        let others = self.list()?;
        let free = |s: Subnet| -> Result<(), NetworkError> {
            if let Some(r) = subnet::colliding_route(s, &bridge, &routes) {
                return Err(NetworkError::Overlap {
                    subnet: s,
                    with: format!("the host's route to {} on {}", r.dest, r.iface),
                });
            }
            if let Some(o) = others.iter().find(|o| o.subnet.overlaps(s)) {
                return Err(NetworkError::Overlap {
                    subnet: s,
                    with: format!("network {} ({})", o.name, o.subnet),
                });
            }
            Ok(())
        };
        let subnet = match subnet {
            Some(s) => {
                free(s)?;
                s
            }
            None => (0..=255u8)
                .map(|n| Subnet {
                    addr: Ipv4Addr::new(10, 89, n, 0),
                    prefix: 24,
                })
                .find(|s| free(*s).is_ok())
                .ok_or(NetworkError::NoFreeSubnet)?,
        };
        let gateway = gateway.unwrap_or(subnet.first_host());
        if !subnet.contains(gateway) {
            return Err(NetworkError::Flag {
                flag: "--gateway",
                value: gateway.to_string(),
                reason: format!("not in subnet {subnet}"),
            });
        }
        let net = NetworkConfig {
            name: name.into(),
            cni_name: name.into(),
            bridge,
            subnet,
            gateway,
            created: crate::container::record::now(),
        };
        self.write(&net)?;
        Ok(net)
    }

    /// Removes the conflist, the bridge (the plugin leaves it) and host-local's empty
    /// lease directory. The caller has checked no container uses it.
    pub fn remove(&self, net: &NetworkConfig) -> Result<(), NetworkError> {
        if net.name != DEFAULT_NETWORK {
            delete_link(&net.bridge);
        }
        let leases = Path::new(super::cni::IPAM_DIR).join(&net.cni_name);
        remove_lease_dir(&leases);
        let path = self.path(&net.name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// `ip link del`, quietly: a bridge nobody attached to was never made.
fn delete_link(name: &str) {
    if !Path::new("/sys/class/net").join(name).exists() {
        return;
    }
    let out = std::process::Command::new("ip")
        .args(["link", "del", name])
        .stdin(std::process::Stdio::null())
        .output();
    if let Ok(o) = out {
        if !o.status.success() {
            tracing::warn!(bridge = name, error = %String::from_utf8_lossy(&o.stderr), "deleting the bridge");
        }
    }
}

/// host-local's directory once it holds no lease (files named by IP address).
fn remove_lease_dir(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let leased = entries
        .flatten()
        .any(|e| e.file_name().to_string_lossy().parse::<Ipv4Addr>().is_ok());
    if !leased {
        let _ = fs::remove_dir_all(dir);
    }
}
