//! docker's `--format` for listings (`ps`, `images`): `table` (the default columns),
//! `json` (one object per line), a Go template per row, or `table TEMPLATE` (a header
//! made from the columns' names, cells split on tabs and aligned), and `--filter`
//! parsing.

use anyhow::{bail, Result};
use sangja_image::listing;
use sangja_image::template::Template;
use serde_json::Value;
use std::io::Write;

pub enum Format {
    Table,
    Json,
    Template { template: Template, table: bool },
}

impl Format {
    pub fn parse(f: Option<&str>) -> Result<Format> {
        let Some(f) = f else {
            return Ok(Format::Table);
        };
        // docker unescapes \t and \n in templates typed on a shell.
        let f = f.replace("\\t", "\t").replace("\\n", "\n");
        Ok(match f.trim() {
            "" | "table" => Format::Table,
            "json" => Format::Json,
            _ => match f.strip_prefix("table ") {
                Some(t) => Format::Template {
                    template: Template::parse(t)?,
                    table: true,
                },
                None => Format::Template {
                    template: Template::parse(&f)?,
                    table: false,
                },
            },
        })
    }

    /// Writes `rows` for a non-default format; `headers` maps each field to its column
    /// title. Returns false for [`Format::Table`] (the caller prints its own table).
    pub fn write(&self, out: &mut impl Write, rows: &[Value], headers: &Value) -> Result<bool> {
        match self {
            Format::Table => return Ok(false),
            Format::Json => {
                for r in rows {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                }
            }
            Format::Template {
                template,
                table: false,
            } => {
                for r in rows {
                    writeln!(out, "{}", template.render(r)?)?;
                }
            }
            Format::Template {
                template,
                table: true,
            } => {
                let header = template.render(headers)?;
                let header: Vec<&str> = header.split('\t').collect();
                let mut cells = Vec::new();
                for r in rows {
                    let line = template.render(r)?;
                    let mut row: Vec<String> = line.split('\t').map(str::to_string).collect();
                    row.resize(header.len(), String::new());
                    cells.push(row);
                }
                write!(out, "{}", listing::table(&header, &cells))?;
            }
        }
        Ok(true)
    }
}

/// `--filter KEY=VALUE` flags, each checked against `known` keys.
pub fn filters(raw: &[String], known: &[&str]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for f in raw {
        let Some((k, v)) = f.split_once('=') else {
            bail!("bad format of filter (expected name=value): {f}");
        };
        let k = k.trim().to_ascii_lowercase();
        if !known.contains(&k.as_str()) {
            bail!("invalid filter '{k}'");
        }
        out.push((k, v.trim().to_string()));
    }
    Ok(out)
}

/// docker: filters of one key are alternatives, different keys must all hold.
pub fn all_hold(filters: &[(String, String)], mut one: impl FnMut(&str, &str) -> bool) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|k| {
        filters
            .iter()
            .filter(|(fk, _)| fk == k)
            .any(|(fk, v)| one(fk, v))
    })
}

/// A label filter `key` or `key=value` against a labels object.
pub fn label_matches(labels: &Value, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels[k].as_str() == Some(v),
        None => labels.get(filter).is_some(),
    }
}

/// docker's reference filter: a shell-style pattern (`*` within a path part) against
/// `repo:tag` or `repo`.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && go(p, &t[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("bb*", "bb"));
        assert!(glob("bb:*", "bb:1"));
        assert!(!glob("b*", "x/bb"));
        assert!(glob("*/bb", "x/bb"));
        assert!(glob("bb:?", "bb:1"));
    }

    #[test]
    fn filter_logic() {
        let f = filters(
            &[
                "status=exited".into(),
                "status=created".into(),
                "name=a".into(),
            ],
            &["status", "name"],
        )
        .unwrap();
        assert!(all_hold(&f, |k, v| (k == "status" && v == "created") || k == "name"));
        assert!(!all_hold(&f, |k, _| k == "status"));
        assert!(filters(&["bogus=1".into()], &["status"]).is_err());
        assert!(filters(&["status".into()], &["status"]).is_err());
    }
}
