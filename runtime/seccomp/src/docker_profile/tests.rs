use super::*;
use oci_spec::runtime::{LinuxSeccompAction, LinuxSyscall};

const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

fn default_caps() -> Vec<String> {
    DOCKER_DEFAULT_CAPABILITIES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn profile() -> Vec<u8> {
    std::fs::read(PODMAN_PROFILE).expect("golang-github-containers-common installs this profile")
}

/// Every (action, errnoRet) the converted profile gives `name` with no argument filter.
fn plain_rules(syscalls: &[LinuxSyscall], name: &str) -> Vec<(LinuxSeccompAction, Option<u32>)> {
    syscalls
        .iter()
        .filter(|s| s.names().iter().any(|n| n == name) && s.args().is_none())
        .map(|s| (s.action(), s.errno_ret()))
        .collect()
}

#[test]
fn podman_profile_converts_for_amd64() {
    let oci = convert(&profile(), &default_caps(), "amd64").unwrap();
    assert_eq!(oci.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(oci.default_errno_ret(), Some(38));
    let archs: Vec<String> = oci
        .architectures()
        .iter()
        .flatten()
        .map(crate::error::spec_name)
        .collect();
    assert_eq!(
        archs,
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    // The converted profile compiles with the installed libseccomp.
    let filter = crate::compile(&oci).unwrap();
    assert!(!filter.needs_listener());
}

#[test]
fn includes_and_excludes_follow_the_capabilities() {
    let without = convert(&profile(), &default_caps(), "amd64").unwrap();
    let calls = without.syscalls().as_deref().unwrap();
    // sethostname and bpf are CAP_SYS_ADMIN rules: denied with EPERM without it.
    for name in ["sethostname", "bpf", "perf_event_open"] {
        assert_eq!(
            plain_rules(calls, name),
            [(LinuxSeccompAction::ScmpActErrno, Some(1))],
            "{name}"
        );
    }
    // CAP_SYS_CHROOT is in the default set: chroot is allowed, its EPERM rule excluded.
    assert_eq!(
        plain_rules(calls, "chroot"),
        [(LinuxSeccompAction::ScmpActAllow, None)]
    );

    let mut caps = default_caps();
    caps.push("CAP_SYS_ADMIN".into());
    let with = convert(&profile(), &caps, "amd64").unwrap();
    let calls = with.syscalls().as_deref().unwrap();
    for name in ["sethostname", "bpf"] {
        assert_eq!(
            plain_rules(calls, name),
            [(LinuxSeccompAction::ScmpActAllow, None)],
            "{name}"
        );
    }
    // Capability names without the CAP_ prefix or in lower case mean the same.
    let short: Vec<String> = caps
        .iter()
        .map(|c| c.trim_start_matches("CAP_").to_lowercase())
        .collect();
    assert_eq!(convert(&profile(), &short, "amd64").unwrap(), with);
}

#[test]
fn namespace_and_mount_syscalls_follow_this_profile_version() {
    // containers-common 0.50 allows unshare/mount/clone for everyone and leaves the
    // check to the kernel's CAP_SYS_ADMIN test. It lists setns both in its general allow
    // list and in the CAP_SYS_ADMIN-gated EPERM list; both rules reach the OCI form.
    let oci = convert(&profile(), &default_caps(), "amd64").unwrap();
    let calls = oci.syscalls().as_deref().unwrap();
    assert_eq!(
        plain_rules(calls, "unshare"),
        [(LinuxSeccompAction::ScmpActAllow, None)]
    );
    assert_eq!(
        plain_rules(calls, "mount"),
        [(LinuxSeccompAction::ScmpActAllow, None)]
    );
    assert_eq!(
        plain_rules(calls, "setns"),
        [
            (LinuxSeccompAction::ScmpActAllow, None),
            (LinuxSeccompAction::ScmpActErrno, Some(1))
        ]
    );
    // Syscalls the profile never names fall to the default, ENOSYS.
    assert!(plain_rules(calls, "add_key").is_empty());
}

#[test]
fn arch_includes_are_honoured() {
    let caps = default_caps();
    let amd64 = convert(&profile(), &caps, "x86_64").unwrap();
    let arm64 = convert(&profile(), &caps, "arm64").unwrap();
    let has = |oci: &LinuxSeccomp, name: &str| {
        !plain_rules(oci.syscalls().as_deref().unwrap(), name).is_empty()
    };
    assert!(has(&amd64, "arch_prctl"));
    assert!(!has(&arm64, "arch_prctl"));
    assert!(has(&arm64, "cacheflush"));
    assert!(!has(&amd64, "cacheflush"));
    let archs: Vec<String> = arm64
        .architectures()
        .iter()
        .flatten()
        .map(crate::error::spec_name)
        .collect();
    assert_eq!(archs, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    assert!(matches!(
        convert(&profile(), &caps, "z80"),
        Err(ProfileError::UnknownArch(_))
    ));
}

#[test]
fn socket_audit_rules_keep_their_args() {
    let oci = convert(&profile(), &default_caps(), "amd64").unwrap();
    let socket: Vec<&LinuxSyscall> = oci
        .syscalls()
        .as_deref()
        .unwrap()
        .iter()
        .filter(|s| s.names() == &["socket".to_string()])
        .collect();
    // CAP_AUDIT_WRITE is in the default set: only the unconditional allow remains.
    assert_eq!(socket.len(), 1);
    assert!(socket[0].args().is_none());
    let no_audit: Vec<String> = default_caps()
        .into_iter()
        .filter(|c| c != "CAP_AUDIT_WRITE")
        .collect();
    let oci = convert(&profile(), &no_audit, "amd64").unwrap();
    let denied = oci
        .syscalls()
        .as_deref()
        .unwrap()
        .iter()
        .find(|s| {
            s.names() == &["socket".to_string()] && s.action() == LinuxSeccompAction::ScmpActErrno
        })
        .unwrap();
    assert_eq!(denied.errno_ret(), Some(22));
    assert_eq!(denied.args().as_ref().unwrap().len(), 2);
}

#[test]
fn min_kernel_errno_names_and_single_name_are_understood() {
    let p = br#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EPERM",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
          {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
          {"names": ["pidfd_open"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.3"}},
          {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errno": "EROFS"}
        ]}"#;
    let old = convert_for_kernel(p, &[], "amd64", Some((4, 19))).unwrap();
    let new = convert_for_kernel(p, &[], "amd64", Some((6, 18))).unwrap();
    assert_eq!(old.default_errno_ret(), Some(1));
    assert_eq!(old.syscalls().as_ref().unwrap().len(), 2);
    assert_eq!(new.syscalls().as_ref().unwrap().len(), 3);
    let mkdir = &old.syscalls().as_ref().unwrap()[1];
    assert_eq!(mkdir.errno_ret(), Some(libc::EROFS as u32));
    assert_eq!(
        old.syscalls().as_ref().unwrap()[0].names(),
        &["getpid".to_string()]
    );
}

#[test]
fn bad_profiles_name_the_field() {
    let bad_action = br#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["getppid"], "action": "SCMP_ACT_MAYBE"}]}"#;
    assert_eq!(
        convert(bad_action, &[], "amd64").unwrap_err().to_string(),
        "seccomp profile syscalls[1].action: unknown action SCMP_ACT_MAYBE"
    );
    let both = br#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]}"#;
    assert!(convert(both, &[], "amd64")
        .unwrap_err()
        .to_string()
        .contains("'architectures' and 'archMap'"));
    let errno = br#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errno": "EWHATEVER"}]}"#;
    assert_eq!(
        convert(errno, &[], "amd64").unwrap_err().to_string(),
        "seccomp profile syscalls[0].errno: unknown errno EWHATEVER"
    );
    assert!(matches!(
        convert(b"{", &[], "amd64"),
        Err(ProfileError::Json(_))
    ));
}

#[test]
fn native_arch_is_a_known_name() {
    assert!(arch_names(native_arch()).is_ok());
}

/// What podman 4.3.1 itself produced from the same profile for its default container.
#[test]
fn conversion_matches_podman() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let profile = std::fs::read(data.join("containers-common-0.50.1-seccomp.json")).unwrap();
    let podman: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("podman-4.3.1-amd64-config-seccomp.json")).unwrap(),
    )
    .unwrap();
    let caps: Vec<String> = serde_json::from_value(podman["bounding"].clone()).unwrap();
    let ours = serde_json::to_value(convert(&profile, &caps, "amd64").unwrap()).unwrap();
    // Both through oci-spec's types, so optional fields are spelled alike.
    let theirs =
        serde_json::to_value(crate::spec_json::parse(&podman["seccomp"]).unwrap()).unwrap();
    assert_eq!(ours, theirs);
}
