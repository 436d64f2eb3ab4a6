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
        std::fs::read_to_string(dir.join("init.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0)
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
    json!({
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
        },
        "Image": rec.image_id,
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": rec.auto_remove,
            "RestartPolicy": {
                "Name": rec.restart_policy.as_deref().map(|p| p.split(':').next().unwrap_or(p)).unwrap_or("no"),
                "MaximumRetryCount": rec.restart_policy.as_deref().and_then(|p| p.split_once(':')).and_then(|(_, n)| n.parse::<u32>().ok()).unwrap_or(0),
            },
            "Runtime": rec.runtime,
            "ReadonlyRootfs": spec["root"]["readonly"].as_bool().unwrap_or(false),
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": hostname,
            "User": user,
            "Tty": process["terminal"].as_bool().unwrap_or(false),
            "OpenStdin": rec.interactive,
            "Env": env,
            "Cmd": rec.command,
            "Image": rec.image,
            "WorkingDir": process["cwd"],
            "Labels": spec["annotations"].as_object().cloned().unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| !k.starts_with("org.opencontainers."))
                .collect::<serde_json::Map<String, Value>>(),
        },
    })
}
