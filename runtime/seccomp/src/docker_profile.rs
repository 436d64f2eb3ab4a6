//! docker/podman seccomp profiles (the format of /usr/share/containers/seccomp.json) to
//! the OCI `linux.seccomp` object for one capability set and architecture.
//!
//! The profile format adds to OCI: `archMap` (the native architecture and the ones it
//! also runs), per-rule `includes`/`excludes` by capability, architecture and minimum
//! kernel, errno by name (`errno`, `defaultErrno`) and the older single `name`. The
//! filtering follows moby's and containers/common's: a rule is kept when it names every
//! `includes.caps` capability, the arch is among `includes.arches`, the kernel is at least
//! `includes.minKernel`, and no `excludes` entry matches.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{Map, Value};

use crate::{errno_name, kernel};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("parsing the seccomp profile: {0}")]
    Json(#[from] serde_json::Error),
    #[error("seccomp profile {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("seccomp profile: unknown architecture {0:?} (expected a Go name such as amd64 or a SCMP_ARCH_ name)")]
    UnknownArch(String),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The capabilities docker gives a container by default (podman's containers.conf
/// default drops CAP_MKNOD, CAP_NET_RAW and CAP_AUDIT_WRITE from it). Without
/// CAP_SYS_ADMIN, CAP_SYS_PTRACE, ... so the profile's capability-gated rules deny.
pub const DOCKER_DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Go's GOARCH names (which `includes.arches` uses) and the seccomp names (which
/// `archMap` uses) of each architecture.
const ARCHES: [(&str, &str); 14] = [
    ("amd64", "SCMP_ARCH_X86_64"),
    ("386", "SCMP_ARCH_X86"),
    ("arm64", "SCMP_ARCH_AARCH64"),
    ("arm", "SCMP_ARCH_ARM"),
    ("ppc64le", "SCMP_ARCH_PPC64LE"),
    ("ppc64", "SCMP_ARCH_PPC64"),
    ("s390x", "SCMP_ARCH_S390X"),
    ("s390", "SCMP_ARCH_S390"),
    ("mips64", "SCMP_ARCH_MIPS64"),
    ("mips64le", "SCMP_ARCH_MIPSEL64"),
    ("mips", "SCMP_ARCH_MIPS"),
    ("mipsle", "SCMP_ARCH_MIPSEL"),
    ("riscv64", "SCMP_ARCH_RISCV64"),
    ("loong64", "SCMP_ARCH_LOONGARCH64"),
];

/// The Go name of the architecture this program was built for ("amd64" on x86_64).
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "mips64" => "mips64",
        "mips" if cfg!(target_endian = "little") => "mipsle",
        "mips" => "mips",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Converts `profile_json` for a container whose bounding set is `capabilities`
/// (names like "CAP_SYS_ADMIN") on `arch` (a Go name like "amd64", a uname name like
/// "x86_64", or "SCMP_ARCH_X86_64"), on the running kernel.
pub fn convert(
    profile_json: &[u8],
    capabilities: &[String],
    arch: &str,
) -> Result<LinuxSeccomp, ProfileError> {
    convert_for_kernel(profile_json, capabilities, arch, kernel::running())
}

/// `convert` for a given kernel version (major, minor); `None` when unknown, which
/// drops every rule that asks for a minimum kernel.
pub fn convert_for_kernel(
    profile_json: &[u8],
    capabilities: &[String],
    arch: &str,
    kernel: Option<(u32, u32)>,
) -> Result<LinuxSeccomp, ProfileError> {
    let profile: Value = serde_json::from_slice(profile_json)?;
    let obj = profile
        .as_object()
        .ok_or_else(|| invalid("(top level)", "must be an object"))?;
    let (go_arch, scmp_arch) = arch_names(arch)?;
    let caps: Vec<String> = capabilities.iter().map(|c| cap_name(c)).collect();
    let filter = Selector {
        caps: &caps,
        go_arch,
        kernel,
    };

    let mut out = Map::new();
    let default = obj
        .get("defaultAction")
        .filter(|v| !v.is_null())
        .ok_or_else(|| invalid("defaultAction", "is required"))?;
    out.insert("defaultAction".into(), default.clone());
    if let Some(ret) = errno_ret(obj, "defaultErrnoRet", "defaultErrno")? {
        out.insert("defaultErrnoRet".into(), ret.into());
    }
    if let Some(archs) = architectures(obj, scmp_arch)? {
        out.insert("architectures".into(), archs);
    }
    for key in ["flags", "listenerPath", "listenerMetadata"] {
        match obj.get(key) {
            Some(Value::String(s)) if s.is_empty() => {}
            Some(v) if !v.is_null() => {
                out.insert(key.into(), v.clone());
            }
            _ => {}
        }
    }

    let mut syscalls = Vec::new();
    let rules = match obj.get("syscalls") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("syscalls", "must be an array")),
    };
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("syscalls[{i}]");
        let rule = rule
            .as_object()
            .ok_or_else(|| invalid(&field, "must be an object"))?;
        if !filter.keeps(rule, &field)? {
            continue;
        }
        syscalls.push(oci_syscall(rule, &field)?);
    }
    if !syscalls.is_empty() {
        out.insert("syscalls".into(), Value::Array(syscalls));
    }

    crate::spec_json::parse(&Value::Object(out)).map_err(|e| match e {
        crate::FilterError::Invalid { field, reason } => ProfileError::Invalid {
            field: field
                .strip_prefix("linux.seccomp.")
                .unwrap_or(&field)
                .to_string(),
            reason,
        },
        other => invalid("(top level)", other.to_string()),
    })
}

