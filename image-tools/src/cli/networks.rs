//! The `network` group's edges (create, ls, inspect, rm, prune) and `port`.

use anyhow::{bail, Context, Result};
use sangja_image::container::network;
use sangja_image::container::record::Containers;
use sangja_image::network::conflist::NetworkConfig;
use sangja_image::network::store::{Networks, DEFAULT_NETWORK};
use sangja_image::network::NetworkError;
use sangja_image::store::Store;
use std::io::Write;

#[derive(clap::Subcommand)]
pub enum NetworkCommand {
    /// Make a bridge network (CNI bridge + host-local + portmap + firewall).
    Create {
        /// A.B.C.D/N (default: the first free 10.89.N.0/24).
        #[arg(long)]
        subnet: Option<String>,
        /// The bridge's address (default: the subnet's first).
        #[arg(long)]
        gateway: Option<String>,
        /// Only bridge.
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        name: String,
    },
    /// List networks.
    #[command(visible_alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show networks as docker does.
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks no container uses.
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every user-defined network no container uses.
    Prune {
        #[arg(short, long)]
        force: bool,
    },
}

fn short_id(n: &NetworkConfig) -> String {
    sangja_image::digest::Digest::of_bytes(format!("{}\0{}", n.cni_name, n.created).as_bytes())
        .hex()[..12]
        .to_string()
}

fn inspect_doc(c: &Containers, n: &NetworkConfig) -> Result<serde_json::Value> {
    let mut members = serde_json::Map::new();
    for r in c.list()? {
        let Some(a) = r.net.as_ref().and_then(|x| x.attachment.as_ref()) else {
            continue;
        };
        if a.network == n.name {
            members.insert(
                r.id.clone(),
                serde_json::json!({"Name": r.name, "IPv4Address": a.ip}),
            );
        }
    }
    Ok(serde_json::json!({
        "Name": n.name,
        "Id": short_id(n),
        "Created": n.created,
        "Driver": "bridge",
        "Scope": "local",
        "IPAM": {"Driver": "host-local", "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}]},
        "Options": {"com.docker.network.bridge.name": n.bridge, "org.sangja.cni.name": n.cni_name},
        "Containers": members,
    }))
}

/// Removes `n` unless a container is on it.
fn remove(nets: &Networks, c: &Containers, n: &NetworkConfig) -> Result<()> {
    if n.name == DEFAULT_NETWORK {
        return Err(NetworkError::Reserved(n.name.clone()).into());
    }
    // Containers first, then networks: the order `create` takes them in.
    let _lock = c.lock()?;
    let _net_lock = nets.lock()?;
    let users = network::users(c, &n.name)?;
    if !users.is_empty() {
        return Err(NetworkError::InUse {
            network: n.name.clone(),
            containers: users,
        }
        .into());
    }
    nets.remove(n)?;
    Ok(())
}

/// Runs the command; returns the exit status (1 when a name failed).
pub fn network(store: &Store, cmd: NetworkCommand) -> Result<i32> {
    let nets = Networks::new(store.root());
    let c = Containers::new(store.root());
    let mut out = std::io::stdout().lock();
    match cmd {
        NetworkCommand::Create {
            subnet,
            gateway,
            driver,
            name,
        } => {
            if driver != "bridge" {
                bail!("--driver {driver:?}: only bridge is supported");
            }
            let subnet = subnet.map(|s| s.parse()).transpose()?;
            let gateway = gateway
                .map(|g| {
                    g.parse().map_err(|_| NetworkError::Flag {
                        flag: "--gateway",
                        value: g.clone(),
                        reason: "not an IPv4 address".into(),
                    })
                })
                .transpose()?;
            let n = nets
                .create(&name, subnet, gateway)
                .with_context(|| format!("creating network {name}"))?;
            writeln!(out, "{}", short_id(&n))?;
        }
        NetworkCommand::Ls { quiet } => {
            // The default network is listed as docker lists it, made on first sight.
            let mut list = nets.list()?;
            if !list.iter().any(|n| n.name == DEFAULT_NETWORK) {
                if let Ok(d) = nets.get(DEFAULT_NETWORK) {
                    list.insert(0, d);
                }
            }
            if !quiet {
                writeln!(
                    out,
                    "{:<15}{:<20}{:<10}{:<8}SUBNET",
                    "NETWORK ID", "NAME", "DRIVER", "SCOPE"
                )?;
            }
            for n in &list {
                if quiet {
                    writeln!(out, "{}", short_id(n))?;
                } else {
                    writeln!(
                        out,
                        "{:<15}{:<20}{:<10}{:<8}{}",
                        short_id(n),
                        n.name,
                        "bridge",
                        "local",
                        n.subnet
                    )?;
                }
            }
        }
        NetworkCommand::Inspect { names } => {
            let mut docs = Vec::new();
            for name in &names {
                docs.push(inspect_doc(&c, &nets.get(name)?)?);
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?;
        }
        NetworkCommand::Rm { names } => {
            let mut failed = false;
            for name in &names {
                match nets
                    .get(name)
                    .map_err(anyhow::Error::from)
                    .and_then(|n| remove(&nets, &c, &n))
                {
                    Ok(()) => writeln!(out, "{name}")?,
                    Err(e) => {
                        super::containers::report(&e);
                        failed = true;
                    }
                }
            }
            return Ok(i32::from(failed));
        }
        NetworkCommand::Prune { force } => {
            if !force {
                eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y") {
                    return Ok(0);
                }
            }
            let mut deleted = Vec::new();
            for n in nets.list()? {
                if n.name != DEFAULT_NETWORK && remove(&nets, &c, &n).is_ok() {
                    deleted.push(n.name);
                }
            }
            if !deleted.is_empty() {
                writeln!(out, "Deleted Networks:")?;
                for d in deleted {
                    writeln!(out, "{d}")?;
                }
            }
        }
    }
    Ok(0)
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`: docker's `80/tcp -> 127.0.0.1:8080` lines.
pub fn port(store: &Store, container: &str, private: Option<&str>) -> Result<i32> {
    let c = Containers::new(store.root());
    let r = c.find(container)?;
    let ports = r
        .net
        .as_ref()
        .and_then(|n| n.attachment.as_ref())
        .map(|a| a.ports.clone())
        .unwrap_or_default();
    let want = private.map(|p| match p.split_once('/') {
        Some((n, proto)) => (n.to_string(), proto.to_string()),
        None => (p.to_string(), "tcp".to_string()),
    });
    let mut out = std::io::stdout().lock();
    let mut any = false;
    for p in &ports {
        if let Some((n, proto)) = &want {
            if p.container_port.to_string() != *n || p.protocol != *proto {
                continue;
            }
            writeln!(out, "{}:{}", p.host_ip, p.host_port)?;
        } else {
            writeln!(
                out,
                "{}/{} -> {}:{}",
                p.container_port, p.protocol, p.host_ip, p.host_port
            )?;
        }
        any = true;
    }
    if let (Some(p), false) = (private, any) {
        bail!("No public port '{p}' published for {container}");
    }
    Ok(0)
}
