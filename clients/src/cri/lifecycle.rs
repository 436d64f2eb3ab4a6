//! The pod lifecycle a kubelet drives, over CRI, for one RuntimeClass handler, each
//! step checked: Version, PullImage, RunPodSandbox (host network), CreateContainer,
//! StartContainer, ExecSync, Exec (the streaming server), ContainerStatus,
//! ContainerStats, UpdateContainerResources (seen in the container's cgroup),
//! ReopenContainerLog, StopContainer, RemoveContainer, StopPodSandbox,
//! RemovePodSandbox. Also a pod of two containers sharing the pod's namespaces.
//! The tests and the benchmark run these same functions.

use super::client::Cri;
use super::node::{Handler, Node};
use super::stream;
use crate::leftovers;
use anyhow::{ensure, Context, Result};
use k8s_cri::v1 as cri;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The memory limit a container starts with, and the one UpdateContainerResources sets.
const MEMORY_START: i64 = 64 << 20;
const MEMORY_UPDATED: i64 = 96 << 20;
/// StopContainer's grace period; the containers' shells trap SIGTERM and exit 0 at once.
const STOP_TIMEOUT_S: i64 = 10;
/// The containers' command: says it started, then waits for SIGTERM and exits 0.
const MAIN_SCRIPT: &str = "echo started; trap 'exit 0' TERM; sleep 100000 & wait";

/// The kubelet's default masked and read-only paths (its "Default" proc mount type).
const MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The ids a flow made, for the leftover check and the forced cleanup.
#[derive(Debug, Default, Clone)]
pub struct Made {
    pub sandboxes: Vec<String>,
    pub containers: Vec<String>,
    /// The pods' cgroup parents: the kubelet's to make and remove, not the runtime's.
    pub cgroup_parents: Vec<String>,
}

/// What one lifecycle measured: each call's wall time in order, and the whole.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub calls: Vec<(&'static str, Duration)>,
    pub total: Duration,
    /// What the Exec step could check through the streaming server.
    pub exec_stream: String,
}

/// Host network (no CNI), IPC shared by the pod, each container its own pid namespace:
/// what a kubelet sends for a `hostNetwork: true` pod.
fn namespaces() -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: cri::NamespaceMode::Node as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// The pod's config, as both RunPodSandbox and CreateContainer carry it.
pub fn pod_config(node: &Node, handler: &Handler, name: &str) -> cri::PodSandboxConfig {
    let uid = format!("{name}-{}-{}", handler.name, std::process::id());
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: uid.clone(),
            namespace: "sangja-test".into(),
            attempt: 0,
        }),
        log_directory: node.logs.join(&uid).display().to_string(),
        labels: HashMap::from([("sangja-test".into(), name.into())]),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: format!("/{}/{uid}", node.cgroup_parent),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A container running MAIN_SCRIPT from the busybox image, 64 MiB, the runtime's
