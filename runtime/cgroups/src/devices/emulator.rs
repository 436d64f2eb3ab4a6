//! The v1 devices controller's semantics, replayed in memory: a default (allow or deny)
//! plus exceptions. v1 uses it to write only the difference to a live cgroup; v2 compiles
//! its result into the eBPF program, so both versions enforce the same set.

use std::collections::BTreeMap;

use super::rule::{DevKind, Rule, ALL_ACCESS};
use super::RuleError;

type Key = (DevKind, Option<u32>, Option<u32>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulator {
    /// true: everything allowed except the exceptions (kernel "blacklist" mode).
    pub default_allow: bool,
    exceptions: BTreeMap<Key, u8>,
}

impl Default for Emulator {
    /// A new v1 cgroup inherits "a *:* rwm" from the root: allow all.
    fn default() -> Self {
        Emulator {
            default_allow: true,
            exceptions: BTreeMap::new(),
        }
    }
}

impl Emulator {
    pub fn apply(&mut self, r: &Rule) -> Result<(), RuleError> {
        if r.kind == DevKind::All && r.major.is_none() && r.minor.is_none() {
            if r.access != ALL_ACCESS {
                // The kernel resets on "a" whatever the access says; a partial
                // wildcard is almost certainly not what the author meant.
                return Err(RuleError::PartialWildcard(r.to_string()));
            }
            self.default_allow = r.allow;
            self.exceptions.clear();
            return Ok(());
        }
        if r.allow == self.default_allow {
            // Same direction as the default: this removes (part of) an exception.
            // Punching a hole into a wider exception is not something v1 can express.
            for (k, bits) in &self.exceptions {
                let ex = Rule {
                    kind: k.0,
                    major: k.1,
                    minor: k.2,
                    access: *bits,
                    allow: !self.default_allow,
                };
                if *k != r.key() && ex.covers(r) && bits & r.access != 0 {
                    return Err(RuleError::Hole {
                        rule: r.to_string(),
                        wider: ex.to_string(),
                    });
                }
            }
            if let Some(bits) = self.exceptions.get_mut(&r.key()) {
                *bits &= !r.access;
                if *bits == 0 {
                    self.exceptions.remove(&r.key());
                }
            }
        } else {
            *self.exceptions.entry(r.key()).or_insert(0) |= r.access;
        }
        Ok(())
    }

    pub fn from_rules(rules: &[Rule]) -> Result<Emulator, RuleError> {
        let mut e = Emulator::default();
        for r in rules {
            e.apply(r)?;
        }
        Ok(e)
    }

    /// The state a v1 devices.list shows. In allow-all mode the kernel prints only
    /// "a *:* rwm" and hides the deny exceptions, so None means "not knowable".
    pub fn from_list(list: &str) -> Result<Option<Emulator>, RuleError> {
        let mut e = Emulator {
            default_allow: false,
            exceptions: BTreeMap::new(),
        };
        for line in list.lines().filter(|l| !l.trim().is_empty()) {
            let r = Rule::parse_list_line(line)?;
            if r.kind == DevKind::All && r.major.is_none() && r.minor.is_none() {
                return Ok(None);
            }
            *e.exceptions.entry(r.key()).or_insert(0) |= r.access;
        }
        Ok(Some(e))
    }

    /// The exceptions: allow rules when the default denies, deny rules otherwise.
    pub fn exceptions(&self) -> Vec<Rule> {
        self.exceptions
            .iter()
            .map(|(k, bits)| Rule {
                kind: k.0,
                major: k.1,
                minor: k.2,
                access: *bits,
                allow: !self.default_allow,
            })
            .collect()
    }

    /// What devices.list should read after applying this state.
    pub fn list_text(&self) -> String {
        if self.default_allow {
            return "a *:* rwm\n".into();
        }
        let mut lines: Vec<String> = self.exceptions().iter().map(|r| r.to_string()).collect();
        lines.sort();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Whether `access` to one device is allowed.
    pub fn allows(&self, kind: DevKind, major: u32, minor: u32, access: u8) -> bool {
        let probe = Rule {
            kind,
            major: Some(major),
            minor: Some(minor),
            access,
            allow: true,
        };
        if self.default_allow {
            // Any deny touching one requested bit refuses the request.
            !self
                .exceptions()
                .iter()
                .any(|ex| ex.covers(&probe) && ex.access & access != 0)
        } else {
            // The kernel wants one allow rule granting every requested bit.
            self.exceptions()
                .iter()
                .any(|ex| ex.covers(&probe) && ex.access & access == access)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rule::{MKNOD, READ, WRITE};
    use super::*;

    fn r(s: &str, allow: bool) -> Rule {
        let mut r = Rule::parse_list_line(s).unwrap();
        r.allow = allow;
        r
    }

    #[test]
    fn whitelist_after_deny_all() {
        let e = Emulator::from_rules(&[
            r("a *:* rwm", false),
            r("c 1:3 r", true),
            r("c 1:3 w", true),
            r("c 136:* rwm", true),
        ])
        .unwrap();
        assert!(!e.default_allow);
        assert_eq!(e.list_text(), "c 136:* rwm\nc 1:3 rw\n");
        assert!(e.allows(DevKind::Char, 1, 3, READ | WRITE));
        assert!(!e.allows(DevKind::Char, 1, 3, MKNOD));
        assert!(e.allows(DevKind::Char, 136, 7, READ));
        assert!(!e.allows(DevKind::Block, 136, 7, READ));
    }

    #[test]
    fn deny_removes_exact_and_refuses_holes() {
        let mut e = Emulator::from_rules(&[r("a *:* rwm", false), r("c 1:3 rwm", true)]).unwrap();
        e.apply(&r("c 1:3 w", false)).unwrap();
        assert_eq!(e.list_text(), "c 1:3 rm\n");
        e.apply(&r("c *:* m", true)).unwrap();
        assert!(matches!(
            e.apply(&r("c 1:5 m", false)),
            Err(RuleError::Hole { .. })
        ));
    }

    #[test]
    fn blacklist_mode_and_list_parsing() {
        let e = Emulator::from_rules(&[r("c 1:3 rwm", false)]).unwrap();
        assert!(e.default_allow);
        assert!(!e.allows(DevKind::Char, 1, 3, READ));
        assert!(e.allows(DevKind::Char, 1, 5, READ));
        assert_eq!(e.list_text(), "a *:* rwm\n");
        assert_eq!(Emulator::from_list("a *:* rwm\n").unwrap(), None);
        let parsed = Emulator::from_list("c 1:3 rw\nc 136:* rwm\n")
            .unwrap()
            .unwrap();
        assert_eq!(parsed.list_text(), "c 136:* rwm\nc 1:3 rw\n");
    }
}
