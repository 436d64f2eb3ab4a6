//! Crash consistency: `sangja-image` killed with SIGKILL at named points of pull, push,
//! build, rm and container removal leaves a store that `fsck` passes, and the same command
//! run again succeeds. An interrupted container removal (`.removing-*`) is finished by the
//! next command that opens the store.
//!
//! The kills come from a test build with the `crash-points` feature (src/crash_point.rs),
//! found through SANGJA_IMAGE_CRASH_BIN (scripts/test.sh builds it into target/crash);
//! without it those trials are skipped with the reason.

mod common;
mod registry_support;

use common::*;
use libtest_mimic::{Failed, Trial};
use registry_support::{Auth, Registry};
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CRASH_BIN_ENV: &str = "SANGJA_IMAGE_CRASH_BIN";
const CRASH_AT_ENV: &str = "SANGJA_IMAGE_CRASH_AT";

/// A trial's name, the tools it needs and its body.
type CrashTrial = (&'static str, &'static [&'static str], fn() -> TestResult);

fn crash_bin() -> Option<PathBuf> {
    std::env::var_os(CRASH_BIN_ENV)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

fn main() {
    let no_crash_bin = crash_bin().is_none().then(|| {
        format!(
            "{CRASH_BIN_ENV} not set to a sangja-image built with --features crash-points \
             (scripts/test.sh builds one into target/crash)"
        )
    });
    let mut trials: Vec<Trial> = vec![trial(
        "interrupted_removal_is_swept_by_next_command",
        &[],
        interrupted_removal_is_swept,
    )];
    let crashing: [CrashTrial; 6] = [
        ("kill_during_pull", &["docker-registry"], kill_during_pull),
        ("kill_during_push", &["docker-registry"], kill_during_push),
        ("kill_during_build", &["runc"], kill_during_build),
        ("kill_during_rm", &[], kill_during_rm),
        (
            "kill_during_container_removal",
            &["runc"],
            kill_during_container_removal,
        ),
        ("kill_during_run", &[], kill_during_run),
    ];
    for (name, needs, f) in crashing {
        let t = trial(name, needs, f);
        match &no_crash_bin {
            Some(reason) if !t.has_ignored_flag() => {
                eprintln!("SKIPPED {name}: {reason}");
                trials.push(t.with_ignored_flag(true));
            }
            _ => trials.push(t),
        }
    }
    run_trials(trials);
}

/// A store, a private docker config and the two binaries: the normal one for setup, fsck
/// and retries, the crash build for the command that dies.
struct Fx {
    env: Env,
}

impl Fx {
    fn new() -> Fx {
        Fx { env: Env::new() }
    }

    fn cmd(&self, bin: &Path, store: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.arg("--store")
            .arg(store)
            .args(args)
            .env("DOCKER_CONFIG", self.env.path("docker"))
            .env(
                "SANGJA_REGISTRIES_CONFIG",
                self.env.path("no-registries.json"),
            )
            .env("SANGJA_IMAGE_RETRY_MS", "20")
            // build locates a runtime even with no RUN step; none runs there.
            .env("SANGJA_IMAGE_RUNTIME", "runc")
            .env_remove(CRASH_AT_ENV)
            .stdin(Stdio::null());
        c
    }

    fn ok_in(&self, store: &Path, args: &[&str]) -> Result<String, Failed> {
        let out = self
            .cmd(Path::new(bin()), store, args)
            .output()
            .expect("run sangja-image");
        if !out.status.success() {
            return Err(format!(
                "sangja-image {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `args` with the crash build set to die at `point`; it must die by SIGKILL.
    fn killed_at(&self, store: &Path, point: &str, args: &[&str]) -> TestResult {
        let bin = crash_bin().expect("checked in main");
        let out: Output = self
            .cmd(&bin, store, args)
            .env(CRASH_AT_ENV, point)
            .output()
            .expect("run the crash build");
        check(
            out.status.signal() == Some(libc::SIGKILL),
            format!(
                "{args:?} with {CRASH_AT_ENV}={point}: expected death by SIGKILL, got {} \
                 (the point was never reached?)\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// fsck passes on `store`.
    fn fsck(&self, store: &Path, after: &str) -> TestResult {
        let out = self.cmd(Path::new(bin()), store, &["fsck"]).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        check(
            out.status.success() && text.starts_with("ok:"),
            format!(
                "fsck after {after}: {} {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Loads a two-layer image (busybox plus a bigger file unique to `name`) into `store`.
    fn load(&self, store: &Path, name: &str) -> TestResult {
        let root = self.env.path("rootfs");
        if !root.exists() {
            busybox_rootfs(&root)?;
        }
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.append_dir_all(".", &root)?;
        // The big layer differs by name: each name is its own image with its own blobs.
        let mut data = name.as_bytes().to_vec();
        data.extend((0..300_000u32).map(|i| (i % 251) as u8));
        let layers = vec![
            b.into_inner()?,
            RawTar::new().file("big.bin", &data).finish(),
        ];
        let file = self
            .env
            .path(&format!("{}.tar", name.replace(['/', ':'], "_")));
        fs::write(&file, docker_archive(name, &layers, &["/bin/sh"]))?;
        self.ok_in(store, &["load", "-i", file.to_str().unwrap()])?;
        Ok(())
    }
}

/// What a crash between rename and delete leaves (a `.removing-*` directory with a tree
/// in it) is gone after any command.
fn interrupted_removal_is_swept() -> TestResult {
    let fx = Fx::new();
    let store = fx.env.store.clone();
    fx.ok_in(&store, &["images"])?;
    let doomed = store.join("containers/.removing-fuzz27deadbeef");
    fs::create_dir_all(doomed.join("upper/etc/deep"))?;
    fs::write(doomed.join("upper/etc/deep/file"), b"left by a crash")?;
    fs::create_dir_all(doomed.join("rootfs"))?;
    fx.ok_in(&store, &["images"])?;
    check(
        !doomed.exists(),
        format!("{} still there after the next command", doomed.display()),
    )?;
    fx.fsck(&store, "the sweep")
}

fn kill_during_pull() -> TestResult {
    let fx = Fx::new();
    let reg = Registry::start(&fx.env.path("registry"), Auth::None)?;
    let name = format!("{}/crash/pull:1", reg.host);
    let src = fx.env.path("src");
    fx.load(&src, &name)?;
    fx.ok_in(&src, &["push", "-q", &name])?;
    let want = fx.ok_in(&src, &["inspect", "--format", "{{.Id}}", &name])?;
    for point in [
        "pull-manifest-staged",
        "pull-blob-fetched",
        "commit-blobs-moved",
        "commit-index-written",
    ] {
        let store = fx.env.path(&format!("pull-{point}"));
        fx.killed_at(&store, point, &["pull", "-q", &name])?;
        fx.fsck(&store, &format!("pull killed at {point}"))?;
        fx.ok_in(&store, &["pull", "-q", &name])
            .map_err(|e| format!("retry after {point}: {e:?}"))?;
        fx.fsck(&store, &format!("the retried pull ({point})"))?;
        let got = fx.ok_in(&store, &["inspect", "--format", "{{.Id}}", &name])?;
        check(
            got == want,
            format!("after {point}: pulled {got}, pushed {want}"),
        )?;
        let unpacked = fx.env.path(&format!("unpacked-{point}"));
        fx.ok_in(&store, &["unpack", &name, unpacked.to_str().unwrap()])?;
        check(
            unpacked.join("big.bin").is_file() && unpacked.join("bin/busybox").is_file(),
            format!("after {point}: the retried pull unpacks incompletely"),
        )?;
    }
    Ok(())
}

fn kill_during_push() -> TestResult {
    let fx = Fx::new();
    let reg = Registry::start(&fx.env.path("registry"), Auth::None)?;
    let name = format!("{}/crash/push:1", reg.host);
    let src = fx.env.path("src");
    fx.load(&src, &name)?;
    let want = fx.ok_in(&src, &["inspect", "--format", "{{.Id}}", &name])?;
    fx.killed_at(&src, "push-blob-uploaded", &["push", "-q", &name])?;
    fx.fsck(&src, "push killed after one blob")?;
    fx.ok_in(&src, &["push", "-q", &name])
        .map_err(|e| format!("retried push: {e:?}"))?;
    fx.fsck(&src, "the retried push")?;
    let dst = fx.env.path("dst");
    fx.ok_in(&dst, &["pull", "-q", &name])?;
    let got = fx.ok_in(&dst, &["inspect", "--format", "{{.Id}}", &name])?;
    check(got == want, format!("pulled back {got}, pushed {want}"))
}

fn kill_during_build() -> TestResult {
    let fx = Fx::new();
    let store = fx.env.store.clone();
    fx.load(&store, "crash-base:1")?;
    let ctx = fx.env.path("ctx");
    fs::create_dir_all(&ctx)?;
    fs::write(ctx.join("added.txt"), b"from the context\n")?;
    fs::write(
        ctx.join("Dockerfile"),
        "FROM crash-base:1\nCOPY added.txt /added.txt\nENV CRASH=27\n",
    )?;
    let ctx_s = ctx.to_str().unwrap();
    for point in ["commit-blobs-moved", "commit-index-written"] {
        let tag = format!("crash-built:{}", point.replace('-', ""));
        let args = ["build", "--progress", "plain", "-t", &tag, ctx_s];
        fx.killed_at(&store, point, &args)?;
        fx.fsck(&store, &format!("build killed at {point}"))?;
        fx.ok_in(&store, &args)
            .map_err(|e| format!("retried build after {point}: {e:?}"))?;
        fx.fsck(&store, &format!("the retried build ({point})"))?;
        let out = fx.env.path(&format!("built-{point}"));
        fx.ok_in(&store, &["unpack", &tag, out.to_str().unwrap()])?;
        check(
            fs::read(out.join("added.txt"))? == b"from the context\n",
            format!("after {point}: the built image lacks its COPY"),
        )?;
    }
    check(
        fs::read_dir(store.join("tmp"))?.count() == 0 || fx.ok_in(&store, &["prune"]).is_ok(),
        "prune after the crashed builds",
    )?;
    fx.fsck(&store, "prune")
}

fn kill_during_rm() -> TestResult {
    let fx = Fx::new();
    for point in ["rm-index-updated", "gc-blob-removed"] {
        let store = fx.env.path(&format!("rm-{point}"));
        fx.load(&store, "crash-rm:1")?;
        fx.load(&store, "crash-keep:1")?;
        fx.killed_at(&store, point, &["rmi", "crash-rm:1"])?;
        fx.fsck(&store, &format!("rm killed at {point}"))?;
        // The retry: the image is gone (the index was written before the kill), and the
        // blobs only it used are collected by the next collection.
        let listed = fx.ok_in(&store, &["images"])?;
        check(
            !listed.contains("crash-rm"),
            format!("after {point}: still listed:\n{listed}"),
        )?;
        fx.ok_in(&store, &["prune"])?;
        fx.fsck(&store, &format!("prune after {point}"))?;
        let out = fx.env.path(&format!("keep-{point}"));
        fx.ok_in(&store, &["unpack", "crash-keep:1", out.to_str().unwrap()])?;
        // Nothing orphaned is left: a second collection finds nothing.
        let again = fx.ok_in(&store, &["prune"])?;
        check(
            !again.contains("deleted: sha256:"),
            format!("after {point}: second prune still found orphans: {again}"),
        )?;
    }
    Ok(())
}

fn kill_during_container_removal() -> TestResult {
    let fx = Fx::new();
    let store = fx.env.store.clone();
    fx.load(&store, "crash-ctr:1")?;
    let runc = which("runc").ok_or("runc not on PATH")?;
    let mut run = fx.cmd(
        Path::new(bin()),
        &store,
        &["run", "--name", "fuzz27-crash", "crash-ctr:1", "true"],
    );
    let out = run
        .env("SANGJA_IMAGE_RUNTIME", &runc)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    check(
        out.status.success(),
        format!(
            "run with runc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    let result = (|| -> TestResult {
        fx.killed_at(
            &store,
            "container-remove-renamed",
            &["container", "rm", "fuzz27-crash"],
        )?;
        let left: Vec<String> = fs::read_dir(store.join("containers"))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".removing-"))
            .collect();
        check(
            !left.is_empty(),
            "the kill left no .removing-* directory to sweep",
        )?;
        fx.ok_in(&store, &["ps", "-a"])?;
        for n in &left {
            let p = store.join("containers").join(n);
            check(
                !p.exists(),
                format!("{} survived the next command", p.display()),
            )?;
        }
        let ps = fx.ok_in(&store, &["ps", "-a"])?;
        check(
            !ps.contains("fuzz27-crash"),
            format!("the container is still listed:\n{ps}"),
        )?;
        fx.fsck(&store, "the swept container removal")
    })();
    if result.is_err() {
        let mut rm = fx.cmd(
            Path::new(bin()),
            &store,
            &["container", "rm", "-f", "fuzz27-crash"],
        );
        let _ = rm.env("SANGJA_IMAGE_RUNTIME", &runc).output();
    }
    result
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

/// The runtime containers run with here: the sangja under test when SANGJA_BIN names it
/// (scripts/test.sh does), else runc.
fn container_runtime() -> Result<PathBuf, Failed> {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| which("runc"))
        .ok_or_else(|| "neither SANGJA_BIN nor runc on PATH names a runtime".into())
}

/// What a container leaves on the host and in the store: container directories, runtime
/// state, mounts under the store, volumes and its process.
fn container_debris(store: &Path, sleeper: &[&str]) -> Vec<String> {
    let mut left = store_leftovers(store);
    for pid in processes_running(sleeper) {
        left.push(format!("process {pid} ({})", sleeper.join(" ")));
    }
    left
}

/// `run` killed at each of its steps, foreground and detached: `ps -a` answers, `rm -f`
/// (when the container got as far as being listed) or the next command removes every
/// trace, fsck passes and the same run succeeds again.
fn kill_during_run() -> TestResult {
    let fx = Fx::new();
    let runtime = container_runtime()?;
    let store = fx.env.store.clone();
    fx.load(&store, "crash-run:1")?;
    let name = "fuzz27-run";
    let sleeper = ["sleep", "2727"];
    let with_runtime = |args: &[&str]| -> Result<String, Failed> {
        let out = fx
            .cmd(Path::new(bin()), &store, args)
            .env("SANGJA_IMAGE_RUNTIME", &runtime)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "sangja-image {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // Listed: whether the container must show in `ps -a` after the kill.
    let points: [(&str, bool, bool); 5] = [
        ("run-rootfs-mounted", false, false),
        ("run-volumes-made", false, false),
        ("run-record-saved", false, true),
        ("run-runtime-spawned", false, true),
        ("run-monitor-spawned", true, true),
    ];
    for (point, detach, listed) in points {
        let mut args = vec!["run", "--name", name, "-v", "/data"];
        if detach {
            args.push("-d");
        }
        args.extend(["crash-run:1"].iter().chain(sleeper.iter()));
        let crash = crash_bin().expect("checked in main");
        let result = (|| -> TestResult {
            // A file, not a pipe: the runtime the killed run started keeps its stderr open
            // for as long as the container lives.
            let err_path = fx.env.path(&format!("run-{point}.err"));
            let status = fx
                .cmd(&crash, &store, &args)
                .env(CRASH_AT_ENV, point)
                .env("SANGJA_IMAGE_RUNTIME", &runtime)
                .stdout(Stdio::null())
                .stderr(fs::File::create(&err_path)?)
                .status()?;
            check(
                status.signal() == Some(libc::SIGKILL),
                format!(
                    "run with {CRASH_AT_ENV}={point}: expected death by SIGKILL, got {status}\n{}",
                    fs::read_to_string(&err_path).unwrap_or_default()
                ),
            )?;
            let ps = with_runtime(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
                .map_err(|e| format!("ps -a after a kill at {point}: {e:?}"))?;
            check(
                ps.contains(name) == listed,
                format!("after a kill at {point}: listed should be {listed}, ps -a says:\n{ps}"),
            )?;
            if listed {
                with_runtime(&["rm", "-f", "-v", name])
                    .map_err(|e| format!("rm -f after a kill at {point}: {e:?}"))?;
            }
            // The runtime's own process may take a moment to go after its container.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut left = container_debris(&store, &sleeper);
            while !left.is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(100));
                left = container_debris(&store, &sleeper);
            }
            check(
                left.is_empty(),
                format!("after a kill at {point} and the cleanup: {left:?}"),
            )?;
            fx.fsck(&store, &format!("run killed at {point}"))?;
            let again = with_runtime(&[
                "run",
                "--rm",
                "--name",
                name,
                "crash-run:1",
                "echo",
                "again",
            ])
            .map_err(|e| format!("retried run after {point}: {e:?}"))?;
            check(
                again.trim() == "again",
                format!("retried run after {point} printed {again:?}"),
            )?;
            check(
                container_debris(&store, &sleeper).is_empty(),
                format!("the retried run --rm after {point} left debris"),
            )
        })();
        if result.is_err() {
            let _ = with_runtime(&["rm", "-f", "-v", name]);
            for pid in processes_running(&sleeper) {
                // SAFETY: plain kill of the container process this trial started.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
        result?;
    }
    Ok(())
}