/// default seccomp profile, the kubelet's masked paths, and as the kubelet does a
/// host file bound at /dev/termination-log (`termination_log`, made here).
fn container_config(node: &Node, name: &str, termination_log: &Path) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: node.busybox.clone(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into(), MAIN_SCRIPT.into()],
        envs: vec![cri::KeyValue {
            key: "X".into(),
            value: "y".into(),
        }],
        log_path: format!("{name}.log"),
        mounts: vec![cri::Mount {
            container_path: "/dev/termination-log".into(),
            host_path: termination_log.display().to_string(),
            ..Default::default()
        }],
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                memory_limit_in_bytes: MEMORY_START,
                cpu_shares: 512,
                ..Default::default()
            }),
            security_context: Some(cri::LinuxContainerSecurityContext {
                namespace_options: Some(namespaces()),
                seccomp: Some(cri::SecurityProfile {
                    profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
                    ..Default::default()
                }),
                masked_paths: MASKED_PATHS.iter().map(|p| p.to_string()).collect(),
                readonly_paths: READONLY_PATHS.iter().map(|p| p.to_string()).collect(),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// PullImage of `image`; its image ref.
pub fn pull(cri: &mut Cri, image: &str) -> Result<String> {
    let req = cri::PullImageRequest {
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let r = cri.image("PullImage", |mut c| async move { c.pull_image(req).await })?;
    ensure!(
        !r.image_ref.is_empty(),
        "PullImage of {image}: empty image_ref"
    );
    Ok(r.image_ref)
}

/// RunPodSandbox under `handler`; the sandbox id (recorded in `made`).
pub fn run_pod(
    cri: &mut Cri,
    config: &cri::PodSandboxConfig,
    handler: &Handler,
    made: &mut Made,
) -> Result<String> {
    fs::create_dir_all(&config.log_directory)?;
    let req = cri::RunPodSandboxRequest {
        config: Some(config.clone()),
        runtime_handler: handler.name.into(),
    };
    let r = cri.runtime("RunPodSandbox", |mut c| async move {
        c.run_pod_sandbox(req).await
    })?;
    made.sandboxes.push(r.pod_sandbox_id.clone());
    if let Some(l) = &config.linux {
        made.cgroup_parents.push(l.cgroup_parent.clone());
    }
    Ok(r.pod_sandbox_id)
}

/// CreateContainer + StartContainer of a MAIN_SCRIPT container named `name`.
/// CreateContainer + StartContainer of a MAIN_SCRIPT container named `name`, its
/// config changed by `adjust` first.
pub fn start_container(
    cri: &mut Cri,
    node: &Node,
    pod: &str,
    pod_config: &cri::PodSandboxConfig,
    name: &str,
    made: &mut Made,
    adjust: impl FnOnce(&mut cri::ContainerConfig),
) -> Result<String> {
    let termination_log = termination_log(pod_config, name);
    fs::write(&termination_log, "")
        .with_context(|| format!("create {}", termination_log.display()))?;
    let mut config = container_config(node, name, &termination_log);
    adjust(&mut config);
    let req = cri::CreateContainerRequest {
        pod_sandbox_id: pod.into(),
        config: Some(config),
        sandbox_config: Some(pod_config.clone()),
    };
    let id = cri
        .runtime("CreateContainer", |mut c| async move {
            c.create_container(req).await
        })?
        .container_id;
    made.containers.push(id.clone());
    let req = cri::StartContainerRequest {
        container_id: id.clone(),
    };
    cri.runtime("StartContainer", |mut c| async move {
        c.start_container(req).await
    })?;
    Ok(id)
}

/// The host file a container's /dev/termination-log is bound to (in the pod's log
/// directory, which the test removes with the node).
fn termination_log(pod_config: &cri::PodSandboxConfig, name: &str) -> PathBuf {
    Path::new(&pod_config.log_directory).join(format!("{name}.termination-log"))
}

/// ExecSync of `cmd` in the container: (exit code, stdout, stderr).
pub fn exec_sync(cri: &mut Cri, id: &str, cmd: &[&str]) -> Result<(i32, String, String)> {
    let req = cri::ExecSyncRequest {
        container_id: id.into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        timeout: 60,
    };
    let r = cri.runtime("ExecSync", |mut c| async move { c.exec_sync(req).await })?;
    Ok((
        r.exit_code,
        String::from_utf8_lossy(&r.stdout).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    ))
}

/// ContainerStatus, verbose (its info carries the init's pid).
pub fn status(cri: &mut Cri, id: &str) -> Result<(cri::ContainerStatus, HashMap<String, String>)> {
    let req = cri::ContainerStatusRequest {
        container_id: id.into(),
        verbose: true,
    };
    let r = cri.runtime("ContainerStatus", |mut c| async move {
        c.container_status(req).await
    })?;
    Ok((r.status.context("ContainerStatus: no status")?, r.info))
}

/// The container's init pid, from ContainerStatus' verbose info.
pub fn init_pid(info: &HashMap<String, String>) -> Result<u32> {
    let raw = info
        .get("info")
        .context("ContainerStatus verbose: no `info`")?;
    let v: serde_json::Value = serde_json::from_str(raw).context("ContainerStatus info JSON")?;
    v.get("pid")
        .and_then(|p| p.as_u64())
        .map(|p| p as u32)
        .with_context(|| format!("ContainerStatus info has no pid: {raw}"))
}

/// StopContainer, then checks it exited 0 (its shell trapped SIGTERM).
pub fn stop_container(cri: &mut Cri, id: &str) -> Result<()> {
    let req = cri::StopContainerRequest {
        container_id: id.into(),
        timeout: STOP_TIMEOUT_S,
    };
    cri.runtime("StopContainer", |mut c| async move {
        c.stop_container(req).await
    })?;
    let (st, _) = status(cri, id)?;
    ensure!(
        st.state == cri::ContainerState::ContainerExited as i32 && st.exit_code == 0,
        "after StopContainer: state {} exit code {} (want EXITED, 0; the shell traps SIGTERM)",
        st.state,
        st.exit_code
    );
    Ok(())
}

pub fn remove_container(cri: &mut Cri, id: &str) -> Result<()> {
    let req = cri::RemoveContainerRequest {
        container_id: id.into(),
    };
    cri.runtime("RemoveContainer", |mut c| async move {
        c.remove_container(req).await
    })?;
    Ok(())
}

/// StopPodSandbox + RemovePodSandbox.
pub fn remove_pod(cri: &mut Cri, pod: &str) -> Result<()> {
    let req = cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.into(),
    };
    cri.runtime("StopPodSandbox", |mut c| async move {
        c.stop_pod_sandbox(req).await
    })?;
    let req = cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod.into(),
    };
    cri.runtime("RemovePodSandbox", |mut c| async move {
        c.remove_pod_sandbox(req).await
    })?;
    Ok(())
}

/// Every pod and container the daemon knows (ListPodSandbox, ListContainers).
pub fn records(cri: &mut Cri) -> Result<(Vec<String>, Vec<String>)> {
    let pods = cri
        .runtime("ListPodSandbox", |mut c| async move {
            c.list_pod_sandbox(cri::ListPodSandboxRequest::default())
                .await
        })?
        .items
        .into_iter()
        .map(|p| p.id)
        .collect();
    let containers = cri
        .runtime("ListContainers", |mut c| async move {
            c.list_containers(cri::ListContainersRequest::default())
                .await
        })?
        .containers
        .into_iter()
        .map(|c| c.id)
        .collect();
    Ok((pods, containers))
}

/// Removes every container and pod the daemon knows (it is ours alone): the cleanup
/// after a failed flow, and the check that a good one left no CRI record.
pub fn remove_all(cri: &mut Cri) -> Result<()> {
    let (pods, containers) = records(cri)?;
    let mut first_err = None;
    for id in &containers {
        if let Err(e) = remove_container(cri, id) {
            first_err.get_or_insert(e);
        }
    }
    for id in &pods {
        if let Err(e) = remove_pod(cri, id) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// The container's cgroup file `file` on the host, in whichever hierarchy has it.
fn cgroup_value(config: &cri::PodSandboxConfig, id: &str, file: &str) -> Result<String> {
    let parent = config
        .linux
        .as_ref()
        .map(|l| l.cgroup_parent.clone())
        .unwrap_or_default();
    let rel = format!("{parent}/{id}");
    leftovers::cgroups_named(&rel)
        .into_iter()
        .map(|d| d.join(file))
        .find(|p| p.exists())
        .map(fs::read_to_string)
        .transpose()?
        .map(|s| s.trim().to_string())
        .with_context(|| format!("no cgroup {rel} with {file} on the host"))
}

/// The memory limit as the host's cgroup shows it (v1 memory.limit_in_bytes, v2 memory.max).
fn memory_limit(config: &cri::PodSandboxConfig, id: &str) -> Result<i64> {
    let v = cgroup_value(config, id, "memory.limit_in_bytes")
        .or_else(|_| cgroup_value(config, id, "memory.max"))?;
    v.parse()
        .with_context(|| format!("memory limit of {id}: {v:?}"))
}

/// The whole lifecycle of a one-container pod under `handler`, each step checked.
pub fn pod_lifecycle(
    cri: &mut Cri,
    node: &Node,
    handler: &Handler,
    made: &mut Made,
) -> Result<Lifecycle> {
    cri.timings.clear();
    let start = Instant::now();
    let v = cri.runtime("Version", |mut c| async move {
        c.version(cri::VersionRequest {
            version: "v1".into(),
        })
        .await
    })?;
    ensure!(
        v.runtime_name == "containerd" && v.runtime_api_version == "v1",
        "Version: {v:?} (want containerd speaking CRI v1)"
    );
    pull(cri, &node.busybox)?;
    let config = pod_config(node, handler, "lifecycle");
    let pod = run_pod(cri, &config, handler, made)?;
    let id = start_container(cri, node, &pod, &config, "main", made, |_| {})?;

    let (code, out, err) = exec_sync(
        cri,
        &id,
        &["sh", "-c", "echo exec-$((6*7))-$X; echo oops >&2; exit 3"],
    )?;
    ensure!(
        code == 3 && out.trim() == "exec-42-y" && err.trim() == "oops",
        "ExecSync: exit {code}, stdout {out:?}, stderr {err:?} (want 3, exec-42-y, oops)"
    );

    // The kubelet reads a container's last words from its termination log.
    let (code, _, err) = exec_sync(
        cri,
        &id,
        &["sh", "-c", "echo last-words > /dev/termination-log"],
    )?;
    ensure!(
        code == 0,
        "writing /dev/termination-log: exit {code}: {err}"
    );
    let words = fs::read_to_string(termination_log(&config, "main"))?;
    ensure!(
        words.trim() == "last-words",
        "the host's termination log holds {words:?}, not what the container wrote"
    );

    let req = cri::ExecRequest {
        container_id: id.clone(),
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "echo stream-$((6*7)); exit 5".into(),
        ],
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let url = cri
        .runtime("Exec", |mut c| async move { c.exec(req).await })?
        .url;
    let exec_stream = stream::check_exec(&url, "stream-42", 5)
        .with_context(|| format!("Exec through the streaming server at {url}"))?;

    let (st, info) = status(cri, &id)?;
    ensure!(
        st.state == cri::ContainerState::ContainerRunning as i32,
        "ContainerStatus: state {} (want RUNNING)",
        st.state
    );
    ensure!(
        st.image
            .as_ref()
            .is_some_and(|i| i.image.contains("sangja/busybox")),
        "ContainerStatus: image {:?}",
        st.image
    );
    let pid = init_pid(&info)?;
    ensure!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "ContainerStatus: init pid {pid} is not running"
    );

    let req = cri::ContainerStatsRequest {
        container_id: id.clone(),
    };
    let stats = cri
        .runtime("ContainerStats", |mut c| async move {
            c.container_stats(req).await
        })?
        .stats
        .context("ContainerStats: no stats")?;
    let ws = stats
        .memory
        .as_ref()
        .and_then(|m| m.working_set_bytes.as_ref())
        .map(|v| v.value);
    let cpu = stats
        .cpu
        .as_ref()
        .and_then(|c| c.usage_core_nano_seconds.as_ref())
        .map(|v| v.value);
    ensure!(
        ws.is_some_and(|w| w > 0) && cpu.is_some_and(|c| c > 0),
        "ContainerStats: memory working set {ws:?}, cpu usage {cpu:?} (want both > 0)"
    );

    ensure!(
        memory_limit(&config, &id)? == MEMORY_START,
        "the container's cgroup does not hold the 64 MiB it was created with"
    );
    let req = cri::UpdateContainerResourcesRequest {
        container_id: id.clone(),
        linux: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: MEMORY_UPDATED,
            cpu_shares: 256,
            ..Default::default()
        }),
        ..Default::default()
    };
    cri.runtime("UpdateContainerResources", |mut c| async move {
        c.update_container_resources(req).await
    })?;
    let limit = memory_limit(&config, &id)?;
    ensure!(
        limit == MEMORY_UPDATED,
        "after UpdateContainerResources the cgroup's memory limit is {limit} (want {MEMORY_UPDATED})"
    );
    if let Ok(shares) = cgroup_value(&config, &id, "cpu.shares") {
        ensure!(
            shares == "256",
            "after UpdateContainerResources cpu.shares is {shares} (want 256)"
        );
    }

    // What a kubelet's log rotation does: rename, then have the runtime reopen.
    let log = PathBuf::from(&st.log_path);
    ensure!(
        fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started"),
        "container log {} lacks the line the container printed",
        log.display()
    );
    let rotated = log.with_extension("log.1");
    fs::rename(&log, &rotated).with_context(|| format!("rotate {}", log.display()))?;
    let req = cri::ReopenContainerLogRequest {
        container_id: id.clone(),
    };
    cri.runtime("ReopenContainerLog", |mut c| async move {
        c.reopen_container_log(req).await
    })?;
    ensure!(
        log.exists(),
        "ReopenContainerLog did not recreate {}",
        log.display()
    );

    stop_container(cri, &id)?;
    remove_container(cri, &id)?;
    remove_pod(cri, &pod)?;
    let total = start.elapsed();
    let (pods, containers) = records(cri)?;
    ensure!(
        pods.is_empty() && containers.is_empty(),
        "CRI records left: pods {pods:?}, containers {containers:?}"
    );
    let calls = cri
        .timings
        .iter()
        .filter(|(rpc, _)| !rpc.starts_with("List"))
        .cloned()
        .collect();
    Ok(Lifecycle {
        calls,
        total,
        exec_stream,
    })
}

