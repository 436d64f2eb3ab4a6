use std::io::Write;

use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Select one of: table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// Display only container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let states = crate::container::list(&g.root)?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for s in &states {
            writeln!(out, "{}", s.id)?;
        }
        return Ok(0);
    }
    match a.format.as_str() {
        // runc encodes an empty list as null.
        "json" if states.is_empty() => writeln!(out, "null")?,
        "json" => writeln!(out, "{}", serde_json::to_string(&states)?)?,
        "table" => {
            let rows: Vec<[String; 6]> = states
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            write!(out, "{}", table(&header, &rows))?;
        }
        other => anyhow::bail!("invalid format option {other:?}: use table or json"),
    }
    Ok(0)
}

/// Columns padded like Go's tabwriter with minwidth 12, padding 3.
fn table(header: &[String; 6], rows: &[[String; 6]]) -> String {
    let mut width = [0usize; 6];
    for r in std::iter::once(header).chain(rows.iter()) {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.len());
        }
    }
    let mut s = String::new();
    for r in std::iter::once(header).chain(rows.iter()) {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                s.push_str(c);
            } else {
                let w = (width[i] + 3).max(12);
                s.push_str(&format!("{c:<w$}"));
            }
        }
        s.push('\n');
    }
    s
}
