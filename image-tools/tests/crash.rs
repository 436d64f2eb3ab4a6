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
    let crashing: [CrashTrial; 5] = [
        ("kill_during_pull", &["docker-registry"], kill_during_pull),
        ("kill_during_push", &["docker-registry"], kill_during_push),
        ("kill_during_build", &["runc"], kill_during_build),
        ("kill_during_rm", &[], kill_during_rm),
        (
            "kill_during_container_removal",
            &["runc"],
            kill_during_container_removal,
        ),
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
