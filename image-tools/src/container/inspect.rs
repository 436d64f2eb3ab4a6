//! `container inspect`: a container in the shape of `docker container inspect`, made
//! from its record, its config.json and the runtime's view (for `--format` templates
//! such as `{{.State.Status}}`, `{{.Name}}` or `{{json .Config.Env}}`).

use super::lifecycle;
use super::record::{Containers, Record};
use serde_json::{json, Value};

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The mounts every container has (runc's /dev, /dev/shm, /run...), not docker's
/// Mounts.
fn is_default_mount(m: &Value) -> bool {
    matches!(
        m["destination"].as_str(),
        Some(
            "/dev"
                | "/dev/shm"
                | "/run"
                | "/dev/pts"
                | "/dev/mqueue"
                | "/sys"
                | "/proc"
                | "/sys/fs/cgroup"
        )
    )
}

/// The docker-shaped document of one container.
pub fn inspect(containers: &Containers, rec: &Record) -> Value {
    let dir = containers.path(&rec.id);
    let spec: Value = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    let status = lifecycle::state_name(containers, rec);
    let rec = &containers.load(&rec.id).unwrap_or_else(|_| rec.clone());
    let live = matches!(status, "running" | "paused");
    let pid = if live {
        lifecycle::init_pid(containers, &rec.id).unwrap_or(0)
    } else {
        0
    };
    let process = &spec["process"];
    let env = strings(&process["env"]);
    let hostname = spec["hostname"].as_str().unwrap_or_default();
    let user = &process["user"];
    let user = match (user["uid"].as_u64(), user["gid"].as_u64()) {
        (Some(0), Some(0)) | (None, _) => String::new(),
        (Some(u), Some(g)) => format!("{u}:{g}"),
        (Some(u), None) => u.to_string(),
    };
    let mounts: Vec<Value> = spec["mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|m| m["type"] == "bind" || (m["type"] == "tmpfs" && !is_default_mount(m)))
                // The network's /etc files are the container's own, not mounts (docker).
                .filter(|m| {
                    !m["source"]
                        .as_str()
                        .is_some_and(|s| std::path::Path::new(s).starts_with(&dir))
                })
                .map(|m| {
                    let opts = strings(&m["options"]);
                    let source = m["source"].as_str().unwrap_or_default();
                    let volume = rec
                        .volumes
                        .iter()
                        .find(|v| source.ends_with(&format!("/volumes/{v}/_data")));
                    let kind = match (volume, m["type"].as_str()) {
                        (Some(_), _) => "volume",
                        (None, Some("tmpfs")) => "tmpfs",
                        _ => "bind",
                    };
                    json!({
                        "Type": kind,
                        "Name": volume,
                        "Source": if kind == "tmpfs" { "" } else { source },
                        "Destination": m["destination"],
                        "Mode": if opts.iter().any(|o| o == "ro") { "ro" } else { "" },
                        "RW": !opts.iter().any(|o| o == "ro"),
                        "Propagation": "rprivate",
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let zero = "0001-01-01T00:00:00Z";
    // docker leaves Health out for a container without a health check.
    let health = rec
        .healthcheck
        .as_ref()
        .map(|_| super::health::load(containers, &rec.id).unwrap_or_default());
    let mut doc = json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.command.first().cloned().unwrap_or_default(),
        "Args": rec.command.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status,
            "Running": live,
            "Paused": status == "paused",
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": pid,
            "ExitCode": if live { 0 } else { rec.exit_code.unwrap_or(0) },
            "Error": "",
            "StartedAt": rec.started_at.clone().unwrap_or_else(|| zero.into()),
            "FinishedAt": rec.finished_at.clone().unwrap_or_else(|| zero.into()),
            "Health": health,
        },
        "Image": rec.image_id,
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": rec.auto_remove,
            // docker: null unless --init was given.
            "Init": rec.init.then_some(true),
            "RestartPolicy": {
                "Name": rec.restart_policy.as_deref().map(|p| p.split(':').next().unwrap_or(p)).unwrap_or("no"),
                "MaximumRetryCount": rec.restart_policy.as_deref().and_then(|p| p.split_once(':')).and_then(|(_, n)| n.parse::<u32>().ok()).unwrap_or(0),
            },
            "Runtime": rec.runtime,
            "NetworkMode": network_mode(rec, &spec),
            "PortBindings": port_bindings(rec),
            "ReadonlyRootfs": spec["root"]["readonly"].as_bool().unwrap_or(false),
        },
        "Mounts": mounts,
        "NetworkSettings": network_settings(rec),
        "Config": {
            "Hostname": hostname,
            "User": user,
            "Tty": process["terminal"].as_bool().unwrap_or(false),
            "OpenStdin": rec.interactive,
            "Env": env,
            "Cmd": rec.command,
            "Image": rec.image,
            "WorkingDir": process["cwd"],
            "StopSignal": spec["annotations"][crate::bundle::spec::STOP_SIGNAL_ANNOTATION],
            "StopTimeout": rec.stop_timeout,
            "Healthcheck": rec.healthcheck,
            "Labels": spec["annotations"].as_object().cloned().unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| !k.starts_with("org.opencontainers."))
                .collect::<serde_json::Map<String, Value>>(),
        },
    });
    if doc["State"]["Health"].is_null() {
        if let Some(state) = doc["State"].as_object_mut() {
            state.remove("Health");
        }
    }
    if doc["Config"]["Healthcheck"].is_null() {
        if let Some(config) = doc["Config"].as_object_mut() {
            config.remove("Healthcheck");
        }
    }
    doc
}

/// docker's NetworkSettings: the attachment's address, gateway and published ports.
fn network_settings(rec: &Record) -> Value {
    let net = rec.net.as_ref();
    let a = net.and_then(|n| n.attachment.as_ref());
    let mut ports = serde_json::Map::new();
    for p in a.map(|a| a.ports.as_slice()).unwrap_or_default() {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let entry = ports.entry(key).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(
                json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}),
            );
        }
    }
    let (ip, prefix) = a
        .and_then(|a| a.ip.split_once('/'))
        .map(|(i, p)| (i.to_string(), p.parse::<u32>().unwrap_or(0)))
        .unwrap_or_default();
    let mut networks = serde_json::Map::new();
    if let Some(name) = net.and_then(|n| n.network.clone()) {
        networks.insert(
            name,
            json!({
                "IPAddress": ip,
                "IPPrefixLen": prefix,
                "Gateway": a.map(|a| a.gateway.clone()).unwrap_or_default(),
            }),
        );
    }
    json!({
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "Gateway": a.map(|a| a.gateway.clone()).unwrap_or_default(),
        "Ports": ports,
        "SandboxKey": a.map(|a| a.netns.display().to_string()).unwrap_or_default(),
        "Networks": networks,
    })
}

/// docker's HostConfig.NetworkMode: the network's name, `container:ID`, `host` (no
/// network namespace in config.json) or `none`.
fn network_mode(rec: &Record, spec: &Value) -> String {
    if let Some(n) = &rec.net {
        if let Some(name) = &n.network {
            return name.clone();
        }
        if let Some(c) = &n.container {
            return format!("container:{c}");
        }
    }
    let own_netns = spec["linux"]["namespaces"]
        .as_array()
        .is_some_and(|ns| ns.iter().any(|n| n["type"] == "network"));
    if own_netns { "none" } else { "host" }.to_string()
}

/// docker's HostConfig.PortBindings: what was asked (host port "" when picked at start).
fn port_bindings(rec: &Record) -> Value {
    let mut out = serde_json::Map::new();
    for p in rec
        .net
        .as_ref()
        .map(|n| n.publish.as_slice())
        .unwrap_or_default()
    {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let host_port = if p.host_port == 0 {
            String::new()
        } else {
            p.host_port.to_string()
        };
        let entry = out.entry(key).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"HostIp": if p.host_ip.is_unspecified() { String::new() } else { p.host_ip.to_string() }, "HostPort": host_port}));
        }
    }
    Value::Object(out)
}
