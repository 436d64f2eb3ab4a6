//! `make bench`'s CRI section: the clients suite's pod lifecycle (sangja_clients::cri)
//! on a private CRI node, ROUNDS times per handler, the handlers taking turns within
//! each round. Prints one TSV row per (CRI call, handler) and per handler for the
//! whole lifecycle, in bench/run.sh's results format:
//! group, tool, median, min, max, unit, note (milliseconds).
//!
//! Usage: sangja-cri-bench ROUNDS (SANGJA_BIN / SANGJA_SHIM_BIN pick the binaries).

use anyhow::{Context, Result};
use sangja_clients::cri::client::Cri;
use sangja_clients::cri::lifecycle::{self, Made};
use sangja_clients::cri::node::{Node, HANDLERS};
use sangja_clients::runtimes::Runtime;
use std::collections::BTreeMap;
use std::time::Duration;

/// How each handler's rows name it (the first starts with "sangja": bench/lib/render.sh
/// computes the ratios against it).
fn tool(handler: &str) -> &'static str {
    match handler {
        "sangja" => "sangja (containerd-shim-sangja-v2)",
        "sangja-runc-shim" => "sangja-runc-shim (Go runc shim, sangja)",
        _ => "runc (Go runc shim, runc)",
    }
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// "median min max" of the samples, in ms.
fn stats(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    (median, samples[0], samples[n - 1])
}

fn main() -> Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().context("ROUNDS must be a number"))
        .transpose()?
        .unwrap_or(10);
    let dir = tempfile::Builder::new()
        .prefix("sangja-cri-bench.")
        .tempdir()?;
    let mut node = Node::start(dir.path(), &Runtime::sangja_shim())?;
    let mut cri = Cri::connect(node.socket())?;
    // (group, handler) -> samples; the group order is the lifecycle's call order.
    let mut samples: BTreeMap<(usize, &'static str, usize), Vec<f64>> = BTreeMap::new();
    let mut order: Vec<&'static str> = Vec::new();
    let result = (|| -> Result<()> {
        // One untimed warm-up per handler: image pull into the store, first shim start.
        for h in &HANDLERS {
            let mut made = Made::default();
            lifecycle::pod_lifecycle(&mut cri, &node, h, &mut made)?;
            node.leftovers(h, &made)?;
        }
        for _ in 0..rounds {
            for (k, h) in HANDLERS.iter().enumerate() {
                let mut made = Made::default();
                let l = lifecycle::pod_lifecycle(&mut cri, &node, h, &mut made)?;
                node.leftovers(h, &made)?;
                for (rpc, d) in &l.calls {
                    let pos = order.iter().position(|r| r == rpc).unwrap_or_else(|| {
                        order.push(rpc);
                        order.len() - 1
                    });
                    samples.entry((pos, rpc, k)).or_default().push(ms(d));
                }
                samples
                    .entry((usize::MAX, "whole pod lifecycle", k))
                    .or_default()
                    .push(ms(&l.total));
            }
        }
        Ok(())
    })();
    let _ = lifecycle::remove_all(&mut cri);
    drop(cri);
    node.stop()?;
    result?;
    for ((_, rpc, k), mut v) in samples {
        let n = v.len();
        let (median, min, max) = stats(&mut v);
        let (group, note) = if rpc == "whole pod lifecycle" {
            (
                "CRI whole pod lifecycle (checks included)".to_string(),
                format!("{n} lifecycles"),
            )
        } else {
            (
                format!("CRI {rpc}"),
                format!("{n} calls over {rounds} lifecycles"),
            )
        };
        println!(
            "{group}\t{}\t{median:.2}\t{min:.2}\t{max:.2}\tms\t{note}",
            tool(HANDLERS[k].name)
        );
    }
    Ok(())
}
