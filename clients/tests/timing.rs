//! Wall time of `ctr run --rm`, `podman run --rm` and `docker run --rm` of a busybox
//! `true`, sangja and runc side by side in one run (alternating, first round discarded as warm-up).
//! Printed, never asserted: this shared machine is noisy; compare the ratio.
//! Opt-in with `SANGJA_CLIENTS_TIMES=<rounds>`, as it adds little to correctness.

use crate::{lab, Flow, SharedLab};
use anyhow::{Context, Result};
use libtest_mimic::Failed;
use sangja_clients::cmd::run;
use sangja_clients::docker;
use sangja_clients::image::IMAGE;
use sangja_clients::podman::RUN_FLAGS;
use sangja_clients::runtimes::Runtime;
use std::process::Command;
use std::time::{Duration, Instant};

pub const ENV: &str = "SANGJA_CLIENTS_TIMES";

pub fn flow(shared: &SharedLab, runtimes: &[Runtime]) -> Flow {
    let rounds = std::env::var(ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let (shared, rts) = (shared.clone(), runtimes.to_vec());
    Flow {
        client: "timing",
        name: "run_rm_wall_times",
        skip: match rounds {
            Some(n) if n > 0 => None,
            _ => Some(format!(
                "opt-in measurement: set {ENV}=<rounds> to print wall times"
            )),
        },
        run: Box::new(move || measure(&shared, &rts, rounds.unwrap_or(0))),
    }
}

fn timed(mut cmd: Command) -> Result<Duration> {
    let start = Instant::now();
    run(&mut cmd)?.ok()?;
    Ok(start.elapsed())
}

fn measure(shared: &SharedLab, runtimes: &[Runtime], rounds: usize) -> Result<(), Failed> {
    let lab = lab(shared, runtimes)?;
    // Timed side by side: the runtimes behind the stock runc shim and podman.
    let runtimes: Vec<Runtime> = runtimes
        .iter()
        .filter(|r| r.shim.is_none())
        .cloned()
        .collect();
    let runtimes = runtimes.as_slice();
    let c = lab.containerd.as_ref().map_err(|e| e.clone())?;
    let p = lab.podman.as_ref().map_err(|e| e.clone())?;
    let d = lab.docker.as_ref().map_err(|e| e.clone())?;
    let (c, p, d) = (
        c.lock().unwrap_or_else(|e| e.into_inner()),
        p.lock().unwrap_or_else(|e| e.into_inner()),
        d.lock().unwrap_or_else(|e| e.into_inner()),
    );
    // samples[client][runtime]
    let mut samples = vec![vec![Vec::new(); runtimes.len()]; 3];
    let mut ids = Vec::new();
    for round in 0..=rounds {
        let mut order: Vec<usize> = (0..runtimes.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for &i in &order {
            let rt = &runtimes[i];
            let id = format!("time-{}-{round}", rt.name);
            let mut ctr = c.ctr_cmd(&["run", "--rm", "--runc-binary"]);
            ctr.arg(&rt.path).arg(IMAGE).arg(&id).arg("true");
            let t_ctr = timed(ctr).context("ctr run --rm")?;
            let mut pm = p.with(rt, &["run", "--rm", "--name", &id]);
            pm.args(RUN_FLAGS).arg(IMAGE).arg("true");
            let t_pm = timed(pm).context("podman run --rm")?;
            // dockerd knows the runtime by name, through its traced wrapper (a shell
            // script in front of either runtime, the same for both).
            let name = docker::runtime_name(&rt.name);
            let dk = d.cmd(&[
                "run",
                "--rm",
                "--runtime",
                &name,
                "--network",
                "none",
                "--pull",
                "never",
                "--name",
                &id,
                IMAGE,
                "true",
            ]);
            let t_dk = timed(dk).context("docker run --rm")?;
            ids.push(id);
            if round > 0 {
                samples[0][i].push(t_ctr);
                samples[1][i].push(t_pm);
                samples[2][i].push(t_dk);
            }
        }
    }
    // Every timed run went through the stock runc shim.
    let root = Runtime::runc().shim_root(&c.namespace);
    for id in &ids {
        c.leftovers_of(id, &root)?;
    }
    d.leftovers(&[])?;
    println!("\nwall time, {rounds} rounds after one warm-up (median / min / max, ms):");
    for (ci, client) in ["ctr run --rm", "podman run --rm", "docker run --rm"]
        .iter()
        .enumerate()
    {
        for (ri, rt) in runtimes.iter().enumerate() {
            let mut v: Vec<f64> = samples[ci][ri]
                .iter()
                .map(|d| d.as_secs_f64() * 1000.0)
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            println!(
                "  {client:<16} {:<7} {:>7.1} / {:>7.1} / {:>7.1}",
                rt.name,
                v[v.len() / 2],
                v[0],
                v[v.len() - 1]
            );
        }
    }
    Ok(())
}
