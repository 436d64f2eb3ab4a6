//! Tests on this machine's real cgroups (root required). A feature the host lacks is
//! reported as ignored with the reason, never as passed.

mod runc_oracle;
mod support;
mod v1_tests;
mod v2_tests;

use libtest_mimic::{Arguments, Trial};

/// Why a test cannot run here, or None when it can.
pub type Check = fn() -> Option<String>;

pub fn trial(name: &'static str, skip: Check, f: fn()) -> Trial {
    match skip() {
        Some(reason) => Trial::test(name, || Ok(()))
            .with_ignored_flag(true)
            .with_kind(leak(reason)),
        None => Trial::test(name, move || {
            std::panic::catch_unwind(f).map_err(|e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into())
                    .into()
            })
        }),
    }
}

/// libtest-mimic prints the kind next to an ignored test: it carries the reason.
fn leak(s: String) -> &'static str {
    Box::leak(format!("SKIPPED: {s}").into_boxed_str())
}

pub fn needs_root() -> Option<String> {
    (!nix::unistd::Uid::effective().is_root()).then(|| "needs root".to_string())
}

fn no_systemd() -> Option<String> {
    std::path::Path::new("/run/systemd/system")
        .is_dir()
        .then(|| "systemd is running here; the refusal is for hosts without it".into())
}

fn systemd_refused() {
    let spec = |p| sangja_cgroups::Spec {
        cgroups_path: p,
        container_id: "c1",
        systemd: true,
        rootless: false,
    };
    let e = sangja_cgroups::new_manager(&spec(Some("system.slice:sangja:c1")))
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("systemd not running on this host"), "{e}");
    // A malformed path is reported first, as runc does.
    let e = sangja_cgroups::new_manager(&spec(Some("/not/systemd")))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("slice:prefix:name"), "{e}");
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    trials.extend(v1_tests::trials());
    trials.extend(v2_tests::trials());
    trials.extend(runc_oracle::trials());
    trials.push(trial(
        "systemd_cgroup_refused_without_systemd",
        no_systemd,
        systemd_refused,
    ));
    libtest_mimic::run(&args, trials).exit();
}
