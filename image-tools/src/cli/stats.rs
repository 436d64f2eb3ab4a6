//! `stats`: docker's live resource table, a frame a second (one with `--no-stream`).

use super::output::Format;
use anyhow::Result;
use sangja_image::container::lifecycle;
use sangja_image::container::record::{Containers, Record};
use sangja_image::container::runtime::Status;
use sangja_image::container::stats::{self, Sample};
use sangja_image::store::Store;
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Every container (default: the running ones).
    #[arg(short, long)]
    all: bool,
    /// One frame, then exit.
    #[arg(long)]
    no_stream: bool,
    #[arg(long)]
    no_trunc: bool,
    /// table, json, a Go template ('{{.Name}} {{.CPUPerc}}') or 'table TEMPLATE'.
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

/// docker's default columns.
const TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// The span docker's daemon takes between the two readings of a CPU percentage.
const SPAN: Duration = Duration::from_secs(1);

fn running(c: &Containers, r: &Record) -> bool {
    matches!(lifecycle::status(c, r), Status::Running | Status::Paused)
}

pub fn stats(store: &Store, a: &StatsArgs) -> Result<i32> {
    let format = Format::parse(Some(a.format.as_deref().unwrap_or(TABLE)))?;
    let c = Containers::new(store.root());
    // Named ones are resolved once, and an unknown name fails before any output.
    let mut chosen: Vec<(Record, String)> = Vec::new();
    for q in &a.containers {
        chosen.push((c.find(q)?, q.clone()));
    }
    let named = !chosen.is_empty();
    let headers = serde_json::json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    });
    let clear = !a.no_stream && std::io::stdout().is_terminal();
    let mut before: Vec<(String, Sample)> = Vec::new();
    let read_all = |list: &[(Record, String)]| -> Vec<(String, Sample)> {
        list.iter()
            .filter(|(r, _)| running(&c, r))
            .filter_map(|(r, _)| Some((r.id.clone(), stats::sample(&c, r).ok()?)))
            .collect()
    };
    loop {
        if !named {
            chosen = c
                .list()?
                .into_iter()
                .filter(|r| a.all || running(&c, r))
                .map(|r| {
                    let shown = r.id[..12].to_string();
                    (r, shown)
                })
                .collect();
        }
        if before.is_empty() {
            before = read_all(&chosen);
            std::thread::sleep(SPAN);
        }
        let now = read_all(&chosen);
        let rows: Vec<serde_json::Value> = chosen
            .iter()
            .map(|(r, shown)| {
                let find = |v: &[(String, Sample)]| {
                    v.iter().find(|(id, _)| *id == r.id).map(|(_, s)| s.clone())
                };
                let readings = match (find(&before), find(&now)) {
                    (Some(b), Some(n)) => Some((b, n)),
                    (None, Some(n)) => Some((n.clone(), n)),
                    _ => None,
                };
                let mut row = stats::row(r, shown, readings.as_ref().map(|(b, n)| (b, n)));
                if !a.no_trunc {
                    row["ID"] = serde_json::json!(&r.id[..12]);
                }
                row
            })
            .collect();
        let mut out = std::io::stdout().lock();
        if clear {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        format.write(&mut out, &rows, &headers)?;
        out.flush()?;
        if a.no_stream {
            return Ok(0);
        }
        before = now;
        std::thread::sleep(SPAN);
    }
}
