//! `sangja run` of a bundle made by `sangja-image bundle` (the runtime from env
//! SANGJA_BIN, default the workspace's target/release/sangja), and the same bundle under
//! runc as the reference.

mod common;
use common::*;
use libtest_mimic::Trial;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SCRIPT: &str = "id; echo FOO=$FOO; pwd; grep Seccomp: /proc/self/status; grep ' /data ' /proc/mounts; echo done";

fn sangja_bin() -> PathBuf {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja"))
}

fn main() {
    let sangja = sangja_bin();
    let mut sangja_trial = trial("run_bundle_with_sangja", &[], run_with_sangja);
    if !sangja.is_file() {
        eprintln!(
            "SKIPPED run_bundle_with_sangja: runtime binary {} not found (build the workspace or set SANGJA_BIN)",
            sangja.display()
        );
        sangja_trial = sangja_trial.with_ignored_flag(true);
    }
    let trials: Vec<Trial> = vec![
        trial("run_bundle_with_runc", &["runc"], run_with_runc),
        sangja_trial,
    ];
    run_trials(trials);
}

fn run_with_runc() -> TestResult {
    run_with(Path::new("runc"))
}

fn run_with_sangja() -> TestResult {
    run_with(&sangja_bin())
}

fn run_with(runtime: &Path) -> TestResult {
    let env = Env::new();
    env.busybox_image(
        "run:1",
        &[
            &format!("CMD [\"/bin/sh\", \"-c\", \"{SCRIPT}\"]"),
            "USER bob",
            "WORKDIR /tmp",
            "ENV FOO=bar",
            "VOLUME /data",
        ],
    )?;
    let bundle = env.path("bundle");
    env.ok(["bundle".as_ref(), "run:1".as_ref(), bundle.as_os_str()])?;
    let state = env.path("state");
    // Per runtime: both trials run at once, and a shared id would mean a shared cgroup
    // that one trial's delete removes under the other's create.
    let who = runtime.file_name().unwrap_or_default().to_string_lossy();
    let id = format!("sangja-image-test-{who}-{}", std::process::id());
    let output = Command::new(runtime)
        .arg("--root")
        .arg(&state)
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .output();
    // Whatever happened, the container goes.
    let _ = Command::new(runtime)
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id])
        .output();
    let output = output.map_err(|e| format!("running {}: {e}", runtime.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    check(
        output.status.success(),
        format!(
            "{} run failed ({}): {stdout}{stderr}",
            runtime.display(),
            output.status
        ),
    )?;
    contains(&stdout, "uid=1000(bob) gid=1000(bob) groups=29(audio)")?;
    contains(&stdout, "FOO=bar")?;
    contains(&stdout, "/tmp\n")?;
    contains(&stdout, "Seccomp:\t2")?;
    contains(&stdout, "tmpfs /data tmpfs")?;
    contains(&stdout, "done")
}
