//! What `sangja features` reports under `linux.seccomp`, shaped like runc's output.

use oci_spec::runtime::Seccomp;

use crate::{action, arch, flag, operator};

/// oci-spec's `features.linux.seccomp` object: serialises with runc's JSON names
/// (`enabled`, `actions`, `operators`, `archs`, `knownFlags`, `supportedFlags`).
pub type SeccompFeatures = Seccomp;

/// Actions and operators are everything the spec defines (all are implemented);
/// archs are those the installed libseccomp can build; supportedFlags are the known
/// flags this libseccomp and kernel accept.
pub fn features() -> SeccompFeatures {
    let mut archs: Vec<_> = arch::ALL
        .into_iter()
        .filter(|a| arch::supported(*a))
        .collect();
    archs.sort_by_key(crate::error::spec_name);
    let known: Vec<String> = flag::KNOWN.iter().map(crate::error::spec_name).collect();
    let supported: Vec<String> = flag::KNOWN
        .iter()
        .filter(|f| flag::supported(**f))
        .map(crate::error::spec_name)
        .collect();
    let mut f = Seccomp::default();
    f.set_enabled(Some(true));
    f.set_actions(Some(action::ALL.to_vec()));
    f.set_operators(Some(
        operator::ALL.iter().map(crate::error::spec_name).collect(),
    ));
    f.set_archs(Some(archs));
    f.set_known_flags(Some(known));
    f.set_supported_flags(Some(supported));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_like_runc() {
        let v = serde_json::to_value(features()).unwrap();
        assert_eq!(v["enabled"], true);
        assert_eq!(
            v["actions"],
            serde_json::json!([
                "SCMP_ACT_ALLOW",
                "SCMP_ACT_ERRNO",
                "SCMP_ACT_KILL",
                "SCMP_ACT_KILL_PROCESS",
                "SCMP_ACT_KILL_THREAD",
                "SCMP_ACT_LOG",
                "SCMP_ACT_NOTIFY",
                "SCMP_ACT_TRACE",
                "SCMP_ACT_TRAP"
            ])
        );
        assert_eq!(
            v["operators"],
            serde_json::json!([
                "SCMP_CMP_EQ",
                "SCMP_CMP_GE",
                "SCMP_CMP_GT",
                "SCMP_CMP_LE",
                "SCMP_CMP_LT",
                "SCMP_CMP_MASKED_EQ",
                "SCMP_CMP_NE"
            ])
        );
        let archs: Vec<&str> = v["archs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        for a in [
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_S390X",
        ] {
            assert!(archs.contains(&a), "{a} missing from {archs:?}");
        }
        let mut sorted = archs.clone();
        sorted.sort();
        assert_eq!(archs, sorted);
        let known = v["knownFlags"].as_array().unwrap();
        assert_eq!(known[0], "SECCOMP_FILTER_FLAG_TSYNC");
        let supported = v["supportedFlags"].as_array().unwrap();
        for f in [
            "SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_LOG",
        ] {
            assert!(supported.iter().any(|s| s == f), "{f} not supported");
        }
        assert!(supported.iter().all(|s| known.contains(s)));
    }
}