/// A namespace link of a process, as `readlink /proc/<pid>/ns/<ns>` gives it.
fn ns_link(pid: &str, ns: &str) -> Result<String> {
    let p = format!("/proc/{pid}/ns/{ns}");
    Ok(fs::read_link(&p)
        .with_context(|| format!("readlink {p}"))?
        .display()
        .to_string())
}

/// Two containers in one pod: each sees the pod's IPC namespace and the host's
/// network (from inside, by ExecSync), its own pid namespace, and both run under one
/// shim process whose children their inits are. Returns the shim's pid.
pub fn shared_pod(cri: &mut Cri, node: &Node, handler: &Handler, made: &mut Made) -> Result<i32> {
    pull(cri, &node.busybox)?;
    let config = pod_config(node, handler, "shared");
    let pod = run_pod(cri, &config, handler, made)?;
    let a = start_container(cri, node, &pod, &config, "a", made, |_| {})?;
    let b = start_container(cri, node, &pod, &config, "b", made, |_| {})?;
    let probe = [
        "sh",
        "-c",
        "for n in ipc net pid; do readlink /proc/self/ns/$n; done",
    ];
    let mut seen = Vec::new();
    for id in [&a, &b] {
        let (code, out, err) = exec_sync(cri, id, &probe)?;
        ensure!(
            code == 0,
            "ExecSync of the namespace probe in {id}: exit {code}: {err}"
        );
        let lines: Vec<String> = out.lines().map(str::to_string).collect();
        ensure!(lines.len() == 3, "namespace probe printed {out:?}");
        seen.push(lines);
    }
    let host_net = ns_link("self", "net")?;
    let host_ipc = ns_link("self", "ipc")?;
    ensure!(
        seen[0][0] == seen[1][0] && seen[0][0] != host_ipc,
        "IPC namespaces: a {}, b {}, host {host_ipc} (want a = b, not the host's)",
        seen[0][0],
        seen[1][0]
    );
    ensure!(
        seen[0][1] == host_net && seen[1][1] == host_net,
        "network namespaces: a {}, b {}, host {host_net} (host network: want all equal)",
        seen[0][1],
        seen[1][1]
    );
    ensure!(
        seen[0][2] != seen[1][2],
        "pid namespaces: a and b share {} (each container asked for its own)",
        seen[0][2]
    );

    // One shim for the pod: the sandbox's and both containers' inits are its children.
    let shims = node.containerd.shims();
    ensure!(
        shims.len() == 1,
        "want one shim serving the pod, found {}: {shims:?}",
        shims.len()
    );
    let (shim, cmdline) = &shims[0];
    let shim = *shim;
    ensure!(
        cmdline.contains(handler.shim_binary),
        "handler {} should run {}, the pod's shim is {cmdline}",
        handler.name,
        handler.shim_binary
    );
    for id in [&a, &b] {
        let saved = node.runtime_binary_of(id);
        ensure!(
            saved.contains("sangja") == handler.sangja,
            "handler {}: container {id}'s bundle names the runtime as {saved:?} (sangja expected: {})",
            handler.name,
            handler.sangja
        );
    }
    for id in [&a, &b] {
        let (_, info) = status(cri, id)?;
        let pid = init_pid(&info)?;
        let ppid = parent_of(pid)?;
        ensure!(
            ppid == shim,
            "container {id}'s init {pid} has parent {ppid}, not the pod's shim {shim}"
        );
        let ipc = ns_link(&pid.to_string(), "ipc")?;
        ensure!(
            ipc == seen[0][0],
            "init {pid} of {id} is in IPC {ipc}, not the pod's"
        );
    }
    for id in [&a, &b] {
        stop_container(cri, id)?;
        remove_container(cri, id)?;
    }
    remove_pod(cri, &pod)?;
    Ok(shim)
}

