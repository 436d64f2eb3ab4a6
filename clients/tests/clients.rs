//! Real clients drive the runtime: every flow runs once with sangja and once with
//! runc from apt (the reference), through a private containerd 1.6 (stock runc
//! shim, `--runc-binary`), a private podman 4.3 store (`--runtime`) and a private
//! dockerd 20.10 on that containerd (`docker run --runtime`, daemon.json).
//!
//! Flows of one client run one at a time (a per-client lock), so the leftover check
//! after each flow sees only what that flow made.

mod cri_flows;
mod ctr_flows;
mod docker_flows;
mod podman_flows;
mod timing;

use libtest_mimic::{Arguments, Failed, Trial};
use sangja_clients::cmd::Outcome;
use sangja_clients::lab::Lab;
use sangja_clients::runtimes::Runtime;
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// The lab, built by the first flow that runs; `Err` carries why it could not be.
pub type SharedLab = Arc<OnceLock<Result<Lab, String>>>;

pub fn lab<'a>(shared: &'a SharedLab, runtimes: &[Runtime]) -> Result<&'a Lab, Failed> {
    shared
        .get_or_init(|| Lab::new(runtimes).map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| format!("test lab could not be set up: {e}").into())
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why nothing can run on this machine at all, if so.
fn lab_blockers() -> Vec<String> {
    let mut why: Vec<String> = ["umoci", "skopeo"]
        .iter()
        .filter(|t| !have(t))
        .map(|t| format!("{t} not installed"))
        .collect();
    if !nix::unistd::geteuid().is_root() {
        why.push("needs root (daemons, mounts, cgroups)".into());
    }
    if !std::path::Path::new("/bin/busybox").is_file() {
        why.push("/bin/busybox (busybox-static) not installed".into());
    }
    why
}

/// One flow: a trial named `<client>::<runtime>::<flow>`, ignored (with the reason
/// printed) when it cannot run here.
pub struct Flow {
    pub client: &'static str,
    pub name: &'static str,
    /// Why this flow cannot work on this machine, decided before running.
    pub skip: Option<String>,
    pub run: Box<dyn FnOnce() -> Result<(), Failed> + Send>,
}

/// What the exec flows run in a container whose init is a trapping shell, after
/// `exec -e X=y <container>`.
pub const EXEC_PROBE: [&str; 3] = [
    "sh",
    "-c",
    "echo exec-$((6*7))-$X; tr '\\0' ' ' < /proc/1/cmdline; echo; exit 4",
];

/// The probe's exit code came back, `-e` reached it, and pid 1 it saw is the
/// container's init (its command line holds `trap`).
pub fn check_exec_probe(out: Outcome) -> anyhow::Result<()> {
    let out = out.code_is(4)?;
    anyhow::ensure!(
        out.stdout.contains("exec-42-y"),
        "{}",
        out.describe("lacks exec-42-y")
    );
    anyhow::ensure!(
        out.stdout.contains("trap"),
        "{}",
        out.describe("pid 1 seen from the exec is not the container's shell")
    );
    Ok(())
}

/// How a client's module runs one of its flows for one runtime.
pub type RunFlow<F> = fn(&SharedLab, &[Runtime], &Runtime, &str, F) -> Result<(), Failed>;

/// The trials of one client for one runtime: each row of `table` is (name, flow, why it
/// cannot run here); while the client's tools are `missing`, every flow is skipped
/// saying so.
pub fn client_flows<F: Send + 'static>(
    client: &'static str,
    shared: &SharedLab,
    runtimes: &[Runtime],
    rt: &Runtime,
    missing: &[String],
    table: Vec<(&'static str, F, Option<String>)>,
    run: RunFlow<F>,
) -> Vec<Flow> {
    table
        .into_iter()
        .map(|(name, f, skip)| {
            let (shared, rts, rt) = (shared.clone(), runtimes.to_vec(), rt.clone());
            Flow {
                client,
                name,
                skip: if missing.is_empty() {
                    skip
                } else {
                    Some(missing.join(", "))
                },
                run: Box::new(move || run(&shared, &rts, &rt, name, f)),
            }
        })
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    // sangja and runc behind containerd's stock runc shim and podman; sangja a
    // third time behind its own shim (containerd flows only).
    let runtimes = vec![Runtime::sangja(), Runtime::runc(), Runtime::sangja_shim()];
    let shared: SharedLab = Arc::new(OnceLock::new());
    let blockers = lab_blockers();

    let mut flows = Vec::new();
    for rt in &runtimes {
        let mut of_rt = ctr_flows::flows(&shared, &runtimes, rt);
        // Runtimes under their own containerd shim have no podman or dockerd side.
        if rt.shim.is_none() {
            of_rt.extend(podman_flows::flows(&shared, &runtimes, rt));
            of_rt.extend(docker_flows::flows(&shared, &runtimes, rt));
        }
        flows.extend(of_rt.into_iter().map(|f| (Some(rt), f)));
    }
    flows.push((None, timing::flow(&shared, &runtimes)));
    let cri_node: cri_flows::SharedNode = Arc::new(OnceLock::new());
    flows.extend(cri_flows::flows(&cri_node).into_iter().map(|f| (None, f)));

    let mut trials = Vec::new();
    for (rt, flow) in flows {
        let mut why: Vec<String> = blockers.clone();
        let name = match rt {
            Some(rt) => {
                why.extend(rt.missing());
                format!("{}::{}::{}", flow.client, rt.name, flow.name)
            }
            None => {
                why.extend(runtimes.iter().filter_map(|r| r.missing()));
                format!("{}::{}", flow.client, flow.name)
            }
        };
        why.extend(flow.skip);
        let trial = Trial::test(&name, flow.run);
        if why.is_empty() {
            trials.push(trial);
        } else {
            // Listing (`--list`) must stay quiet; real runs say why.
            if !args.list {
                eprintln!("SKIPPED {name}: {}", why.join("; "));
            }
            trials.push(trial.with_ignored_flag(true));
        }
    }

    let conclusion = libtest_mimic::run(&args, trials);

    // Pass or fail, stop what we started (the trials hold no more references).
    let mut teardown_failed = false;
    if let Some(Ok(lab)) = Arc::try_unwrap(shared).ok().and_then(|l| l.into_inner()) {
        for problem in lab.teardown() {
            eprintln!("teardown: {problem}");
            teardown_failed = true;
        }
    }
    for problem in cri_flows::teardown(cri_node) {
        eprintln!("teardown: {problem}");
        teardown_failed = true;
    }
    if teardown_failed {
        std::process::exit(101);
    }
    conclusion.exit()
}
