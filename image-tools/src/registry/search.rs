//! `search`: a registry's repositories whose names hold a term, from the catalog API
//! (`/v2/_catalog`) with each match's tags list, in docker's result shape. A
//! distribution registry keeps no descriptions or stars: those are empty and 0.

use super::{Client, RegistryError};
use serde::Serialize;

/// docker's limit range.
pub const MAX_LIMIT: usize = 100;
pub const DEFAULT_LIMIT: usize = 25;

/// One result, with docker's `--format` field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Found {
    pub name: String,
    pub description: String,
    pub star_count: u64,
    pub is_official: bool,
    pub is_automated: bool,
}

/// Repositories of `client`'s registry whose names contain `term` (case-insensitively),
/// at most `limit`, leaving out repositories with no tag left (nothing to pull).
pub fn search(client: &Client, term: &str, limit: usize) -> Result<Vec<Found>, RegistryError> {
    let registry = client.registry().to_string();
    let repos = client.catalog().map_err(|e| match e.status() {
        Some(404) => RegistryError::Other(format!(
            "{registry}: the registry does not support searching: it has no catalog API (GET /v2/_catalog answered 404)"
        )),
        Some(s @ (401 | 403)) => RegistryError::Other(format!(
            "{registry}: searching needs access to the catalog API, refused with HTTP {s} (log in with an account that may list repositories)"
        )),
        _ => e,
    })?;
    let term = term.to_lowercase();
    let mut out = Vec::new();
    for repo in repos.iter().filter(|r| r.to_lowercase().contains(&term)) {
        if out.len() == limit {
            break;
        }
        let scopes = [super::client::scope(repo, "pull")];
        match client.tags(repo, &scopes) {
            Ok(t) if t.is_empty() => continue,
            Ok(_) => {}
            // Listed but not readable by us: not a result.
            Err(e) if matches!(e.status(), Some(401 | 403 | 404)) => continue,
            Err(e) => return Err(e),
        }
        out.push(Found {
            name: format!("{registry}/{repo}"),
            description: String::new(),
            star_count: 0,
            is_official: false,
            is_automated: false,
        });
    }
    Ok(out)
}

/// docker's `--limit` check.
pub fn check_limit(limit: usize) -> Result<(), String> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(format!(
            "limit {limit} is outside the range of [1, {MAX_LIMIT}]"
        ))
    }
}
