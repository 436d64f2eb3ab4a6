//! A container's network: what `create` asks for ([`NetSettings`] in the record), the
//! attachment made while it may run (netns, CNI ADD, port mappings, hosts files) and its
//! removal (CNI DEL, which releases the IP, the veth and the port rules). The record
//! keeps the attachment, conflist and ADD result, so a later `rm` can DEL even after a
//! crash or a removed network file.

use super::config::{Joined, Network, RunConfig};
use super::record::{Containers, Record};
use super::ContainerError;
use crate::network::cni::{self, RuntimeConfig, Target};
use crate::network::hosts::{self, Entry};
use crate::network::ports::{self, PortMapping};
use crate::network::store::{Networks, DEFAULT_NETWORK};
use crate::network::{netns, subnet, NetworkError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The interface inside the container.
pub const IFNAME: &str = "eth0";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetSettings {
    /// The bridge network, by name (`None` for `container:`).
    #[serde(default)]
    pub network: Option<String>,
    /// `container:`: the id of the container whose namespace this one joins.
    #[serde(default)]
    pub container: Option<String>,
    /// `-p` and `-P`, as asked (host port 0: picked at each attach).
    #[serde(default)]
    pub publish: Vec<PortMapping>,
    #[serde(default)]
    pub add_hosts: Vec<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    pub hostname: String,
    /// Present while attached.
    #[serde(default)]
    pub attachment: Option<Attachment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub netns: PathBuf,
    /// With its prefix: `10.222.1.2/24`.
    pub ip: String,
    pub gateway: String,
    pub ports: Vec<PortMapping>,
    /// The conflist ADD ran with (DEL runs with the same).
    pub conflist: Value,
    /// The ADD result, DEL's prevResult.
    pub result: Value,
}

impl Attachment {
    pub fn address(&self) -> &str {
        self.ip.split('/').next().unwrap_or_default()
    }
}

fn store_root(containers: &Containers) -> &Path {
    containers.dir().parent().unwrap_or(Path::new("."))
}

fn networks(containers: &Containers) -> Networks {
    Networks::new(store_root(containers))
}

/// What the record keeps for `cfg`'s network (`None` for none and host); refuses an
/// unknown network or a `container:` that is not running.
pub fn prepare(
    containers: &Containers,
    cfg: &RunConfig,
    image_config: &Value,
    id: &str,
) -> Result<Option<NetSettings>, ContainerError> {
    let hostname = cfg.hostname.clone().unwrap_or_else(|| id[..12].to_string());
    match &cfg.network {
        Network::None | Network::Host => Ok(None),
        Network::Bridge(name) => {
            networks(containers).get(name)?;
            let mut publish = cfg.publish.clone();
            if cfg.publish_all {
                for e in ports::exposed(image_config)? {
                    if !publish
                        .iter()
                        .any(|p| p.container_port == e.container_port && p.protocol == e.protocol)
                    {
                        publish.push(e);
                    }
                }
            }
            Ok(Some(NetSettings {
                network: Some(name.clone()),
                publish,
                add_hosts: cfg.add_hosts.clone(),
                dns: cfg.dns.clone(),
                hostname,
                ..NetSettings::default()
            }))
        }
        Network::Container(q) => {
            let target = containers.find(q)?;
            if !matches!(
                super::lifecycle::status(containers, &target),
                super::runtime::Status::Running | super::runtime::Status::Paused
            ) {
                return Err(ContainerError::NotRunning(target.name));
            }
            Ok(Some(NetSettings {
                container: Some(target.id.clone()),
                hostname: target
                    .net
                    .as_ref()
                    .map(|n| n.hostname.clone())
                    .unwrap_or(target.id[..12].to_string()),
                ..NetSettings::default()
            }))
        }
    }
}

/// What config.json needs: the namespace to join and the files to bind.
pub fn joined(containers: &Containers, rec: &Record) -> Result<Option<Joined>, ContainerError> {
    let Some(n) = &rec.net else {
        return Ok(None);
    };
    let files = |dir: &Path| {
        hosts::FILES
            .iter()
            .map(|(f, dest)| (hosts::file(dir, f), dest.to_string()))
            .collect::<Vec<_>>()
    };
    if let Some(target) = &n.container {
        let t = containers.load(target)?;
        let tdir = containers.path(&t.id);
        let (netns, files) = match t.net.as_ref().and_then(|n| n.attachment.as_ref()) {
            Some(a) => (a.netns.clone(), files(&tdir)),
            None => {
                let pid = super::lifecycle::init_pid(containers, &t.id)
                    .ok_or_else(|| ContainerError::NotRunning(t.name.clone()))?;
                (PathBuf::from(format!("/proc/{pid}/ns/net")), Vec::new())
            }
        };
        return Ok(Some(Joined {
            netns,
            files,
            hostname: Some(n.hostname.clone()),
        }));
    }
    Ok(Some(Joined {
        netns: netns::path(store_root(containers), &rec.id),
        files: files(&containers.path(&rec.id)),
        hostname: Some(n.hostname.clone()),
    }))
}

fn port_config(ports: &[PortMapping]) -> RuntimeConfig {
    RuntimeConfig {
        port_mappings: ports
            .iter()
            .map(|p| {
                let mut m = json!({"hostPort": p.host_port, "containerPort": p.container_port, "protocol": p.protocol});
                if !p.host_ip.is_unspecified() {
                    m["hostIP"] = json!(p.host_ip.to_string());
                }
                m
            })
            .collect(),
    }
}

/// Attaches a bridge-network container that is not attached: netns, loopback, CNI ADD
/// with its port mappings, the record saved, its hosts files and its peers' written.
/// All or nothing: a failure leaves no namespace, veth, lease or rule.
pub fn attach(containers: &Containers, rec: &mut Record) -> Result<(), ContainerError> {
    if rec.net.as_ref().is_some_and(|n| n.attachment.is_some()) && !still_attached(rec) {
        // Left by a monitor that died, from before a reboot, say: DEL what remains and
        // attach anew.
        tracing::warn!(container = %rec.id, "the recorded network attachment fails CNI CHECK: attaching again");
        detach(containers, rec)?;
        *rec = containers.load(&rec.id)?;
    }
    let Some(settings) = rec.net.clone() else {
        return Ok(());
    };
    let (Some(name), None) = (&settings.network, &settings.attachment) else {
        return Ok(());
    };
    let nets = networks(containers);
    let net = nets.get(name)?;
    if let Some(r) = subnet::colliding_route(net.subnet, &net.bridge, &subnet::host_routes()) {
        return Err(NetworkError::Overlap {
            subnet: net.subnet,
            with: format!(
                "the host's route to {} on {} (network {name}: remove the network or the route)",
                r.dest, r.iface
            ),
        }
        .into());
    }
    let _lock = nets.lock()?;
    let taken: Vec<PortMapping> = containers
        .list()?
        .iter()
        .filter(|r| r.id != rec.id)
        .filter_map(|r| r.net.as_ref()?.attachment.as_ref())
        .flat_map(|a| a.ports.clone())
        .collect();
    let mut ports = settings.publish.clone();
    ports::resolve(&mut ports, &taken)?;
    let conflist = nets.conflist(&net)?;
    let ns = netns::path(store_root(containers), &rec.id);
    netns::create(&ns)?;
    let target = Target {
        container_id: &rec.id,
        netns: &ns,
        ifname: IFNAME,
    };
    let rc = port_config(&ports);
    let added = cni::loopback_up(&rec.id, &ns).and_then(|_| cni::add(&conflist, &target, &rc));
    let result = match added {
        Ok(r) => r,
        Err(e) => {
            let _ = cni::del(&conflist, &target, &rc, None);
            let _ = netns::remove(&ns);
            return Err(e.into());
        }
    };
    let attachment = Attachment {
        network: name.clone(),
        netns: ns.clone(),
        ip: cni::container_ip(&result, IFNAME).unwrap_or_default(),
        gateway: net.gateway.to_string(),
        ports,
        conflist,
        result,
    };
    let mut now = rec.clone();
    now.net.as_mut().expect("settings").attachment = Some(attachment.clone());
    if let Err(e) = containers.save(&now) {
        let _ = cni::del(&attachment.conflist, &target, &rc, Some(&attachment.result));
        let _ = netns::remove(&ns);
        return Err(e);
    }
    *rec = now;
    let dir = containers.path(&rec.id);
    write_resolv_and_name(&dir, &settings)?;
    refresh_hosts(containers, name)?;
    Ok(())
}

/// Whether the recorded attachment still holds: its netns mounted and CNI CHECK passing.
fn still_attached(rec: &Record) -> bool {
    let Some(a) = rec.net.as_ref().and_then(|n| n.attachment.as_ref()) else {
        return false;
    };
    let target = Target {
        container_id: &rec.id,
        netns: &a.netns,
        ifname: IFNAME,
    };
    netns::is_mounted(&a.netns)
        && cni::check(&a.conflist, &target, &port_config(&a.ports), &a.result)
            .inspect_err(|e| tracing::warn!(container = %rec.id, error = %e, "CNI CHECK"))
            .is_ok()
}

fn write_resolv_and_name(dir: &Path, s: &NetSettings) -> Result<(), NetworkError> {
    let dns = s
        .dns
        .iter()
        .filter_map(|d| hosts::parse_dns(d).ok())
        .collect::<Vec<_>>();
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    hosts::write_in_place(
        &hosts::file(dir, "resolv.conf"),
        &hosts::resolv_text(&dns, &host),
    )?;
    hosts::write_in_place(&hosts::file(dir, "hostname"), &format!("{}\n", s.hostname))
}

fn own_entry(r: &Record, a: &Attachment) -> Entry {
    let n = r.net.as_ref().expect("attached");
    let mut names = vec![n.hostname.clone()];
    if r.name != n.hostname {
        names.push(r.name.clone());
    }
    Entry {
        ip: a.address().to_string(),
        names,
    }
}

/// Rewrites the hosts file of every container attached to `network`: on a user-defined
/// network each lists its peers by name (docker's default network does not).
fn refresh_hosts(containers: &Containers, network: &str) -> Result<(), ContainerError> {
    let attached: Vec<(Record, Attachment)> = containers
        .list()?
        .into_iter()
        .filter_map(|r| {
            let a = r.net.as_ref()?.attachment.clone()?;
            (a.network == network).then_some((r, a))
        })
        .collect();
    for (r, a) in &attached {
        let peers: Vec<Entry> = if network == DEFAULT_NETWORK {
            Vec::new()
        } else {
            attached
                .iter()
                .filter(|(o, _)| o.id != r.id)
                .map(|(o, oa)| own_entry(o, oa))
                .collect()
        };
        let added: Vec<_> = r
            .net
            .as_ref()
            .map(|n| {
                n.add_hosts
                    .iter()
                    .filter_map(|h| hosts::parse_add_host(h).ok())
                    .collect()
            })
            .unwrap_or_default();
        let text = hosts::hosts_text(&own_entry(r, a), &added, &peers);
        let path = hosts::file(&containers.path(&r.id), "hosts");
        if path.parent().is_some_and(Path::exists) {
            hosts::write_in_place(&path, &text)?;
        }
    }
    Ok(())
}

/// CNI DEL (the lease, veth and port rules go), the netns removed, the record cleared
/// and the peers' hosts files rewritten. Nothing attached is fine.
pub fn detach(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    let mut now = containers.load(&rec.id).unwrap_or_else(|_| rec.clone());
    let Some(a) = now.net.as_ref().and_then(|n| n.attachment.clone()) else {
        return Ok(());
    };
    let nets = networks(containers);
    let _lock = nets.lock()?;
    let target = Target {
        container_id: &rec.id,
        netns: &a.netns,
        ifname: IFNAME,
    };
    // A namespace no longer mounted (a reboot, an unmount) is a missing path to the
    // plugins, which then release the lease without entering it; an empty file there
    // would fail DEL instead. (bridge 1.1.1 then cannot find the addresses to drop its
    // masquerade rule: after a reboot that rule is gone anyway.)
    if !netns::is_mounted(&a.netns) {
        let _ = std::fs::remove_file(&a.netns);
    }
    let deleted = cni::del(
        &a.conflist,
        &target,
        &port_config(&a.ports),
        Some(&a.result),
    );
    netns::remove(&a.netns)?;
    deleted?;
    if let Some(n) = now.net.as_mut() {
        n.attachment = None;
    }
    if containers.path(&rec.id).join("container.json").exists() {
        containers.save(&now)?;
    }
    refresh_hosts(containers, &a.network)
}

/// `ps`'s PORTS: `127.0.0.1:8080->80/tcp, ...`.
pub fn ports_text(rec: &Record) -> String {
    rec.net
        .as_ref()
        .and_then(|n| n.attachment.as_ref())
        .map(|a| {
            a.ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The names of containers on `network` (attached or not: a stopped one keeps it).
pub fn users(containers: &Containers, network: &str) -> Result<Vec<String>, ContainerError> {
    Ok(containers
        .list()?
        .into_iter()
        .filter(|r| {
            r.net
                .as_ref()
                .is_some_and(|n| n.network.as_deref() == Some(network))
        })
        .map(|r| r.name)
        .collect())
}
