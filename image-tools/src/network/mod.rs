//! Container networking through the CNI plugins (apt `containernetworking-plugins`):
//! networks as conflist files in the store's `networks/` ([`store`], [`conflist`]), a
//! CNI runtime of our own that executes the plugins ([`cni`]), a persistent network
//! namespace per container ([`netns`]), the hosts/resolv.conf/hostname files
//! ([`hosts`]), published ports ([`ports`]) and subnets against the host's routes
//! ([`subnet`]). The container side (attach at create/start, detach at exit/rm, peers'
//! hosts files) is `container::network`.

pub mod cni;
pub mod conflist;
pub mod hosts;
pub mod netns;
pub mod ports;
pub mod store;
pub mod subnet;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("invalid network name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed")]
    BadName(String),
    #[error("{0} is a pre-defined network and cannot be created or removed")]
    Reserved(String),
    #[error("network {network} is in use by containers {} (remove them first)", .containers.join(", "))]
    InUse {
        network: String,
        containers: Vec<String>,
    },
    #[error("subnet {subnet} overlaps {with}")]
    Overlap {
        subnet: subnet::Subnet,
        with: String,
    },
    #[error("no free subnet left in the default pools: give one with --subnet")]
    NoFreeSubnet,
    #[error("{flag} {value:?}: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("host port {} is already in use (publishing {mapping})", mapping.host_port)]
    PortInUse { mapping: ports::PortMapping },
    #[error("CNI plugin {plugin} {command}: {message}")]
    Plugin {
        plugin: String,
        command: String,
        message: String,
    },
    #[error("network config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
