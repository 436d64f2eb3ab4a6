//! Kubernetes' way in (`cri::<handler>::…`): containerd 1.6's CRI plugin, configured
//! from docs/containerd-cri.toml on a private node, runs pods with each RuntimeClass
//! handler there: `sangja` (sangja's shim), `sangja-runc-shim` (the stock runc shim
//! with BinaryName sangja) and `runc`. A small CRI v1 client (sangja_clients::cri)
//! drives each pod lifecycle. Flows run one at a time: after each, the daemon must
//! know no pod or container and the host must hold nothing of them.

use crate::Flow;
use libtest_mimic::Failed;
use sangja_clients::cri::client::Cri;
use sangja_clients::cri::lifecycle::{self, Made};
use sangja_clients::cri::node::{Handler, Node, HANDLERS};
use sangja_clients::runtimes::Runtime;
use std::sync::{Arc, Mutex, OnceLock};

/// The node and its client, built by the first flow; `Err` says why it could not be.
pub type SharedNode = Arc<OnceLock<Result<Mutex<(Node, Cri)>, String>>>;

type FlowFn = fn(&mut Cri, &Node, &Handler, &mut Made) -> anyhow::Result<String>;

fn pod_lifecycle(
    cri: &mut Cri,
    node: &Node,
    h: &Handler,
    made: &mut Made,
) -> anyhow::Result<String> {
    let l = lifecycle::pod_lifecycle(cri, node, h, made)?;
    Ok(format!(
        "{} CRI calls in {:?}; exec: {}",
        l.calls.len(),
        l.total,
        l.exec_stream
    ))
}

fn shared_pod(cri: &mut Cri, node: &Node, h: &Handler, made: &mut Made) -> anyhow::Result<String> {
    let shim = lifecycle::shared_pod(cri, node, h, made)?;
    Ok(format!("two containers under shim {shim}"))
}

fn restricted_pod(
    cri: &mut Cri,
    node: &Node,
    h: &Handler,
    made: &mut Made,
) -> anyhow::Result<String> {
    lifecycle::restricted_pod(cri, node, h, made)?;
    Ok(
        "restricted pod: uid/gid, caps, no_new_privs, seccomp, read-only rootfs, sysctl seen"
            .into(),
    )
}

/// Why no CRI flow can run here, if so.
fn missing() -> Vec<String> {
    let mut why: Vec<String> = ["containerd", "docker-registry"]
        .iter()
        .filter(|t| !crate::have(t))
        .map(|t| format!("{t} not installed"))
        .collect();
    why.extend(Runtime::sangja_shim().missing());
    why.extend(Runtime::runc().missing());
    why
}

pub fn flows(shared: &SharedNode) -> Vec<Flow> {
    let missing = missing();
    let table: [(&str, FlowFn); 3] = [
        ("pod_lifecycle", pod_lifecycle),
        ("shared_pod", shared_pod),
        ("restricted_pod", restricted_pod),
    ];
    let mut flows = Vec::new();
    for h in HANDLERS {
        for (name, f) in table {
            let shared = shared.clone();
            flows.push(Flow {
                client: "cri",
                // Trial names are `cri::<handler>::<flow>`; built once per run.
                name: Box::leak(format!("{}::{name}", h.name).into_boxed_str()),
                skip: (!missing.is_empty()).then(|| missing.join(", ")),
                run: Box::new(move || run_flow(&shared, &h, f)),
            });
        }
    }
    flows
}

/// The node's temp dir: per run, removed at teardown.
fn node_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sangja-cri.{}", std::process::id()))
}

fn node(shared: &SharedNode) -> Result<&Mutex<(Node, Cri)>, Failed> {
    shared
        .get_or_init(|| {
            let dir = node_dir();
            let started = Node::start(&dir, &Runtime::sangja_shim())
                .and_then(|n| Ok((Cri::connect(n.socket())?, n)));
            match started {
                Ok((c, n)) => Ok(Mutex::new((n, c))),
                Err(e) => {
                    // Whatever started was stopped when dropped; its files go too.
                    let _ = std::fs::remove_dir_all(&dir);
                    Err(format!("{e:#}"))
                }
            }
        })
        .as_ref()
        .map_err(|e| format!("the CRI node could not be set up: {e}").into())
}

fn run_flow(shared: &SharedNode, h: &Handler, f: FlowFn) -> Result<(), Failed> {
    let mut guard = node(shared)?.lock().unwrap_or_else(|e| e.into_inner());
    let (node, cri) = &mut *guard;
    let mut made = Made::default();
    let res = f(cri, node, h, &mut made);
    // Pass or fail, nothing may stay: a failed flow's pods are removed first.
    let cleanup = if res.is_err() {
        lifecycle::remove_all(cri).err()
    } else {
        None
    };
    let records = lifecycle::records(cri);
    let left = node.leftovers(h, &made);
    let mut problems = Vec::new();
    if let Err(e) = &res {
        problems.push(format!("{e:#}"));
    }
    if let Some(e) = cleanup {
        problems.push(format!("forced cleanup: {e:#}"));
    }
    match records {
        Ok((p, c)) if p.is_empty() && c.is_empty() => {}
        Ok((p, c)) => problems.push(format!("CRI records left: pods {p:?}, containers {c:?}")),
        Err(e) => problems.push(format!("listing CRI records: {e:#}")),
    }
    if let Err(e) = left {
        problems.push(format!("{e:#}"));
    }
    if problems.is_empty() {
        if let Ok(what) = res {
            eprintln!("cri::{}: {what}", h.name);
        }
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// Stops the node's daemon and registry, pass or fail; what could not be cleaned.
pub fn teardown(shared: SharedNode) -> Vec<String> {
    let Some(Ok(m)) = Arc::try_unwrap(shared).ok().and_then(|l| l.into_inner()) else {
        return Vec::new();
    };
    let (mut node, cri) = m.into_inner().unwrap_or_else(|e| e.into_inner());
    drop(cri);
    let dir = node_dir();
    let mut problems = Vec::new();
    if let Err(e) = node.stop() {
        problems.push(format!("CRI containerd: {e:#}"));
    }
    drop(node);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        problems.push(format!("remove {}: {e}", dir.display()));
    }
    problems
}