struct Selector<'a> {
    caps: &'a [String],
    go_arch: &'a str,
    kernel: Option<(u32, u32)>,
}

impl Selector<'_> {
    fn keeps(&self, rule: &Map<String, Value>, field: &str) -> Result<bool, ProfileError> {
        let includes = section(rule, "includes", field)?;
        let excludes = section(rule, "excludes", field)?;
        let inc_field = format!("{field}.includes");
        let exc_field = format!("{field}.excludes");

        let inc_arches = strings(includes, "arches", &inc_field)?;
        if !inc_arches.is_empty() && !inc_arches.contains(&self.go_arch) {
            return Ok(false);
        }
        let inc_caps = strings(includes, "caps", &inc_field)?;
        if !inc_caps.iter().all(|c| self.has_cap(c)) {
            return Ok(false);
        }
        if let Some(min) = min_kernel(includes, &inc_field)? {
            if self.kernel.is_none_or(|k| k < min) {
                return Ok(false);
            }
        }
        if strings(excludes, "arches", &exc_field)?.contains(&self.go_arch) {
            return Ok(false);
        }
        if strings(excludes, "caps", &exc_field)?
            .iter()
            .any(|c| self.has_cap(c))
        {
            return Ok(false);
        }
        if let Some(min) = min_kernel(excludes, &exc_field)? {
            if self.kernel.is_some_and(|k| k >= min) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn has_cap(&self, cap: &str) -> bool {
        let wanted = cap_name(cap);
        self.caps.contains(&wanted)
    }
}

/// One kept rule in OCI form: `names` (or the older `name`), `action`, `errnoRet`, `args`.
fn oci_syscall(rule: &Map<String, Value>, field: &str) -> Result<Value, ProfileError> {
    let mut call = Map::new();
    let name = rule
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let names = rule.get("names").filter(|v| !v.is_null());
    match (name, names) {
        (Some(_), Some(Value::Array(a))) if !a.is_empty() => {
            return Err(invalid(field, "both 'name' and 'names' are set"));
        }
        (Some(n), _) => {
            call.insert("names".into(), Value::Array(vec![n.into()]));
        }
        (None, Some(v)) => {
            call.insert("names".into(), v.clone());
        }
        (None, None) => return Err(invalid(format!("{field}.names"), "is required")),
    }
    if let Some(action) = rule.get("action") {
        call.insert("action".into(), action.clone());
    }
    if let Some(ret) = errno_ret(rule, "errnoRet", "errno").map_err(|e| prefixed(e, field))? {
        call.insert("errnoRet".into(), ret.into());
    }
    if let Some(args) = rule.get("args").filter(|v| !matches!(v, Value::Null)) {
        if args.as_array().is_some_and(|a| !a.is_empty()) {
            let mut args = args.clone();
            // valueTwo 0 means "not given": omitted, as podman's and docker's Go
            // conversion (omitempty) writes it.
            for arg in args.as_array_mut().into_iter().flatten() {
                if let Some(a) = arg.as_object_mut() {
                    if a.get("valueTwo").and_then(Value::as_u64) == Some(0) {
                        a.remove("valueTwo");
                    }
                }
            }
            call.insert("args".into(), args);
        }
    }
    Ok(Value::Object(call))
}

fn prefixed(e: ProfileError, field: &str) -> ProfileError {
    match e {
        ProfileError::Invalid { field: f, reason } => invalid(format!("{field}.{f}"), reason),
        other => other,
    }
}

/// The numeric errnoRet at `num_key`, else the errno named at `name_key`.
fn errno_ret(
    obj: &Map<String, Value>,
    num_key: &str,
    name_key: &str,
) -> Result<Option<u64>, ProfileError> {
    if let Some(v) = obj.get(num_key).filter(|v| !v.is_null()) {
        return v.as_u64().map(Some).ok_or_else(|| {
            invalid(
                num_key,
                format!("must be a non-negative integer, found {v}"),
            )
        });
    }
    match obj.get(name_key) {
        Some(Value::String(s)) if !s.is_empty() => errno_name::number(s)
            .map(|n| Some(u64::from(n)))
            .ok_or_else(|| invalid(name_key, format!("unknown errno {s}"))),
        _ => Ok(None),
    }
}

/// `architectures` as given, or the archMap entry of the target arch with its
/// sub-architectures; a profile may not have both.
fn architectures(obj: &Map<String, Value>, scmp_arch: &str) -> Result<Option<Value>, ProfileError> {
    let listed = obj
        .get("architectures")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    let map = obj
        .get("archMap")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    match (listed, map) {
        (Some(_), Some(_)) => Err(invalid(
            "archMap",
            "'architectures' and 'archMap' are both set",
        )),
        (Some(a), None) => Ok(Some(Value::Array(a.clone()))),
        (None, Some(entries)) => {
            let mut archs = Vec::new();
            for (i, entry) in entries.iter().enumerate() {
                let field = format!("archMap[{i}]");
                let entry = entry
                    .as_object()
                    .ok_or_else(|| invalid(&field, "must be an object"))?;
                if entry.get("architecture").and_then(Value::as_str) != Some(scmp_arch) {
                    continue;
                }
                archs.push(Value::from(scmp_arch));
                archs.extend(
                    strings(Some(entry), "subArchitectures", &field)?
                        .into_iter()
                        .map(Value::from),
                );
            }
            Ok((!archs.is_empty()).then_some(Value::Array(archs)))
        }
        (None, None) => Ok(None),
    }
}

fn section<'a>(
    rule: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, ProfileError> {
    match rule.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(invalid(format!("{field}.{key}"), "must be an object")),
    }
}

