//! `images` and `history` output: docker's tables and one-JSON-object-per-line form.

use crate::humanize;
use crate::image::Image;
use crate::inspect::HistoryRow;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRow {
    pub repository: String,
    pub tag: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub digest: String,
    pub created_at: String,
    pub created_since: String,
    pub size: String,
    #[serde(skip)]
    pub size_bytes: u64,
}

/// One row per name, `<none>` rows for unnamed images; newest first like docker.
pub fn image_rows(images: &[Image]) -> Vec<ImageRow> {
    let mut rows = Vec::new();
    let mut sorted: Vec<&Image> = images.iter().collect();
    let created = |i: &Image| {
        i.config_raw
            .get("created")
            .and_then(|c| c.as_str())
            .unwrap_or("")
            .to_string()
    };
    sorted
        .sort_by_key(|i| std::cmp::Reverse(chrono::DateTime::parse_from_rfc3339(&created(i)).ok()));
    for image in sorted {
        let c = created(image);
        let base = ImageRow {
            repository: "<none>".into(),
            tag: "<none>".into(),
            id: image.config_digest.to_string(),
            digest: image.manifest_digest.to_string(),
            created_since: humanize::since(&c),
            created_at: c,
            size: humanize::size(image.size()),
            size_bytes: image.size(),
        };
        let tagged: Vec<_> = image.names.iter().filter(|n| n.tag().is_some()).collect();
        if tagged.is_empty() {
            rows.push(base.clone());
        }
        for n in tagged {
            rows.push(ImageRow {
                repository: n.familiar_repository(),
                tag: n.tag().unwrap_or("<none>").to_string(),
                ..base.clone()
            });
        }
    }
    rows
}

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}

/// Columns padded to their widest cell plus three spaces, as docker's tabwriter does.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let last = cells.len() - 1;
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push('\n');
    };
    line(header.iter().map(|s| s.to_string()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

pub fn images_table(rows: &[ImageRow], no_trunc: bool, digests: bool) -> String {
    let mut header = vec!["REPOSITORY", "TAG"];
    if digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    table(
        &header,
        &rows
            .iter()
            .map(|r| {
                let mut cells = vec![r.repository.clone(), r.tag.clone()];
                if digests {
                    cells.push(r.digest.clone());
                }
                cells.extend([
                    short_id(&r.id, no_trunc),
                    r.created_since.clone(),
                    r.size.clone(),
                ]);
                cells
            })
            .collect::<Vec<_>>(),
    )
}

pub fn history_table(rows: &[HistoryRow], no_trunc: bool) -> String {
    table(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &rows
            .iter()
            .map(|r| {
                let by = if no_trunc || r.created_by.chars().count() <= 45 {
                    r.created_by.clone()
                } else {
                    format!("{}…", r.created_by.chars().take(44).collect::<String>())
                };
                vec![
                    if r.id.starts_with("sha256:") {
                        short_id(&r.id, no_trunc)
                    } else {
                        r.id.clone()
                    },
                    humanize::since(&r.created),
                    by,
                    humanize::size(r.size),
                    r.comment.clone(),
                ]
            })
            .collect::<Vec<_>>(),
    )
}