fn parent_of(pid: u32) -> Result<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("parse /proc/{pid}/stat"))
}

/// The uid and gid the restricted pod runs as.
const RESTRICTED_ID: i64 = 1000;

/// A pod as Kubernetes' "restricted" Pod Security Standard shapes it, plus a pod
/// sysctl: run as 1000:1000, no_new_privs, every capability dropped, a read-only
/// rootfs, RuntimeDefault seccomp, kernel.shm_rmid_forced=1 on the sandbox (an IPC
/// sysctl, so the container sees it through the pod's IPC namespace). Each checked
/// from inside by ExecSync.
pub fn restricted_pod(
    cri: &mut Cri,
    node: &Node,
    handler: &Handler,
    made: &mut Made,
) -> Result<()> {
    pull(cri, &node.busybox)?;
    let mut config = pod_config(node, handler, "restricted");
    if let Some(l) = config.linux.as_mut() {
        l.sysctls
            .insert("kernel.shm_rmid_forced".into(), "1".into());
        if let Some(sc) = l.security_context.as_mut() {
            sc.run_as_user = Some(cri::Int64Value {
                value: RESTRICTED_ID,
            });
            sc.run_as_group = Some(cri::Int64Value {
                value: RESTRICTED_ID,
            });
        }
    }
    let pod = run_pod(cri, &config, handler, made)?;
    let id = start_container(cri, node, &pod, &config, "main", made, |c| {
        if let Some(sc) = c.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
            sc.run_as_user = Some(cri::Int64Value {
                value: RESTRICTED_ID,
            });
            sc.run_as_group = Some(cri::Int64Value {
                value: RESTRICTED_ID,
            });
            sc.no_new_privs = true;
            sc.readonly_rootfs = true;
            sc.capabilities = Some(cri::Capability {
                drop_capabilities: vec!["ALL".into()],
                ..Default::default()
            });
        }
    })?;
    let probe = "id -u; id -g; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; \
                 cat /proc/sys/kernel/shm_rmid_forced; touch /rootfs-write 2>/dev/null && echo writable || echo read-only";
    let (code, out, err) = exec_sync(cri, &id, &["sh", "-c", probe])?;
    ensure!(code == 0, "restricted probe: exit {code}: {err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let lines: Vec<&str> = out.lines().collect();
    let want_id = RESTRICTED_ID.to_string();
    ensure!(
        lines.first() == Some(&want_id.as_str()) && lines.get(1) == Some(&want_id.as_str()),
        "restricted container runs as {:?}:{:?} (want {want_id}:{want_id}); it printed {out:?}",
        lines.first(),
        lines.get(1)
    );
    ensure!(
        field("CapEff") == "0000000000000000" && field("CapBnd") == "0000000000000000",
        "capabilities not all dropped: CapEff {}, CapBnd {}",
        field("CapEff"),
        field("CapBnd")
    );
    ensure!(
        field("NoNewPrivs") == "1",
        "NoNewPrivs is {}",
        field("NoNewPrivs")
    );
    ensure!(
        field("Seccomp") == "2",
        "Seccomp mode is {} (want 2, a filter)",
        field("Seccomp")
    );
    ensure!(
        lines.iter().rev().nth(1) == Some(&"1"),
        "kernel.shm_rmid_forced seen from the container is not 1: {out:?}"
    );
    ensure!(
        lines.last() == Some(&"read-only"),
        "the rootfs is writable in a readonly_rootfs container: {out:?}"
    );
    stop_container(cri, &id)?;
    remove_container(cri, &id)?;
    remove_pod(cri, &pod)?;
    Ok(())
}