fn strings<'a>(
    obj: Option<&'a Map<String, Value>>,
    key: &str,
    field: &str,
) -> Result<Vec<&'a str>, ProfileError> {
    let Some(v) = obj.and_then(|o| o.get(key)).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let arr = v
        .as_array()
        .ok_or_else(|| invalid(format!("{field}.{key}"), "must be an array of strings"))?;
    arr.iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .ok_or_else(|| invalid(format!("{field}.{key}[{i}]"), "must be a string"))
        })
        .collect()
}

fn min_kernel(
    obj: Option<&Map<String, Value>>,
    field: &str,
) -> Result<Option<(u32, u32)>, ProfileError> {
    match obj.and_then(|o| o.get("minKernel")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => kernel::parse(s).map(Some).ok_or_else(|| {
            invalid(
                format!("{field}.minKernel"),
                format!("not a kernel version: {s:?}"),
            )
        }),
        Some(_) => Err(invalid(format!("{field}.minKernel"), "must be a string")),
    }
}

fn arch_names(arch: &str) -> Result<(&'static str, &'static str), ProfileError> {
    let wanted = match arch {
        "x86_64" => "amd64",
        "i386" | "i686" | "x86" => "386",
        "aarch64" => "arm64",
        other => other,
    };
    ARCHES
        .iter()
        .find(|(go, scmp)| *go == wanted || *scmp == wanted)
        .copied()
        .ok_or_else(|| ProfileError::UnknownArch(arch.to_string()))
}

/// Capability names compared the way runc spells them: upper case with the CAP_ prefix.
fn cap_name(cap: &str) -> String {
    let upper = cap.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

#[cfg(test)]
mod tests;
