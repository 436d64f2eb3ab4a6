//! One device cgroup rule in the kernel's own terms, converted from the spec's form.

use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::RuleError;

/// Access bits with the values BPF_DEVCG_ACC_* uses, so v1 and v2 share them.
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;
pub const ALL_ACCESS: u8 = MKNOD | READ | WRITE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DevKind {
    All,
    Block,
    Char,
}

impl DevKind {
    pub fn as_char(self) -> char {
        match self {
            DevKind::All => 'a',
            DevKind::Block => 'b',
            DevKind::Char => 'c',
        }
    }
}

/// A rule: kind, major and minor (None = wildcard), access bits, allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: DevKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
    pub allow: bool,
}

pub(crate) fn access_string(bits: u8) -> String {
    let mut s = String::new();
    if bits & READ != 0 {
        s.push('r');
    }
    if bits & WRITE != 0 {
        s.push('w');
    }
    if bits & MKNOD != 0 {
        s.push('m');
    }
    s
}

pub(crate) fn parse_access(s: &str) -> Result<u8, RuleError> {
    let mut bits = 0;
    for c in s.chars() {
        bits |= match c {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => return Err(RuleError::Access(s.to_string())),
        };
    }
    Ok(bits)
}

fn num(n: Option<u32>) -> String {
    n.map(|v| v.to_string()).unwrap_or_else(|| "*".into())
}

impl fmt::Display for Rule {
    /// The kernel's devices.allow/devices.deny/devices.list form: "c 1:3 rwm".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}:{} {}",
            self.kind.as_char(),
            num(self.major),
            num(self.minor),
            access_string(self.access)
        )
    }
}

impl Rule {
    /// From a `linux.resources.devices[i]` entry: type defaults to "a", a negative or
    /// absent number is a wildcard, absent access means "rwm".
    pub fn from_spec(d: &LinuxDeviceCgroup) -> Result<Rule, RuleError> {
        let kind = match d.typ() {
            None | Some(LinuxDeviceType::A) => DevKind::All,
            Some(LinuxDeviceType::B) => DevKind::Block,
            Some(LinuxDeviceType::C) => DevKind::Char,
            Some(other) => return Err(RuleError::Type(other.as_str().to_string())),
        };
        let n = |v: Option<i64>, what: &'static str| -> Result<Option<u32>, RuleError> {
            match v {
                None => Ok(None),
                Some(v) if v < 0 => Ok(None),
                Some(v) => u32::try_from(v)
                    .map(Some)
                    .map_err(|_| RuleError::Number(what, v)),
            }
        };
        let access = match d.access().as_deref() {
            None | Some("") => ALL_ACCESS,
            Some(a) => parse_access(a)?,
        };
        Ok(Rule {
            kind,
            major: n(d.major(), "major")?,
            minor: n(d.minor(), "minor")?,
            access,
            allow: d.allow(),
        })
    }

    /// Parses one devices.list line ("c 1:3 rwm", "a *:* rwm").
    pub fn parse_list_line(line: &str) -> Result<Rule, RuleError> {
        let bad = || RuleError::ListLine(line.to_string());
        let mut it = line.split_whitespace();
        let (Some(t), Some(mm), Some(acc)) = (it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        let kind = match t {
            "a" => DevKind::All,
            "b" => DevKind::Block,
            "c" => DevKind::Char,
            _ => return Err(bad()),
        };
        let (ma, mi) = mm.split_once(':').ok_or_else(bad)?;
        let p = |s: &str| -> Result<Option<u32>, RuleError> {
            if s == "*" {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| bad())
            }
        };
        Ok(Rule {
            kind,
            major: p(ma)?,
            minor: p(mi)?,
            access: parse_access(acc)?,
            allow: true,
        })
    }

    pub(crate) fn key(&self) -> (DevKind, Option<u32>, Option<u32>) {
        (self.kind, self.major, self.minor)
    }

    /// Whether this rule's device set contains every device of `other`'s.
    pub(crate) fn covers(&self, other: &Rule) -> bool {
        (self.kind == DevKind::All || self.kind == other.kind)
            && (self.major.is_none() || self.major == other.major)
            && (self.minor.is_none() || self.minor == other.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_to_rule_and_text() {
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"mwr"}"#)
                .unwrap();
        assert_eq!(Rule::from_spec(&d).unwrap().to_string(), "c 1:3 rwm");
        let d: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow":false}"#).unwrap();
        let r = Rule::from_spec(&d).unwrap();
        assert_eq!(r.to_string(), "a *:* rwm");
        assert!(!r.allow);
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"b","major":8,"minor":-1,"access":"x"}"#)
                .unwrap();
        assert!(matches!(Rule::from_spec(&d), Err(RuleError::Access(_))));
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"p","access":"r"}"#).unwrap();
        assert!(matches!(Rule::from_spec(&d), Err(RuleError::Type(_))));
        assert_eq!(
            Rule::parse_list_line("c 136:* rwm").unwrap().to_string(),
            "c 136:* rwm"
        );
        assert!(Rule::parse_list_line("q 1:1 r").is_err());
    }
}
