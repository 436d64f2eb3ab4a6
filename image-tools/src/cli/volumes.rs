//! The `volume` group's edges: create, ls, inspect, rm, prune.

use super::output::{self, Format};
use anyhow::{bail, Context, Result};
use sangja_image::container::record::Containers;
use sangja_image::store::Store;
use sangja_image::template::Template;
use sangja_image::volume::{self, VolumeError, Volumes};
use std::io::Write;

#[derive(clap::Subcommand)]
pub enum VolumeCommand {
    /// Make a volume (a random name without NAME); an existing name is kept as it is.
    Create {
        /// KEY=VALUE.
        #[arg(long)]
        label: Vec<String>,
        name: Option<String>,
    },
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        /// KEY=VALUE: dangling, name, label.
        #[arg(short, long)]
        filter: Vec<String>,
        /// table, json, a Go template ('{{.Name}}') or 'table TEMPLATE'.
        #[arg(long)]
        format: Option<String>,
    },
    /// Show volumes as docker does.
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes no container uses.
    #[command(visible_alias = "remove")]
    Rm {
        /// Accepted as docker's; a volume in use is still refused.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove the volumes no container uses (anonymous ones only, without -a).
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
}

fn parse_labels(raw: &[String]) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            if k.is_empty() {
                bail!("--label {l:?}: want KEY=VALUE");
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Runs the command; returns the exit status (1 when a name failed).
pub fn volume(store: &Store, cmd: VolumeCommand) -> Result<i32> {
    let vols = Volumes::new(store.root());
    let containers = Containers::new(store.root());
    let mut out = std::io::stdout().lock();
    match cmd {
        VolumeCommand::Create { label, name } => {
            let labels = parse_labels(&label)?;
            let name = name.unwrap_or_else(volume::anonymous_name);
            let _lock = containers.lock()?;
            vols.ensure(&name, &labels, false)
                .with_context(|| format!("creating volume {name}"))?;
            writeln!(out, "{name}")?;
        }
        VolumeCommand::Ls {
            quiet,
            filter,
            format,
        } => {
            let filters = output::filters(&filter, &["dangling", "name", "label"])?;
            let records = containers.list()?;
            let mut rows = Vec::new();
            for m in vols.list()? {
                let used = records.iter().any(|r| r.volumes.contains(&m.name));
                let labels = serde_json::to_value(&m.labels)?;
                let keep = output::all_hold(&filters, |k, v| match k {
                    "dangling" => used != (v == "true" || v == "1"),
                    "name" => m.name.contains(v),
                    "label" => output::label_matches(&labels, v),
                    _ => false,
                });
                if keep {
                    rows.push(m);
                }
            }
            if quiet {
                for m in &rows {
                    writeln!(out, "{}", m.name)?;
                }
                return Ok(0);
            }
            let values: Vec<serde_json::Value> = rows
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "Driver": "local",
                        "Name": m.name,
                        "Labels": m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                        "Mountpoint": vols.data(&m.name),
                        "Scope": "local",
                    })
                })
                .collect();
            let headers = serde_json::json!({
                "Driver": "DRIVER", "Name": "VOLUME NAME", "Labels": "LABELS",
                "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE",
            });
            let format = Format::parse(format.as_deref())?;
            if !format.write(&mut out, &values, &headers)? {
                let cells: Vec<Vec<String>> = rows
                    .iter()
                    .map(|m| vec!["local".to_string(), m.name.clone()])
                    .collect();
                write!(
                    out,
                    "{}",
                    sangja_image::listing::table(&["DRIVER", "VOLUME NAME"], &cells)
                )?;
            }
        }
        VolumeCommand::Inspect { format, names } => {
            let template = match format.as_deref() {
                None | Some("json") => None,
                Some(f) => Some(Template::parse(f)?),
            };
            let mut docs = Vec::new();
            let mut failed = false;
            for n in &names {
                match vols.inspect(n) {
                    Ok(d) => docs.push(d),
                    Err(e) => {
                        super::containers::report(&e.into());
                        failed = true;
                    }
                }
            }
            match template {
                Some(t) => {
                    for d in &docs {
                        writeln!(out, "{}", t.render(d)?)?;
                    }
                }
                None => writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?,
            }
            return Ok(i32::from(failed));
        }
        VolumeCommand::Rm { force: _, names } => {
            let mut failed = false;
            for n in &names {
                match vols.remove(n, &containers) {
                    Ok(()) => writeln!(out, "{n}")?,
                    Err(e @ (VolumeError::InUse { .. } | VolumeError::NotFound(_))) => {
                        super::containers::report(&e.into());
                        failed = true;
                    }
                    Err(e) => {
                        super::containers::report(
                            &anyhow::Error::from(e).context(format!("removing volume {n}")),
                        );
                        failed = true;
                    }
                }
            }
            return Ok(i32::from(failed));
        }
        VolumeCommand::Prune { all, force } => {
            if !force {
                eprint!("WARNING! This will remove {} volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ", if all { "all" } else { "anonymous local" });
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y") {
                    return Ok(0);
                }
            }
            let (removed, bytes) = vols.prune(&containers, all)?;
            writeln!(out, "Deleted Volumes:")?;
            for n in &removed {
                writeln!(out, "{n}")?;
            }
            writeln!(
                out,
                "\nTotal reclaimed space: {}",
                sangja_image::humanize::size(bytes)
            )?;
        }
    }
    Ok(0)
}
