//! Crash consistency (issue 27): `sangja` SIGKILLed at each named phase of create, start,
//! exec and delete. Afterwards `state` must say something coherent, `delete --force` must
//! remove every trace (mounts, cgroups, processes, the state folder), and the same id must
//! be usable again.
//!
//! The killing build is sangja with the test-only `crash-points` feature (src/crash.rs),
//! which scripts/test.sh builds into target/crash and names in SANGJA_CRASH_BIN; the
//! shipped binary has no such switch. Without that variable every trial is skipped.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::leftovers::Snapshot;
use common::Env;
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let crash_bin = std::env::var_os("SANGJA_CRASH_BIN").map(PathBuf::from);
    let points: Vec<&'static str> = sangja::crash::POINTS.to_vec();
    let trials = points
        .into_iter()
        .enumerate()
        .map(|(i, point)| {
            let bin = crash_bin.clone();
            let skip = match &bin {
                None => {
                    Some("SANGJA_CRASH_BIN is not set (make test builds the crash-points binary)")
                }
                Some(b) if !b.exists() => Some("SANGJA_CRASH_BIN names no file"),
                _ if !nix::unistd::geteuid().is_root() => {
                    Some("not root: the trials create containers")
                }
                _ => None,
            };
            let name = format!("killed_at_{}", point.replace([':', '-'], "_"));
            match skip {
                Some(why) => Trial::test(name, move || Ok(()))
                    .with_ignored_flag(true)
                    .with_kind(why),
                None => Trial::test(name, move || crash_at(&bin.unwrap(), point, i)),
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Runs `bin` with the crash point armed and expects it to die by SIGKILL.
fn crashed(env: &Env, bin: &Path, point: &str, args: &[&str]) -> Result<(), Failed> {
    let out = Command::new(bin)
        .arg("--root")
        .arg(env.root())
        .args(args)
        .env("SANGJA_CRASH_AT", point)
        .current_dir(&env.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.dir.join("crash-err")).unwrap())
        .status()?;
    if out.signal() != Some(libc::SIGKILL) {
        let err = std::fs::read_to_string(env.dir.join("crash-err")).unwrap_or_default();
        return Err(format!("{args:?} at {point} did not crash: {out}: {err}").into());
    }
    Ok(())
}

fn ok(env: &Env, args: &[&str]) -> Result<String, Failed> {
    let out = env.rt(args);
    if !out.status.success() {
        return Err(format!(
            "sangja {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn crash_at(bin: &Path, point: &str, index: usize) -> Result<(), Failed> {
    let marker = format!("sjcr{}x{index}", std::process::id());
    let env = Env::new(&marker);
    let bundle = env.bundle(&["sleep", "1000"]);
    // A host hook, so create has a hooks phase to be killed in.
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg_path)?)?;
    cfg["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/true"}]});
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg)?)?;
    let bundle = bundle.to_str().unwrap();
    let id = marker.as_str();
    let before = Snapshot::take(&marker, &env.root()).ignoring_fds();
    let phase = point.split(':').next().unwrap();
    match phase {
        "create" => crashed(&env, bin, point, &["create", "-b", bundle, id])?,
        "start" => {
            ok(&env, &["create", "-b", bundle, id])?;
            crashed(&env, bin, point, &["start", id])?;
        }
        "exec" => {
            ok(&env, &["create", "-b", bundle, id])?;
            ok(&env, &["start", id])?;
            crashed(&env, bin, point, &["exec", "-d", id, "sleep", "999"])?;
        }
        "delete" => {
            ok(&env, &["create", "-b", bundle, id])?;
            ok(&env, &["start", id])?;
            crashed(&env, bin, point, &["delete", "--force", id])?;
        }
        other => return Err(format!("no lifecycle for phase {other}").into()),
    }
    check_state(&env, id)?;
    ok(&env, &["delete", "--force", id])?;
    let after = Snapshot::take(&marker, &env.root());
    let left = before.left_by(&after);
    if !left.is_empty() {
        return Err(format!("after delete --force: {}", left.join("; ")).into());
    }
    // The id is free again and the lifecycle works from scratch.
    ok(&env, &["create", "-b", bundle, id])?;
    ok(&env, &["start", id])?;
    ok(&env, &["delete", "--force", id])?;
    Ok(())
}

/// `state` either says the container does not exist or gives a status that matches what
/// runs: created means an init waiting to be started (and `start` then works), running
/// and paused mean a live init, stopped means none.
fn check_state(env: &Env, id: &str) -> Result<(), Failed> {
    let out = env.rt(&["state", id]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("does not exist") {
            return Ok(());
        }
        return Err(format!("state after the crash: {}", err.trim()).into());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("state after the crash is not JSON ({e}): {:?}", out.stdout))?;
    let status = v["status"].as_str().unwrap_or_default().to_string();
    let pid = v["pid"].as_i64().unwrap_or(0) as i32;
    let alive = pid > 0 && Path::new(&format!("/proc/{pid}")).exists();
    match status.as_str() {
        "stopped" => Ok(()),
        // A create killed before its init was ready; delete --force ends that init.
        "running" | "paused" | "creating" if alive => Ok(()),
        "created" if alive => {
            // A start must not hang on a FIFO the init no longer waits on.
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut child = Command::new(common::runtime())
                .arg("--root")
                .arg(env.root())
                .args(["start", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            loop {
                if let Some(st) = child.try_wait()? {
                    return if st.success() {
                        Ok(())
                    } else {
                        Err(format!("start of a container that reads as created: {st}").into())
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("start of a container that reads as created hangs".into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        s => Err(
            format!("state after the crash: status {s:?} with pid {pid} (alive: {alive})").into(),
        ),
    }
}
