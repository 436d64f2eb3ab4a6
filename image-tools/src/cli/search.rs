//! `search [REGISTRY/]TERM`: docker's columns over a registry's catalog.

use super::output::Format;
use super::NetArgs;
use anyhow::{bail, Context, Result};
use sangja_image::reference::{is_registry_host, DEFAULT_DOMAIN};
use sangja_image::registry::search::{self, Found};

#[derive(clap::Args)]
pub struct SearchArgs {
    /// At most this many results (1 to 100).
    #[arg(long, default_value_t = search::DEFAULT_LIMIT)]
    limit: usize,
    /// stars=N, is-official=true|false, is-automated=true|false.
    #[arg(short, long)]
    filter: Vec<String>,
    /// table, json, a Go template ('{{.Name}}') or 'table TEMPLATE'.
    #[arg(long)]
    format: Option<String>,
    /// Descriptions in full.
    #[arg(long)]
    no_trunc: bool,
    #[command(flatten)]
    net: NetArgs,
    /// [REGISTRY/]TERM: the registry searched (docker.io when it has none) and what the
    /// repository names must contain.
    term: String,
}

/// docker's default columns (20.10).
const TABLE: &str =
    "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}";

/// The registry named by the term's first component, if it names one, and the term.
fn split_term(t: &str) -> (&str, &str) {
    match t.split_once('/') {
        Some((first, rest)) if is_registry_host(first) => (first, rest),
        _ => (DEFAULT_DOMAIN, t),
    }
}

fn keep(f: &Found, filters: &[(String, String)]) -> Result<bool> {
    for (k, v) in filters {
        let bool_of = |v: &str| -> Result<bool> {
            v.parse::<bool>()
                .with_context(|| format!("--filter {k}={v}: want true or false"))
        };
        let ok = match k.as_str() {
            "stars" => {
                let n: u64 = v
                    .parse()
                    .with_context(|| format!("--filter stars={v}: want a number"))?;
                f.star_count >= n
            }
            "is-official" => f.is_official == bool_of(v)?,
            "is-automated" => f.is_automated == bool_of(v)?,
            _ => unreachable!("checked by filters()"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn search(a: &SearchArgs) -> Result<()> {
    if let Err(e) = search::check_limit(a.limit) {
        bail!("--limit: {e}");
    }
    let filters = super::output::filters(&a.filter, &["stars", "is-official", "is-automated"])?;
    let format = Format::parse(Some(a.format.as_deref().unwrap_or(TABLE)))?;
    let (registry, term) = split_term(&a.term);
    if term.is_empty() {
        bail!("search {:?}: the search term is empty", a.term);
    }
    let what = || format!("searching {registry} for {term:?}");
    let client = super::remote::connect(registry, &a.net).with_context(what)?;
    let found = search::search(&client, term, a.limit).with_context(what)?;
    let mut rows = Vec::new();
    for f in &found {
        if !keep(f, &filters)? {
            continue;
        }
        let mut v = serde_json::to_value(f)?;
        // The table shows docker's [OK] marks; JSON keeps the booleans.
        if a.format.is_none() {
            v["IsOfficial"] = serde_json::json!(if f.is_official { "[OK]" } else { "" });
            v["IsAutomated"] = serde_json::json!(if f.is_automated { "[OK]" } else { "" });
        }
        if !a.no_trunc {
            if let Some(d) = v["Description"].as_str().filter(|d| d.chars().count() > 45) {
                let cut: String = d.chars().take(44).collect();
                v["Description"] = serde_json::json!(format!("{cut}…"));
            }
        }
        rows.push(v);
    }
    let headers = serde_json::json!({
        "Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
        "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED",
    });
    format.write(&mut std::io::stdout().lock(), &rows, &headers)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms() {
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000", "busy")
        );
        assert_eq!(split_term("localhost/a/b"), ("localhost", "a/b"));
        assert_eq!(split_term("busybox"), ("docker.io", "busybox"));
        assert_eq!(
            split_term("library/busybox"),
            ("docker.io", "library/busybox")
        );
    }
}
