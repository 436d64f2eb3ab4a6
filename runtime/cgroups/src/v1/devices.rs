//! v1 devices controller: devices.allow / devices.deny, written as the smallest change
//! from what devices.list shows, so a running container never sees a transient deny-all.

use std::path::Path;

use crate::devices::{Emulator, Rule};
use crate::fsutil::{read, write};
use crate::Error;

const FIELD: &str = "linux.resources.devices";

fn put(dir: &Path, r: &Rule) -> Result<(), Error> {
    let file = if r.allow {
        "devices.allow"
    } else {
        "devices.deny"
    };
    write(dir, file, &r.to_string(), FIELD)
}

/// The writes that take a cgroup from `current` (None: unknown) to `target`.
pub(crate) fn transition(current: Option<&Emulator>, target: &Emulator) -> Vec<Rule> {
    let mut out = Vec::new();
    match current {
        Some(cur) if !cur.default_allow && !target.default_allow => {
            let want = target.exceptions();
            // Removals first: dropping access before granting never widens the set.
            for have in cur.exceptions() {
                let keep = want
                    .iter()
                    .find(|w| w.key() == have.key())
                    .map(|w| w.access)
                    .unwrap_or(0);
                let drop = have.access & !keep;
                if drop != 0 {
                    out.push(Rule {
                        access: drop,
                        allow: false,
                        ..have
                    });
                }
            }
            for w in want {
                let have = cur
                    .exceptions()
                    .iter()
                    .find(|h| h.key() == w.key())
                    .map(|h| h.access)
                    .unwrap_or(0);
                let add = w.access & !have;
                if add != 0 {
                    out.push(Rule {
                        access: add,
                        allow: true,
                        ..w
                    });
                }
            }
        }
        _ => {
            let reset = Rule::parse_list_line("a *:* rwm").expect("constant rule");
            out.push(Rule {
                allow: target.default_allow,
                ..reset
            });
            out.extend(target.exceptions());
        }
    }
    out
}

pub(crate) fn set(dir: &Path, target: &Emulator) -> Result<(), Error> {
    let list = read(dir, "devices.list")?;
    let current = Emulator::from_list(&list)?;
    if current.as_ref() == Some(target) {
        return Ok(());
    }
    for r in transition(current.as_ref(), target) {
        put(dir, &r)?;
    }
    // The kernel may merge or refuse rules silently (a child cannot exceed its
    // parent): check that what is in force is what was asked.
    if !target.default_allow {
        let now = read(dir, "devices.list")?;
        let got = Emulator::from_list(&now)?;
        if got.as_ref() != Some(target) {
            return Err(Error::field(
                FIELD,
                format!(
                    "devices.list in {} reads {:?} after writing, expected {:?}",
                    dir.display(),
                    now,
                    target.list_text()
                ),
            ));
        }
    }
    Ok(())
}
