//! Runs the cases against each runtime and prints the table.

use std::io::Write;
use std::path::PathBuf;

use crate::case::{Case, CaseError, Outcome};
use crate::harness::Ctx;
use crate::rootfs::RootfsTemplate;
use crate::runtime::Runtime;

/// One row: the case and each runtime's outcome, in runtime order.
pub struct Row {
    pub case: &'static Case,
    pub outcomes: Vec<Outcome>,
}

/// Runs one case on one runtime, cleanup included.
pub fn run_case(
    case: &'static Case,
    runtime: &Runtime,
    template: &RootfsTemplate,
    base: &std::path::Path,
) -> Outcome {
    for need in case.needs {
        if let Err(reason) = need.check() {
            return Outcome::Skip(reason);
        }
    }
    let result = Ctx::new(runtime, template, base, case.id).and_then(|mut ctx| {
        (case.run)(&mut ctx)?;
        ctx.assert_clean()
    });
    match result {
        Ok(()) => Outcome::Pass,
        Err(CaseError::Skip(r)) => Outcome::Skip(r),
        Err(CaseError::Fail(m)) => Outcome::Fail(m),
        Err(e) => Outcome::Fail(format!("harness: {e}")),
    }
}

/// A scratch base directory for one suite run, removed by `Drop`.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> std::io::Result<Scratch> {
        let p = std::env::temp_dir().join(format!("sangja-conformance-{}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cell(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail(_) => "FAIL",
        Outcome::Skip(_) => "skip",
    }
}

fn one_line(s: &str, max: usize) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > max {
        format!("{}...", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

/// The text of a row's reason column: each runtime's failure or skip reason,
/// then the case's note about runc.
pub fn reason(row: &Row, runtimes: &[Runtime]) -> String {
    let mut parts = Vec::new();
    let all_skipped_same = row.outcomes.windows(2).all(|w| w[0] == w[1])
        && matches!(row.outcomes.first(), Some(Outcome::Skip(_)));
    if all_skipped_same {
        if let Some(Outcome::Skip(r)) = row.outcomes.first() {
            parts.push(one_line(r, 200));
        }
    } else {
        for (rt, o) in runtimes.iter().zip(&row.outcomes) {
            match o {
                Outcome::Fail(m) | Outcome::Skip(m) => {
                    parts.push(format!("{}: {}", rt.name, one_line(m, 400)))
                }
                Outcome::Pass => {}
            }
        }
    }
    if let Some(n) = row.case.note {
        parts.push(format!("note: {n}"));
    }
    parts.join(" | ")
}

pub fn print_header(out: &mut impl Write, runtimes: &[Runtime], width: usize) {
    let mut line = format!("{:<width$}", "case");
    for rt in runtimes {
        line.push_str(&format!(" {:<8}", rt.name));
    }
    line.push_str(" reason");
    let _ = writeln!(out, "{line}");
}

pub fn print_row(out: &mut impl Write, row: &Row, runtimes: &[Runtime], width: usize) {
    let mut line = format!("{:<width$}", row.case.id);
    for o in &row.outcomes {
        line.push_str(&format!(" {:<8}", cell(o)));
    }
    let r = reason(row, runtimes);
    if !r.is_empty() {
        line.push(' ');
        line.push_str(&r);
    }
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// (passed, failed, skipped) of the runtime in column `col`.
pub fn totals(rows: &[Row], col: usize) -> (usize, usize, usize) {
    let mut t = (0, 0, 0);
    for r in rows {
        match r.outcomes.get(col) {
            Some(Outcome::Pass) => t.0 += 1,
            Some(Outcome::Fail(_)) => t.1 += 1,
            Some(Outcome::Skip(_)) => t.2 += 1,
            None => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseResult;

    fn body(_: &mut Ctx) -> CaseResult {
        Ok(())
    }
    static CASE: Case = Case {
        id: "x.y",
        field: "x",
        needs: &[],
        note: Some("runc lacks it"),
        run: body,
    };

    #[test]
    fn reason_and_totals() {
        let rts = vec![Runtime::parse("runc=/r"), Runtime::parse("sangja=/s")];
        let row = Row {
            case: &CASE,
            outcomes: vec![Outcome::Fail("bad\nthing".into()), Outcome::Pass],
        };
        assert_eq!(reason(&row, &rts), "runc: bad thing | note: runc lacks it");
        let skipped = Row {
            case: &CASE,
            outcomes: vec![
                Outcome::Skip("host: x".into()),
                Outcome::Skip("host: x".into()),
            ],
        };
        assert!(reason(&skipped, &rts).starts_with("host: x |"));
        let rows = [row, skipped];
        assert_eq!(totals(&rows, 1), (1, 0, 1));
        assert_eq!(totals(&rows, 0), (0, 1, 1));
    }
}
