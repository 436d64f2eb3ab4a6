//! `run` and the container commands with real runtimes (sangja from env SANGJA_BIN,
//! default the workspace's target/release/sangja; runc as the reference) and images
//! pulled from a real local docker-registry on a free port. Every container, mount and
//! daemon a test makes is removed on drop, pass or fail.

mod common;
mod registry_support;

use common::*;
use libtest_mimic::{Failed, Trial};
use registry_support::{Auth, Registry};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn sangja_bin() -> PathBuf {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja"))
}

fn runc_bin() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("runc"))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("runc"))
}

const TOOLS: [&str; 1] = ["docker-registry"];

fn main() {
    let sangja = sangja_bin();
    let no_sangja = !sangja.is_file();
    let no_seccomp = !Path::new("/usr/share/containers/seccomp.json").is_file();
    let no_overlay = !fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("overlay");
    let mut trials: Vec<Trial> = Vec::new();
    let mut add = |name: &str, needs: &[&str], f: fn() -> TestResult, on_sangja: bool| {
        let mut t = trial(name, needs, f);
        let reason = if on_sangja && no_sangja {
            Some(format!(
                "runtime binary {} not found (build the workspace or set SANGJA_BIN)",
                sangja.display()
            ))
        } else if no_seccomp {
            Some(
                "/usr/share/containers/seccomp.json (golang-github-containers-common) missing"
                    .into(),
            )
        } else if no_overlay {
            Some("overlayfs not available".into())
        } else {
            None
        };
        if let Some(r) = reason {
            eprintln!("SKIPPED {name}: {r}");
            t = t.with_ignored_flag(true);
        }
        trials.push(t);
    };
    let runc: [&str; 2] = ["docker-registry", "runc"];
    add("run_flags_sangja", &TOOLS, run_flags_sangja, true);
    add("run_flags_runc", &runc, run_flags_runc, false);
    add("detached_lifecycle_sangja", &TOOLS, detached_sangja, true);
    add("detached_lifecycle_runc", &runc, detached_runc, false);
    add("commit_then_run_sangja", &TOOLS, commit_sangja, true);
    add("commit_then_run_runc", &runc, commit_runc, false);
    add("limits_caps_tty_sangja", &TOOLS, limits_sangja, true);
    add("limits_caps_tty_runc", &runc, limits_runc, false);
    add("rm_after_ctrl_c_sangja", &TOOLS, ctrl_c_sangja, true);
    add("rm_after_ctrl_c_runc", &runc, ctrl_c_runc, false);
    add("detached_modes_sangja", &TOOLS, detached_modes_sangja, true);
    add("detached_modes_runc", &runc, detached_modes_runc, false);
    add(
        "failed_run_leaves_nothing_sangja",
        &TOOLS,
        failed_run_sangja,
        true,
    );
    add(
        "failed_run_leaves_nothing_runc",
        &runc,
        failed_run_runc,
        false,
    );
    add("shared_lower_one_unpack", &TOOLS, shared_lower, true);
    add("bad_input_leaves_nothing", &TOOLS, bad_input, true);
    add("exec_sees_the_container_sangja", &TOOLS, exec_sangja, true);
    add("exec_sees_the_container_runc", &runc, exec_runc, false);
    add(
        "create_start_wait_rename_pause_top_sangja",
        &TOOLS,
        create_start_sangja,
        true,
    );
    add(
        "cp_export_stay_inside_sangja",
        &TOOLS,
        cp_export_sangja,
        true,
    );
    add(
        "volumes_named_anonymous_mounts_sangja",
        &TOOLS,
        volumes_sangja,
        true,
    );
    add("restart_on_failure_sangja", &TOOLS, restart_sangja, true);
    add("isolation_flags_sangja", &TOOLS, isolation_sangja, true);
    add("isolation_flags_runc", &runc, isolation_runc, false);
    add("health_checks_sangja", &TOOLS, health_sangja, true);
    add("health_checks_runc", &runc, health_runc, false);
    add("stats_columns_sangja", &TOOLS, stats_sangja, true);
    add("stats_columns_runc", &runc, stats_runc, false);
    add("run_attach_streams_sangja", &TOOLS, attach_streams, true);
    run_trials(trials);
}

/// A test's world: a temp dir with a store, a registry holding a busybox image, the
/// runtime to use. Drop removes every container and mount it made.
struct Fx {
    env: Env,
    _registry: Registry,
    runtime: PathBuf,
    /// `127.0.0.1:PORT/test/bb:1`, in the registry only (the store starts empty).
    image: String,
}

impl Fx {
    fn new(runtime: PathBuf) -> Result<Fx, Failed> {
        let env = Env::new();
        let registry = Registry::start(&env.path("registry"), Auth::None)?;
        let seed = Env::new();
        seed.busybox_image(
            "bb:1",
            &[
                r#"CMD ["sh", "-c", "echo image-cmd"]"#,
                "ENV FROM_IMAGE=yes",
            ],
        )?;
        let image = format!("{}/test/bb:1", registry.host);
        seed.ok(["tag", "bb:1", &image])?;
        seed.ok(["push", "-q", &image])?;
        Ok(Fx {
            env,
            _registry: registry,
            runtime,
            image,
        })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--store")
            .arg(&self.env.store)
            .args(args)
            .env("SANGJA_IMAGE_RUNTIME", &self.runtime)
            .env("DOCKER_CONFIG", self.env.path("docker"))
            .env(
                "SANGJA_REGISTRIES_CONFIG",
                self.env.path("no-registries.json"),
            )
            .stdin(Stdio::null());
        c
    }

    fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run sangja-image")
    }

    fn ok(&self, args: &[&str]) -> Result<String, Failed> {
        let o = self.out(args);
        if !o.status.success() {
            return Err(format!(
                "sangja-image {args:?} failed ({}): {}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    fn fails(&self, args: &[&str]) -> Result<String, Failed> {
        let o = self.out(args);
        if o.status.success() {
            return Err(format!(
                "sangja-image {args:?} succeeded but should have failed: {}",
                String::from_utf8_lossy(&o.stdout)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&o.stderr).into_owned())
    }

    fn containers_dir(&self) -> PathBuf {
        self.env.store.join("containers")
    }

    /// Container directories (records) left in the store.
    fn leftovers(&self) -> Vec<String> {
        fs::read_dir(self.containers_dir())
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Mount points under this test's temp dir.
    fn mounts(&self) -> Vec<String> {
        let root = self.env.dir.path().display().to_string();
        fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(1).map(str::to_string))
            .filter(|m| m.starts_with(&root))
            .collect()
    }

    /// Containers the runtime still knows (its `--root` is `containers/.state`).
    fn runtime_state(&self) -> Vec<String> {
        fs::read_dir(self.containers_dir().join(".state"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Unpacks in progress or abandoned under `snapshots/`.
    fn partial_snapshots(&self) -> Vec<String> {
        fs::read_dir(self.env.store.join("snapshots"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn nothing_left(&self) -> TestResult {
        check(
            self.leftovers().is_empty(),
            format!("containers left: {:?}", self.leftovers()),
        )?;
        check(
            self.runtime_state().is_empty(),
            format!("runtime state left: {:?}", self.runtime_state()),
        )?;
        check(
            self.partial_snapshots().is_empty(),
            format!("partial snapshots left: {:?}", self.partial_snapshots()),
        )?;
        check(
            self.mounts().is_empty(),
            format!("mounts left: {:?}", self.mounts()),
        )
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        for id in self.leftovers() {
            let _ = self.out(&["container", "rm", "-f", &id]);
        }
        for m in self.mounts().iter().rev() {
            let _ = nix_umount(m);
        }
    }
}

fn nix_umount(path: &str) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: a plain umount2 of a path we mounted under our temp dir.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn run_flags_sangja() -> TestResult {
    run_flags(sangja_bin())
}
fn run_flags_runc() -> TestResult {
    run_flags(runc_bin())
}
fn detached_sangja() -> TestResult {
    detached(sangja_bin())
}
fn detached_runc() -> TestResult {
    detached(runc_bin())
}
fn limits_sangja() -> TestResult {
    limits(sangja_bin())
}
fn limits_runc() -> TestResult {
    limits(runc_bin())
}
fn ctrl_c_sangja() -> TestResult {
    ctrl_c(sangja_bin())
}
fn ctrl_c_runc() -> TestResult {
    ctrl_c(runc_bin())
}
fn detached_modes_sangja() -> TestResult {
    detached_modes(sangja_bin())
}
fn detached_modes_runc() -> TestResult {
    detached_modes(runc_bin())
}
fn failed_run_sangja() -> TestResult {
    failed_run(sangja_bin())
}
fn failed_run_runc() -> TestResult {
    failed_run(runc_bin())
}
fn commit_sangja() -> TestResult {
    commit(sangja_bin())
}
fn commit_runc() -> TestResult {
    commit(runc_bin())
}

/// Pull on first use, output and exit status, -e, -w, -u, --entrypoint, --hostname,
/// -v (rw and ro), --read-only, --network, --rm leaving nothing.
fn run_flags(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let rt = runtime.display().to_string();
    let img = fx.image.clone();

    // The image is pulled, its command runs, the output is ours.
    let o = fx.out(&["run", "--rm", "--runtime", &rt, &img]);
    check(
        o.status.success(),
        format!("run failed: {}", String::from_utf8_lossy(&o.stderr)),
    )?;
    check(
        String::from_utf8_lossy(&o.stdout) == "image-cmd\n",
        format!("stdout {:?}", String::from_utf8_lossy(&o.stdout)),
    )?;
    contains(&String::from_utf8_lossy(&o.stderr), "Unable to find image")?;
    contains(&fx.ok(&["images"])?, "test/bb")?;

    // Exit status.
    let o = fx.out(&["run", "--rm", &img, "sh", "-c", "exit 7"]);
    check(
        o.status.code() == Some(7),
        format!("exit status {}", o.status),
    )?;

    // Environment, working dir (made when missing), user, hostname.
    let out = fx.ok(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/work/dir",
        "-u",
        "bob",
        "--hostname",
        "box1",
        &img,
        "sh",
        "-c",
        "echo FOO=$FOO FROM_IMAGE=$FROM_IMAGE; pwd; id; hostname",
    ])?;
    contains(&out, "FOO=bar FROM_IMAGE=yes\n")?;
    contains(&out, "/work/dir\n")?;
    contains(&out, "uid=1000(bob) gid=1000(bob)")?;
    contains(&out, "box1\n")?;

    // --entrypoint replaces the image's command.
    let out = fx.ok(&["run", "--rm", "--entrypoint", "echo", &img, "a", "b"])?;
    check(out == "a b\n", format!("entrypoint output {out:?}"))?;

    // -v: a writable and a read-only bind mount.
    let host = fx.env.path("vol");
    fs::create_dir_all(&host)?;
    fs::write(host.join("in"), "from-host\n")?;
    let rw = format!("{}:/data", host.display());
    let ro = format!("{}:/ro:ro", host.display());
    let out = fx.ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "-v",
        &ro,
        &img,
        "sh",
        "-c",
        "cat /data/in; echo written > /data/out; touch /ro/x 2>/dev/null || echo ro-refused",
    ])?;
    contains(&out, "from-host\n")?;
    contains(&out, "ro-refused\n")?;
    check(
        fs::read_to_string(host.join("out")).unwrap_or_default() == "written\n",
        "the container's write to the volume did not reach the host",
    )?;
    check(
        !host.join("x").exists(),
        "a write went through a :ro volume",
    )?;

    // --read-only: the root refuses writes, volumes still take them.
    let out = fx.ok(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        &rw,
        &img,
        "sh",
        "-c",
        "touch /newfile 2>/dev/null || echo root-ro; touch /data/ok && echo vol-rw",
    ])?;
    contains(&out, "root-ro\n")?;
    contains(&out, "vol-rw\n")?;

    // --network none: only loopback; host: the host's interfaces (the default, bridge,
    // is tests/network.rs's).
    let out = fx.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "ls /sys/class/net",
    ])?;
    check(
        out.split_whitespace().collect::<Vec<_>>() == ["lo"],
        format!("none: {out:?}"),
    )?;
    let out = fx.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        &img,
        "ls",
        "/sys/class/net",
    ])?;
    check(
        out.split_whitespace().count() > 1 && out.contains("lo"),
        format!("host: {out:?}"),
    )?;

    // Without --rm the container stays, exited with its status, root unmounted.
    fx.ok(&["run", "--name", "kept", &img, "sh", "-c", "exit 3"])
        .err()
        .ok_or("exit 3 should fail the run")?;
    let ps = fx.ok(&["ps", "-a"])?;
    contains(&ps, "Exited (3)")?;
    contains(&ps, "kept")?;
    check(
        fx.mounts().is_empty(),
        format!("mounts after exit: {:?}", fx.mounts()),
    )?;
    fx.ok(&["container", "rm", "kept"])?;
    fx.nothing_left()
}

/// -d, ps, logs, stop, start (same writable layer), kill, rm (-f).
fn detached(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let rt = runtime.display().to_string();
    let img = fx.image.clone();
    let script = "echo out-$(cat /count 2>/dev/null); echo err >&2; echo x >> /count; \
                  trap 'echo got-term; exit 0' TERM; echo ready > /tmp/ready; \
                  while true; do sleep 0.1; done";
    let id = fx.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--runtime",
        &rt,
        &img,
        "sh",
        "-c",
        script,
    ])?;
    let id = id.trim().to_string();
    check(id.len() == 64, format!("run -d printed {id:?}"))?;
    let ps = fx.ok(&["ps"])?;
    contains(&ps, &id[..12])?;
    contains(&ps, "Up")?;
    contains(&ps, "web")?;

    // rm of a running container needs -f.
    contains(&fx.fails(&["container", "rm", "web"])?, "is running")?;

    // logs -f returns once the container stops; stop waits for the trap.
    let follower = fx
        .cmd(&["logs", "-f", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    wait_for_log(&fx, "web", "err")?;
    fx.ok(&["stop", "-t", "10", "web"])?;
    let followed = follower.wait_with_output()?;
    let followed = String::from_utf8_lossy(&followed.stdout).into_owned();
    contains(&followed, "out-\n")?;
    contains(&followed, "got-term\n")?;
    let logs = fx.ok(&["logs", "web"])?;
    contains(&logs, "err\n")?;
    let ps = fx.ok(&["ps"])?;
    check(
        !ps.contains("web"),
        format!("stopped container listed by ps: {ps}"),
    )?;
    contains(&fx.ok(&["ps", "-a"])?, "Exited")?;

    // start: the same writable layer (the count file survives).
    fx.ok(&["start", "web"])?;
    wait_for_log(&fx, "web", "out-x")?;
    contains(&fx.ok(&["ps"])?, "web")?;

    // stop -t 0 of something that ignores TERM: SIGKILL.
    let id2 = fx.ok(&[
        "run",
        "-d",
        &img,
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ])?;
    let id2 = id2.trim().to_string();
    fx.ok(&["stop", "-t", "0", &id2[..12]])?;
    check(
        !fx.ok(&["ps"])?.contains(&id2[..12]),
        "stop -t 0 left it running",
    )?;

    // kill, then rm; rm -f of a running one.
    // kill returns once the signal is sent (as docker's); the exit follows.
    fx.ok(&["kill", "web"])?;
    let mut gone = false;
    for _ in 0..600 {
        if !fx.ok(&["ps"])?.contains("web") {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check(gone, "web still running after kill")?;
    fx.ok(&["container", "rm", "web", &id2])?;
    let id3 = fx.ok(&["run", "-d", &img, "sleep", "1000"])?;
    fx.ok(&["container", "rm", "-f", id3.trim()])?;
    fx.nothing_left()
}

/// Polls `ps -a` until `pred` holds for it (a deadline, not a timing assertion).
fn wait_for_ps(fx: &Fx, what: &str, pred: impl Fn(&str) -> bool) -> Result<String, Failed> {
    let mut ps = String::new();
    for _ in 0..600 {
        ps = fx.ok(&["ps", "-a"])?;
        if pred(&ps) {
            return Ok(ps);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("ps -a never showed {what}:\n{ps}").into())
}

/// The `ps -a` line of container `name`.
fn ps_line(ps: &str, name: &str) -> String {
    ps.lines()
        .find(|l| l.split_whitespace().last() == Some(name))
        .unwrap_or_default()
        .to_string()
}

/// Detached containers under their monitor: the exit status kept (`ps -a`, the
/// record), `--rm` removing everything when the process exits or is stopped, `-t`
/// output in the logs, `-i` keeping stdin open until stop.
fn detached_modes(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let rt = runtime.display().to_string();
    let img = fx.image.clone();
    fx.ok(&["pull", "-q", &img])?;

    // The exit status of a process nobody waits for in the foreground.
    let id = fx.ok(&[
        "run",
        "-d",
        "--runtime",
        &rt,
        "--name",
        "three",
        &img,
        "sh",
        "-c",
        "exit 3",
    ])?;
    let id = id.trim().to_string();
    // Listed as Up until the monitor has recorded the exit, then Exited with it.
    let ps = wait_for_ps(&fx, "three exited", |ps| {
        ps_line(ps, "three").contains("Exited")
    })?;
    let line = ps_line(&ps, "three");
    check(
        line.contains("Exited (3) ") && line.contains(" ago"),
        format!("ps -a line: {line:?}"),
    )?;
    let record: serde_json::Value = serde_json::from_slice(&fs::read(
        fx.containers_dir().join(&id).join("container.json"),
    )?)?;
    check(
        record["exit_code"] == 3 && record["finished_at"].is_string(),
        format!("record: {record}"),
    )?;
    check(
        fx.mounts().is_empty(),
        format!("mounts after exit: {:?}", fx.mounts()),
    )?;
    // start again: the new exit replaces the old.
    fx.ok(&["start", "three"])?;
    wait_for_ps(&fx, "three exited again", |ps| {
        ps_line(ps, "three").contains("Exited (3)")
    })?;
    fx.ok(&["container", "rm", "three"])?;

    // -d --rm: gone once the process exits by itself ...
    fx.ok(&[
        "run", "-d", "--rm", "--name", "brief", &img, "sh", "-c", "echo bye",
    ])?;
    wait_for_ps(&fx, "brief removed", |ps| ps_line(ps, "brief").is_empty())?;
    fx.nothing_left()?;
    // ... and when stopped (stop returns once the monitor has removed it).
    fx.ok(&[
        "run", "-d", "--rm", "--name", "sleeper", &img, "sleep", "1000",
    ])?;
    contains(&ps_line(&fx.ok(&["ps"])?, "sleeper"), "Up")?;
    fx.ok(&["stop", "-t", "0", "sleeper"])?;
    fx.nothing_left()?;

    // -d -t: a terminal, sized, its output in the logs.
    fx.ok(&[
        "run",
        "-d",
        "-t",
        "--name",
        "tty",
        &img,
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo has-tty; stty size",
    ])?;
    wait_for_ps(&fx, "tty exited", |ps| {
        ps_line(ps, "tty").contains("Exited (0)")
    })?;
    let logs = fx.ok(&["logs", "tty"])?;
    contains(&logs, "has-tty\r\n")?;
    contains(&logs, "24 80")?;
    fx.ok(&["container", "rm", "tty"])?;

    // -d -i: stdin stays open, so cat runs until stopped; without -i it reads
    // /dev/null and ends at once.
    fx.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "reader",
        &img,
        "sh",
        "-c",
        "echo started; cat; echo eof",
    ])?;
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "closed",
        &img,
        "sh",
        "-c",
        "echo started; cat; echo eof",
    ])?;
    wait_for_ps(&fx, "closed exited", |ps| {
        ps_line(ps, "closed").contains("Exited (0)")
    })?;
    contains(&fx.ok(&["logs", "closed"])?, "started\neof\n")?;
    wait_for_log(&fx, "reader", "started")?;
    contains(&ps_line(&fx.ok(&["ps"])?, "reader"), "Up")?;
    check(
        !fx.ok(&["logs", "reader"])?.contains("eof"),
        "-i: the process saw EOF",
    )?;
    fx.ok(&["stop", "-t", "1", "reader"])?;
    let line = ps_line(&fx.ok(&["ps", "-a"])?, "reader");
    check(
        line.contains("Exited (143)") || line.contains("Exited (137)"),
        format!("after stop: {line:?}"),
    )?;
    fx.ok(&["container", "rm", "reader", "closed"])?;

    // -d -i -t together, removed by rm -f while running.
    let id = fx.ok(&["run", "-d", "-i", "-t", "--rm", &img, "cat"])?;
    contains(&fx.ok(&["ps"])?, &id[..12])?;
    fx.ok(&["container", "rm", "-f", id.trim()])?;
    fx.nothing_left()
}

/// A run whose process cannot start fails as docker's (127 not found, 126 not
/// runnable) and leaves no record, upper dir, bundle, mount or runtime state, in the
/// foreground and detached.
fn failed_run(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let rt = runtime.display().to_string();
    let img = fx.image.clone();
    fx.ok(&["pull", "-q", &img])?;
    for detach in [false, true] {
        for (cmd, code, words) in [
            ("/no/such/binary", 127, "no such file or directory"),
            ("nosuchcommand", 127, "executable file not found"),
            ("/etc/passwd", 126, "permission denied"),
        ] {
            let mut args = vec!["run", "--runtime", &rt, "--name", "broken"];
            if detach {
                args.push("-d");
            }
            args.extend([img.as_str(), cmd]);
            let o = fx.out(&args);
            let stderr = String::from_utf8_lossy(&o.stderr).to_lowercase();
            check(
                o.status.code() == Some(code),
                format!("{args:?}: {} (want {code}): {stderr}", o.status),
            )?;
            contains(&stderr, words)?;
            check(
                o.stdout.is_empty() || !detach,
                "a failed run -d printed an id",
            )?;
            fx.nothing_left()?;
            check(
                !fx.ok(&["ps", "-a"])?.contains("broken"),
                "a failed run is listed",
            )?;
        }
        // A volume the runtime cannot mount (a file over a directory).
        let host = fx.env.path("a-file");
        fs::write(&host, "x")?;
        let vol = format!("{}:/etc", host.display());
        let mut args = vec!["run", "--runtime", &rt, "-v", &vol];
        if detach {
            args.push("-d");
        }
        args.extend([img.as_str(), "true"]);
        fx.fails(&args)?;
        fx.nothing_left()?;
    }
    // The name is free again.
    fx.ok(&["run", "--rm", "--name", "broken", &img, "true"])?;
    fx.nothing_left()
}

/// Polls a detached container's log for `needle` (bounded by the container running).
fn wait_for_log(fx: &Fx, name: &str, needle: &str) -> TestResult {
    for _ in 0..600 {
        if fx.ok(&["logs", name])?.contains(needle) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("{needle:?} never appeared in the logs of {name}").into())
}

/// A container's changes (files added, a file deleted, an opaque dir) become an image.
fn commit(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let rt = runtime.display().to_string();
    let img = fx.image.clone();
    fx.ok(&[
        "run", "--name", "c1", "--runtime", &rt, &img, "sh", "-c",
        "mkdir -p /data && echo hi > /data/f && rm /etc/group && rm -rf /tmp && mkdir /tmp && echo new > /tmp/only",
    ])?;
    let id = fx.ok(&["commit", "c1", "committed:1"])?;
    check(
        id.trim().starts_with("sha256:"),
        format!("commit printed {id:?}"),
    )?;
    fx.ok(&["container", "rm", "c1"])?;
    let out = fx.ok(&[
        "run",
        "--rm",
        "--runtime",
        &rt,
        "committed:1",
        "sh",
        "-c",
        "cat /data/f; test -e /etc/group || echo group-gone; ls /tmp; echo FROM_IMAGE=$FROM_IMAGE",
    ])?;
    contains(&out, "hi\n")?;
    contains(&out, "group-gone\n")?;
    contains(&out, "only\n")?;
    check(!out.contains("ready"), "opaque dir leaked lower entries")?;
    contains(&out, "FROM_IMAGE=yes\n")?;
    // The committed image runs its base's command.
    check(
        fx.ok(&["run", "--rm", "committed:1"])? == "image-cmd\n",
        "base command lost",
    )?;
    let history = fx.ok(&["history", "committed:1"])?;
    contains(&history, "mkdir -p /data")?;
    fx.nothing_left()
}

/// Two containers of one image: one unpack, both overlays on the same lower dir, each
/// its own upper.
fn shared_lower() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let img = fx.image.clone();
    let a = fx.ok(&["run", "-d", &img, "sh", "-c", "echo a > /mine; sleep 1000"])?;
    let snapshots = fx.env.store.join("snapshots");
    let lower: Vec<_> = fs::read_dir(&snapshots)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    check(
        lower.len() == 1,
        format!("snapshots after one run: {lower:?}"),
    )?;
    use std::os::unix::fs::MetadataExt;
    let before = fs::metadata(lower[0].join("bin/busybox"))?.ino();
    let b = fx.ok(&["run", "-d", &img, "sh", "-c", "echo b > /mine; sleep 1000"])?;
    let after: Vec<_> = fs::read_dir(&snapshots)?.filter_map(Result::ok).collect();
    check(after.len() == 1, "a second run unpacked the image again")?;
    check(
        fs::metadata(lower[0].join("bin/busybox"))?.ino() == before,
        "the lower dir was rewritten",
    )?;
    let mounts = fs::read_to_string("/proc/self/mounts")?;
    let lowers = mounts
        .lines()
        .filter(|l| l.contains(&format!("lowerdir={}", lower[0].display())))
        .count();
    check(
        lowers == 2,
        format!("{lowers} overlay mounts on the shared lower dir"),
    )?;
    check(
        !lower[0].join("mine").exists(),
        "a container wrote into the shared lower dir",
    )?;
    // The snapshot stays while a container uses the image, and goes with the image.
    fx.ok(&["rmi", &img])?;
    check(
        lower[0].is_dir(),
        "the snapshot went while containers use it",
    )?;
    fx.ok(&["container", "rm", "-f", a.trim(), b.trim()])?;
    fx.ok(&["prune"])?;
    check(!lower[0].exists(), "the snapshot of a removed image stayed")?;
    fx.nothing_left()
}

/// Clear errors, and nothing behind: an image that cannot be pulled, a missing volume
/// source, a name in use, a malformed -p, an unknown network, a command that does not exist.
fn bad_input() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let img = fx.image.clone();
    let missing = img.replace("bb:1", "nope:1");
    let e = fx.fails(&["run", "--rm", &missing])?;
    contains(&e, "nope")?;
    let e = fx.fails(&["run", "-v", "/does/not/exist:/x", &img])?;
    contains(&e, "volume source /does/not/exist does not exist")?;
    let e = fx.fails(&["run", "-p", "80:x", &img])?;
    contains(&e, "-p/--publish")?;
    let e = fx.fails(&["run", "--network", "no-such-network", &img])?;
    contains(&e, "network no-such-network not found")?;
    let e = fx.fails(&["run", "--memory", "lots", &img])?;
    contains(&e, "--memory")?;
    fx.nothing_left()?;
    fx.ok(&["run", "--name", "taken", &img, "true"])?;
    let e = fx.fails(&["run", "--name", "taken", &img, "true"])?;
    contains(&e, "already in use")?;
    fx.ok(&["container", "rm", "taken"])?;
    // Failures after the snapshot is mounted (an unknown user, a bad name) take it away.
    let e = fx.fails(&["run", "-u", "nosuchuser", &img, "true"])?;
    contains(&e, "unable to find user nosuchuser")?;
    let e = fx.fails(&["run", "--name", "bad/name", &img, "true"])?;
    contains(&e, "invalid container name")?;
    fx.nothing_left()?;
    let e = fx.fails(&["logs", "nobody"])?;
    contains(&e, "No such container: nobody")
}

/// --memory, --cpus, --pids-limit (cgroup v1 files seen inside), --cap-add/--cap-drop
/// (the bounding set), -i (stdin reaches the container), -t (a terminal, under script).
fn limits(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let rt = runtime.display().to_string();
    let img = fx.image.clone();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let script = if v2 {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
    };
    let out = fx.ok(&[
        "run",
        "--rm",
        "--runtime",
        &rt,
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        &img,
        "sh",
        "-c",
        script,
    ])?;
    let lines: Vec<&str> = out.lines().collect();
    check(
        lines.first() == Some(&"67108864") && lines.get(1) == Some(&"50"),
        format!("limits seen inside: {out:?}"),
    )?;
    check(
        lines.get(2).is_some_and(|l| l.starts_with("50000")),
        format!("cpu quota seen inside: {out:?}"),
    )?;

    let cap_bnd = |extra: &[&str]| -> Result<String, Failed> {
        let mut args = vec!["run", "--rm", "--runtime", &rt];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&img, "sh", "-c", "grep CapBnd: /proc/self/status | cut -f2"]);
        Ok(fx.ok(&args)?.trim().to_string())
    };
    // docker's 14 default capabilities.
    check(cap_bnd(&[])? == "00000000a80425fb", "default bounding set")?;
    check(
        cap_bnd(&["--cap-drop", "ALL", "--cap-add", "NET_RAW"])? == "0000000000002000",
        "--cap-drop ALL --cap-add NET_RAW",
    )?;
    check(
        cap_bnd(&["--cap-add", "sys_admin", "--cap-drop", "CAP_CHOWN"])? == "00000000a82425fa",
        "--cap-add sys_admin --cap-drop CAP_CHOWN",
    )?;

    // -i: our stdin reaches the container.
    let mut child = fx
        .cmd(&["run", "--rm", "-i", "--runtime", &rt, &img, "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(b"through-stdin\n")?;
    }
    let o = child.wait_with_output()?;
    check(
        String::from_utf8_lossy(&o.stdout) == "through-stdin\n",
        format!("-i output {:?}", String::from_utf8_lossy(&o.stdout)),
    )?;

    // -t: a terminal inside (script gives this test one outside; bsdutils is Essential).
    check(have_tool("script"), "script(1) (bsdutils) not installed")?;
    let line = format!(
        "{} --store {} run --rm -t --runtime {} {} sh -c 'test -t 0 && test -t 1 && echo has-tty'",
        bin(),
        fx.env.store.display(),
        rt,
        img
    );
    let o = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("SANGJA_IMAGE_RUNTIME", &runtime)
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&o.stdout);
    check(
        o.status.success() && text.contains("has-tty"),
        format!("-t: {} {text}", o.status),
    )?;
    fx.nothing_left()
}

/// `run --rm` interrupted as a terminal's Ctrl-C does (SIGINT to the process group):
/// a container that handles SIGINT exits; one that ignores it goes at the third
/// Ctrl-C. Either way nothing is left.
fn ctrl_c(runtime: PathBuf) -> TestResult {
    use std::os::unix::process::CommandExt;
    let fx = Fx::new(runtime.clone())?;
    let rt = runtime.display().to_string();
    let img = fx.image.clone();
    fx.ok(&["pull", "-q", &img])?;
    for (script, presses) in [
        (
            "trap 'echo interrupted; exit 130' INT; echo up; while true; do sleep 0.1; done",
            1,
        ),
        ("trap '' INT; echo up; while true; do sleep 0.1; done", 3),
    ] {
        let child = fx
            .cmd(&["run", "--rm", "--runtime", &rt, &img, "sh", "-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let mut child = child;
        let pgid = child.id() as i32;
        // Up: the script printed "up" after setting its trap.
        let mut stdout = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first)?;
        if first != "up\n" {
            // SAFETY: the group we made.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let o = child.wait_with_output()?;
            return Err(format!(
                "the container never came up: {first:?} {}",
                String::from_utf8_lossy(&o.stderr)
            )
            .into());
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        for _ in 0..presses {
            // SAFETY: signalling the process group this test made.
            unsafe { libc::kill(-pgid, libc::SIGINT) };
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest)?;
        let status = child.wait()?;
        check(
            !status.success(),
            format!("an interrupted run succeeded: {rest}"),
        )?;
        // Whether "interrupted" is printed depends on the runtime having set up its
        // signal forwarding when the first SIGINT lands: not asserted.
        fx.nothing_left()?;
    }
    Ok(())
}

fn exec_sangja() -> TestResult {
    exec_in(sangja_bin())
}
fn exec_runc() -> TestResult {
    exec_in(runc_bin())
}
fn create_start_sangja() -> TestResult {
    create_start(sangja_bin())
}
fn cp_export_sangja() -> TestResult {
    cp_export(sangja_bin())
}

/// A detached container that marks itself ready in /tmp/ready and runs until stopped.
fn start_waiting(fx: &Fx, name: &str, extra: &[&str], setup: &str) -> Result<String, Failed> {
    let script =
        format!("{setup}; trap 'exit 0' TERM; touch /tmp/ready; while true; do sleep 0.1; done");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    let img = fx.image.clone();
    args.extend([img.as_str(), "sh", "-c", script.as_str()]);
    let id = fx.ok(&args)?.trim().to_string();
    for _ in 0..600 {
        if fx
            .out(&["exec", name, "test", "-f", "/tmp/ready"])
            .status
            .success()
        {
            return Ok(id);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("container {name} never became ready").into())
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// exec: the container's env, namespaces and root; docker's -e/-w/-u/-i/-d/--privileged;
/// exit statuses passed back (126/127 when the process cannot start); a stopped
/// container refused with docker's message.
fn exec_in(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let id = start_waiting(&fx, "ex", &["-e", "FROM_RUN=1"], "echo inside > /tmp/mark")?;

    // The exec'd process is in the container: its env, its files, its namespaces.
    let out = fx.ok(&[
        "exec",
        "ex",
        "sh",
        "-c",
        "echo $FROM_RUN $FROM_IMAGE; cat /tmp/mark; hostname; \
         for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done",
    ])?;
    let lines: Vec<&str> = out.lines().collect();
    check(lines.len() == 8, format!("exec output {out:?}"))?;
    check(lines[0] == "1 yes", format!("env {:?}", lines[0]))?;
    check(lines[1] == "inside", format!("file {:?}", lines[1]))?;
    check(lines[2] == &id[..12], format!("hostname {:?}", lines[2]))?;
    let pid = fx.ok(&["inspect", "-f", "{{.State.Pid}}", "ex"])?;
    let pid = pid.trim();
    check(pid != "0" && !pid.is_empty(), format!("State.Pid {pid:?}"))?;
    for (i, n) in ["pid", "mnt", "uts", "ipc", "net"].iter().enumerate() {
        let host = fs::read_link(format!("/proc/{pid}/ns/{n}"))?;
        let host_own = fs::read_link(format!("/proc/self/ns/{n}"))?;
        check(
            lines[3 + i] == host.display().to_string(),
            format!(
                "{n}: exec in {:?}, container init in {}",
                lines[3 + i],
                host.display()
            ),
        )?;
        check(
            host != host_own,
            format!("the container shares the host's {n} namespace"),
        )?;
    }
    // PID 1 in there is the container's shell.
    contains(&fx.ok(&["exec", "ex", "cat", "/proc/1/cmdline"])?, "trap")?;

    // Flags.
    let out = fx.ok(&[
        "exec",
        "-e",
        "X=2",
        "-w",
        "/tmp",
        "-u",
        "bob",
        "ex",
        "sh",
        "-c",
        "echo $X; pwd; id -u",
    ])?;
    check(out == "2\n/tmp\n1000\n", format!("-e -w -u: {out:?}"))?;
    let mut child = fx
        .cmd(&["exec", "-i", "ex", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(b"through stdin\n")?;
    }
    let o = child.wait_with_output()?;
    check(
        String::from_utf8_lossy(&o.stdout) == "through stdin\n",
        format!(
            "-i: {:?} {}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        ),
    )?;
    let plain = fx.ok(&["exec", "ex", "grep", "CapEff", "/proc/self/status"])?;
    let privileged = fx.ok(&[
        "exec",
        "--privileged",
        "ex",
        "grep",
        "CapEff",
        "/proc/self/status",
    ])?;
    check(
        plain != privileged,
        format!("--privileged changed nothing: {plain:?}"),
    )?;
    check(
        fx.ok(&["exec", "-d", "ex", "sh", "-c", "echo detached > /tmp/d"])?
            .is_empty(),
        "exec -d printed something",
    )?;
    let mut seen = false;
    for _ in 0..200 {
        if fx.out(&["exec", "ex", "cat", "/tmp/d"]).stdout == b"detached\n" {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check(seen, "exec -d's process never ran")?;

    // Exit statuses as docker's.
    check(
        code(&fx.out(&["exec", "ex", "sh", "-c", "exit 5"])) == Some(5),
        "exit 5",
    )?;
    let o = fx.out(&["exec", "ex", "no-such-program"]);
    check(
        code(&o) == Some(127),
        format!("not found: {} {}", o.status, stderr(&o)),
    )?;
    let o = fx.out(&["exec", "ex", "/etc/passwd"]);
    check(
        code(&o) == Some(126),
        format!("not executable: {} {}", o.status, stderr(&o)),
    )?;

    // A stopped container: docker's message, exit 1.
    fx.ok(&["stop", "ex"])?;
    let o = fx.out(&["exec", "ex", "true"]);
    check(code(&o) == Some(1), format!("exec stopped: {}", o.status))?;
    contains(&stderr(&o), &format!("Container {id} is not running"))?;
    fx.ok(&["rm", "ex"])?;
    fx.nothing_left()
}

/// create (not started: `Created`), start -a (output and exit status), wait, rename,
/// pause/unpause (`(Paused)` in ps, exec refused), top, inspect of containers, rm.
fn create_start(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let img = fx.image.clone();
    let id = fx.ok(&[
        "create",
        "--name",
        "cr",
        &img,
        "sh",
        "-c",
        "echo started-$(cat /count 2>/dev/null); echo x >> /count; exit 4",
    ])?;
    let id = id.trim().to_string();
    check(id.len() == 64, format!("create printed {id:?}"))?;
    contains(&ps_line(&fx.ok(&["ps", "-a"])?, "cr"), "Created")?;
    check(
        !fx.ok(&["ps"])?.contains("cr"),
        "a created container counts as running",
    )?;
    check(
        fx.ok(&["inspect", "-f", "{{.State.Status}}", "cr"])? == "created\n",
        "inspect of a created container",
    )?;
    check(
        fx.mounts().is_empty(),
        format!("create left mounts: {:?}", fx.mounts()),
    )?;

    // start -a: its output, its exit status.
    let o = fx.out(&["start", "-a", "cr"]);
    check(
        code(&o) == Some(4),
        format!("start -a: {} {}", o.status, stderr(&o)),
    )?;
    check(
        String::from_utf8_lossy(&o.stdout) == "started-\n",
        format!("start -a output {:?}", String::from_utf8_lossy(&o.stdout)),
    )?;
    check(
        fx.ok(&["wait", "cr"])? == "4\n",
        "wait of an exited container",
    )?;
    contains(&ps_line(&fx.ok(&["ps", "-a"])?, "cr"), "Exited (4)")?;

    // rename: the old name is gone, the new one finds it.
    fx.ok(&["rename", "cr", "cr2"])?;
    contains(&fx.fails(&["inspect", "cr"])?, "No such object: cr")?;
    check(
        fx.ok(&[
            "container",
            "inspect",
            "-f",
            "{{.Name}} {{.State.ExitCode}}",
            "cr2",
        ])? == "/cr2 4\n",
        "inspect after rename",
    )?;
    // start (detached) of the stopped container, then wait: the same layer ran again.
    fx.ok(&["start", "cr2"])?;
    check(fx.ok(&["wait", "cr2"])? == "4\n", "wait after start")?;
    contains(&fx.ok(&["logs", "cr2"])?, "started-x\n")?;

    // pause / unpause / top.
    let pid_name = "pz";
    start_waiting(&fx, pid_name, &[], "true")?;
    fx.ok(&["rename", "pz", "cr2"])
        .err()
        .ok_or("rename onto a taken name succeeded")?;
    fx.ok(&["pause", "pz"])?;
    contains(&ps_line(&fx.ok(&["ps"])?, "pz"), "(Paused)")?;
    check(
        fx.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "pz"])? == "paused true\n",
        "inspect of a paused container",
    )?;
    let o = fx.out(&["exec", "pz", "true"]);
    check(code(&o) == Some(1), format!("exec paused: {}", o.status))?;
    contains(&stderr(&o), "is paused")?;
    contains(&fx.fails(&["pause", "pz"])?, "is paused")?;
    fx.ok(&["unpause", "pz"])?;
    contains(&fx.fails(&["unpause", "pz"])?, "is not paused")?;
    let top = fx.ok(&["top", "pz"])?;
    contains(&top, "PID")?;
    contains(&top, "touch /tmp/ready")?;
    check(top.lines().count() >= 2, format!("top: {top}"))?;
    contains(&fx.fails(&["top", "cr2"])?, "is not running")?;

    // ps: --filter and --format.
    let names = fx.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"])?;
    check(
        names.lines().any(|l| l == "pz running") && names.lines().any(|l| l == "cr2 exited"),
        format!("ps --format: {names}"),
    )?;
    let exited = fx.ok(&["ps", "--filter", "status=exited", "--format", "{{.Names}}"])?;
    check(exited == "cr2\n", format!("status=exited: {exited:?}"))?;
    let running = fx.ok(&["ps", "-a", "-q", "--filter", "name=pz"])?;
    check(
        running.trim().len() == 12,
        format!("name=pz -q: {running:?}"),
    )?;
    let both = fx.ok(&[
        "ps",
        "-a",
        "--filter",
        "exited=4",
        "--filter",
        "name=cr",
        "--format",
        "{{.Names}}",
    ])?;
    check(both == "cr2\n", format!("exited=4 + name=cr: {both:?}"))?;
    let since = fx.ok(&[
        "ps",
        "-a",
        "--filter",
        "since=cr2",
        "--format",
        "{{.Names}}",
    ])?;
    check(since == "pz\n", format!("since=cr2: {since:?}"))?;
    let json = fx.ok(&["ps", "--format", "json"])?;
    let row: serde_json::Value = serde_json::from_str(json.lines().next().unwrap_or("{}"))?;
    check(
        row["Names"] == "pz" && row["State"] == "running",
        format!("ps json: {json}"),
    )?;

    // rm means containers: a running one needs -f.
    contains(&fx.fails(&["rm", "pz"])?, "is running")?;
    fx.ok(&["rm", "-f", "pz"])?;
    fx.ok(&["rm", "cr2"])?;
    // create of an image the store lacks pulls it; a failed create leaves nothing.
    let o = fx.out(&["create", "--name", "bad name", &img]);
    check(
        code(&o) == Some(125),
        format!("create with a bad name: {}", o.status),
    )?;
    // container prune removes what is not running.
    fx.ok(&["create", "--name", "c-prune", &img])?;
    contains(&fx.ok(&["container", "prune", "-f"])?, "Deleted Containers")?;
    fx.nothing_left()
}

/// cp both ways (files, directories, symlinks, `-` tar streams), running and stopped,
/// every container path resolved in the container's root; export.
fn cp_export(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let host = fx.env.path("cp");
    fs::create_dir_all(&host)?;
    let h = |p: &str| host.join(p).display().to_string();
    start_waiting(
        &fx,
        "cpc",
        &[],
        "mkdir -p /data; echo container-shadow > /etc/shadow; ln -s /etc/shadow /data/link; \
         ln -s /etc /data/etclink; ln -s ../../../../../../etc /data/up; echo hi > /data/f",
    )?;

    // Files out: plain, through a symlinked parent, a link followed (-L) or kept.
    fx.ok(&["cp", "cpc:/data/f", &h("f")])?;
    check(
        fs::read_to_string(host.join("f"))? == "hi\n",
        "cp of a file",
    )?;
    fx.ok(&["cp", "-L", "cpc:/data/link", &h("shadow")])?;
    check(
        fs::read_to_string(host.join("shadow"))? == "container-shadow\n",
        "cp -L of a link to /etc/shadow did not copy the container's file",
    )?;
    fx.ok(&["cp", "cpc:/data/etclink/shadow", &h("shadow2")])?;
    check(
        fs::read_to_string(host.join("shadow2"))? == "container-shadow\n",
        "a symlinked parent led out of the container",
    )?;
    fx.ok(&["cp", "cpc:/data/up/shadow", &h("shadow3")])?;
    check(
        fs::read_to_string(host.join("shadow3"))? == "container-shadow\n",
        "a ../ symlink led out of the container",
    )?;
    fx.ok(&["cp", "cpc:/data/link", &h("kept-link")])?;
    check(
        fs::read_link(host.join("kept-link"))? == Path::new("/etc/shadow"),
        "cp without -L did not keep the link",
    )?;
    // A directory: to a new name, and into an existing directory.
    fx.ok(&["cp", "cpc:/data", &h("d-new")])?;
    check(
        host.join("d-new/f").is_file(),
        "cp of a directory to a new name",
    )?;
    fs::create_dir_all(host.join("existing"))?;
    fx.ok(&["cp", "cpc:/data", &h("existing")])?;
    check(
        host.join("existing/data/f").is_file(),
        "cp into an existing directory",
    )?;
    // To stdout as a tar stream.
    let o = fx.out(&["cp", "cpc:/data", "-"]);
    check(o.status.success(), format!("cp to -: {}", stderr(&o)))?;
    let mut names = Vec::new();
    for e in tar::Archive::new(&o.stdout[..]).entries()? {
        names.push(e?.path()?.display().to_string());
    }
    check(
        names.iter().any(|n| n == "data/f") && names.iter().any(|n| n.starts_with("data")),
        format!("tar entries {names:?}"),
    )?;
    contains(
        &fx.fails(&["cp", "cpc:/nope", &h("x")])?,
        "Could not find the file /nope",
    )?;

    // Files in: into a directory, through a symlinked parent (stays in the container).
    fs::write(host.join("in.txt"), "from-host\n")?;
    fx.ok(&["cp", &h("in.txt"), "cpc:/data/"])?;
    check(
        fx.ok(&["exec", "cpc", "cat", "/data/in.txt"])? == "from-host\n",
        "cp in",
    )?;
    fx.ok(&["cp", &h("in.txt"), "cpc:/data/etclink/sangja-cp-21-probe"])?;
    check(
        !Path::new("/etc/sangja-cp-21-probe").exists(),
        "cp into the container wrote to the host's /etc",
    )?;
    check(
        fx.ok(&["exec", "cpc", "cat", "/etc/sangja-cp-21-probe"])? == "from-host\n",
        "cp through a symlinked parent missed the container's /etc",
    )?;
    // A tar stream from stdin; one with a `..` entry is refused and writes nothing.
    let good = RawTar::new().file("from-tar", b"tarred\n").finish();
    let o = pipe_in(&fx, &["cp", "-", "cpc:/data"], &good)?;
    check(o.status.success(), format!("cp - : {}", stderr(&o)))?;
    check(
        fx.ok(&["exec", "cpc", "cat", "/data/from-tar"])? == "tarred\n",
        "cp - in",
    )?;
    let evil = RawTar::new().file("../../escaped-21", b"x").finish();
    let o = pipe_in(&fx, &["cp", "-", "cpc:/data"], &evil)?;
    check(!o.status.success(), "a tar with .. was accepted")?;
    check(
        fx.out(&["exec", "cpc", "ls", "/escaped-21"]).status.code() != Some(0),
        "the .. entry was written",
    )?;

    // Stopped: both ways still work, and the root is unmounted again.
    fx.ok(&["stop", "cpc"])?;
    fx.ok(&["cp", "cpc:/data/f", &h("f-stopped")])?;
    check(
        host.join("f-stopped").is_file(),
        "cp out of a stopped container",
    )?;
    fs::write(host.join("later.txt"), "later\n")?;
    fx.ok(&["cp", &h("later.txt"), "cpc:/data/later.txt"])?;
    check(
        fx.mounts().is_empty(),
        format!("cp left mounts: {:?}", fx.mounts()),
    )?;

    // export: the whole filesystem, the copied file included.
    let tar_path = host.join("export.tar");
    fx.ok(&["export", "-o", &tar_path.display().to_string(), "cpc"])?;
    let mut names = Vec::new();
    for e in tar::Archive::new(fs::File::open(&tar_path)?).entries()? {
        names.push(e?.path()?.display().to_string());
    }
    for want in ["bin/busybox", "data/f", "data/later.txt", "etc/shadow"] {
        check(
            names.iter().any(|n| n == want),
            format!("export lacks {want}: {} entries", names.len()),
        )?;
    }
    check(
        fx.mounts().is_empty(),
        format!("export left mounts: {:?}", fx.mounts()),
    )?;
    fx.ok(&["start", "cpc"])?;
    check(
        fx.ok(&["exec", "cpc", "cat", "/data/later.txt"])? == "later\n",
        "a file copied into the stopped container is gone after start",
    )?;
    fx.ok(&["rm", "-f", "cpc"])?;
    fx.nothing_left()
}

fn pipe_in(fx: &Fx, args: &[&str], data: &[u8]) -> Result<Output, Failed> {
    use std::io::Write;
    let mut child = fx
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().ok_or("no stdin")?.write_all(data)?;
    Ok(child.wait_with_output()?)
}

fn volumes_sangja() -> TestResult {
    volumes(sangja_bin())
}

fn volume_names(fx: &Fx) -> Result<Vec<String>, Failed> {
    Ok(fx
        .ok(&["volume", "ls", "-q"])?
        .lines()
        .map(str::to_string)
        .collect())
}

/// Named volumes (made on first use, seeded from the image while empty, surviving
/// their containers, refused removal while used), anonymous ones (image VOLUME, bare
/// `-v /path`, gone with `rm -v` and `--rm`), `--mount` and `--tmpfs`, prune.
fn volumes(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let img = fx.image.clone();
    check(
        fx.ok(&["volume", "create", "v1"])? == "v1\n",
        "volume create",
    )?;
    let ls = fx.ok(&["volume", "ls"])?;
    check(
        ls.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["local", "v1"]),
        format!("volume ls: {ls}"),
    )?;
    let mp = fx.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "v1"])?;
    check(Path::new(mp.trim()).is_dir(), format!("Mountpoint {mp:?}"))?;

    // Data survives the container and is seen by the next one.
    fx.ok(&[
        "run",
        "--rm",
        "-v",
        "v1:/data",
        &img,
        "sh",
        "-c",
        "echo persisted > /data/f",
    ])?;
    check(
        fx.ok(&["run", "--rm", "-v", "v1:/data", &img, "cat", "/data/f"])? == "persisted\n",
        "a volume's data did not survive its container",
    )?;
    // A new named volume is made on first use and seeded from the image's path.
    let out = fx.ok(&["run", "--rm", "-v", "seeded:/etc", &img, "ls", "/etc"])?;
    contains(&out, "passwd")?;
    let mp = fx.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "seeded"])?;
    check(
        Path::new(mp.trim()).join("passwd").is_file(),
        "the new volume was not seeded from the image",
    )?;

    // In use: refused, with docker's message, exit 1; the data stays.
    start_waiting(&fx, "vu", &["-v", "v1:/data"], "true")?;
    let o = fx.out(&["volume", "rm", "v1"]);
    check(
        code(&o) == Some(1),
        format!("volume rm in use: {}", o.status),
    )?;
    contains(&stderr(&o), "volume is in use")?;
    check(
        volume_names(&fx)?.contains(&"v1".to_string()),
        "v1 went while in use",
    )?;
    fx.ok(&["rm", "-f", "vu"])?;
    fx.ok(&["volume", "rm", "v1"])?;
    contains(
        &fx.fails(&["volume", "inspect", "v1"])?,
        "No such volume: v1",
    )?;

    // Anonymous volumes: the image's VOLUME, gone with rm -v; a bare -v /path with --rm.
    fx.env
        .busybox_image("withvol:1", &["VOLUME /cache", r#"CMD ["sh"]"#])?;
    let before = volume_names(&fx)?;
    fx.ok(&[
        "run",
        "--name",
        "an",
        "withvol:1",
        "sh",
        "-c",
        "echo a > /cache/x",
    ])?;
    let after = volume_names(&fx)?;
    let anon: Vec<&String> = after.iter().filter(|v| !before.contains(v)).collect();
    check(
        anon.len() == 1 && anon[0].len() == 64,
        format!("anonymous volumes {anon:?}"),
    )?;
    let mounts = fx.ok(&["inspect", "-f", "{{json .Mounts}}", "an"])?;
    contains(&mounts, "\"Type\":\"volume\"")?;
    contains(&mounts, "\"Destination\":\"/cache\"")?;
    fx.ok(&["rm", "-v", "an"])?;
    check(
        volume_names(&fx)? == before,
        "rm -v left the anonymous volume",
    )?;
    fx.ok(&["run", "--rm", "-v", "/anon", &img, "touch", "/anon/x"])?;
    check(
        volume_names(&fx)? == before,
        "--rm left the anonymous volume",
    )?;

    // --mount and --tmpfs.
    let host = fx.env.path("bind-src");
    fs::create_dir_all(&host)?;
    let bind = format!("type=bind,source={},target=/b,readonly", host.display());
    let out = fx.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=m1,target=/m",
        "--mount",
        &bind,
        "--mount",
        "type=tmpfs,target=/t",
        "--tmpfs",
        "/t2:size=1m",
        &img,
        "sh",
        "-c",
        "echo in-m1 > /m/f; touch /b/x 2>/dev/null || echo bind-ro; grep -E ' /t2? ' /proc/mounts",
    ])?;
    contains(&out, "bind-ro\n")?;
    contains(&out, "tmpfs /t tmpfs")?;
    contains(&out, "tmpfs /t2 tmpfs")?;
    contains(&out, "size=1024k")?;
    check(
        fx.ok(&["run", "--rm", "-v", "m1:/m", &img, "cat", "/m/f"])? == "in-m1\n",
        "--mount type=volume did not use the named volume",
    )?;
    let o = fx.out(&["run", "--rm", "-v", "bad!name:/x", &img, "true"]);
    check(
        code(&o) == Some(125),
        format!("bad volume name: {}", o.status),
    )?;
    contains(&stderr(&o), "bad!name")?;

    // prune: unused anonymous volumes only; -a takes unused named ones too.
    fx.ok(&["create", "--name", "keeper", "-v", "kept:/k", &img])?;
    fx.ok(&["create", "--name", "anon2", "withvol:1"])?;
    fx.ok(&["rm", "anon2"])?;
    let anon_left = volume_names(&fx)?
        .into_iter()
        .filter(|v| v.len() == 64)
        .count();
    check(
        anon_left == 1,
        format!("{anon_left} anonymous volumes after rm without -v"),
    )?;
    fx.ok(&["volume", "prune", "-f"])?;
    let left = volume_names(&fx)?;
    check(
        left.iter().all(|v| v.len() != 64) && left.contains(&"m1".to_string()),
        format!("prune: {left:?}"),
    )?;
    fx.ok(&["volume", "prune", "-f", "-a"])?;
    check(
        volume_names(&fx)? == ["kept"],
        format!("prune -a: {:?}", volume_names(&fx)?),
    )?;
    fx.ok(&["rm", "keeper"])?;
    fx.ok(&["volume", "rm", "kept"])?;
    fx.nothing_left()
}

fn restart_sangja() -> TestResult {
    restart(sangja_bin())
}

/// `--restart on-failure:2` restarts exactly twice (the count in the record and
/// inspect); `always` restarts a clean exit until `stop`, which wins.
fn restart(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let img = fx.image.clone();
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "rs",
        "--restart",
        "on-failure:2",
        &img,
        "sh",
        "-c",
        "echo run-$(cat /n 2>/dev/null); echo x >> /n; exit 3",
    ])?;
    check(fx.ok(&["wait", "rs"])? == "3\n", "wait after the restarts")?;
    let logs = fx.ok(&["logs", "rs"])?;
    check(
        logs == "run-\nrun-x\nrun-x x\n",
        format!("three runs in the log: {logs:?}"),
    )?;
    check(
        fx.ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}",
            "rs",
        ])? == "2 3 on-failure\n",
        "RestartCount after on-failure:2",
    )?;
    let rec: serde_json::Value = serde_json::from_str(&fs::read_to_string(
        fx.containers_dir()
            .join(fx.ok(&["inspect", "-f", "{{.Id}}", "rs"])?.trim())
            .join("container.json"),
    )?)?;
    check(rec["restart_count"] == 2, format!("record: {rec}"))?;
    // A clean exit is not a failure.
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--restart",
        "on-failure",
        &img,
        "true",
    ])?;
    check(fx.ok(&["wait", "ok"])? == "0\n", "wait of a clean exit")?;
    check(
        fx.ok(&["inspect", "-f", "{{.RestartCount}}", "ok"])? == "0\n",
        "on-failure restarted a clean exit",
    )?;
    // always: restarted after a clean exit, until stop.
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "al",
        "--restart",
        "always",
        &img,
        "sh",
        "-c",
        "echo up; sleep 0.2",
    ])?;
    let mut restarted = false;
    for _ in 0..600 {
        if fx.ok(&["logs", "al"])?.matches("up").count() >= 2 {
            restarted = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check(restarted, "always did not restart")?;
    fx.ok(&["stop", "-t", "1", "al"])?;
    let n = fx.ok(&["logs", "al"])?.matches("up").count();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    check(
        fx.ok(&["logs", "al"])?.matches("up").count() == n && !fx.ok(&["ps"])?.contains("al"),
        "restarted after stop",
    )?;
    // Bad input: docker's conflicts.
    let o = fx.out(&["run", "--rm", "-d", "--restart", "always", &img, "true"]);
    check(
        code(&o) == Some(125),
        format!("--rm with --restart: {}", o.status),
    )?;
    contains(&stderr(&o), "conflicting options")?;
    let o = fx.out(&["run", "-d", "--restart", "sometimes", &img, "true"]);
    check(code(&o) == Some(125), format!("bad policy: {}", o.status))?;
    fx.ok(&["rm", "rs", "ok", "al"])?;
    fx.nothing_left()
}

fn isolation_sangja() -> TestResult {
    isolation(sangja_bin())
}

fn isolation_runc() -> TestResult {
    isolation(runc_bin())
}

/// `--security-opt no-new-privileges`, `--ulimit`, `--device`, `--pid/--ipc/--uts host`,
/// `--pid/--ipc container:NAME`, `--privileged`, `--stop-signal`/`--stop-timeout`, each
/// seen from inside the container; bad values refused naming the flag, nothing made.
fn isolation(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime.clone())?;
    let rt = runtime.display().to_string();
    let img = fx.image.clone();
    let run = |flags: &[&str], script: &str| -> Result<String, Failed> {
        let mut args = vec!["run", "--rm", "--network", "none", "--runtime", &rt];
        args.extend(flags);
        args.extend([img.as_str(), "sh", "-c", script]);
        fx.ok(&args)
    };
    let out = run(
        &["--security-opt", "no-new-privileges"],
        "grep NoNewPrivs /proc/self/status",
    )?;
    check(out.contains("1"), format!("no-new-privileges: {out:?}"))?;
    let out = run(&[], "grep NoNewPrivs /proc/self/status")?;
    check(out.contains("0"), format!("default NoNewPrivs: {out:?}"))?;

    let out = run(&["--ulimit", "nofile=1024:2048"], "ulimit -n; ulimit -Hn")?;
    check(out == "1024\n2048\n", format!("--ulimit nofile: {out:?}"))?;

    let out = run(
        &["--device", "/dev/null:/dev/sjnull:rw"],
        "stat -c %t:%T /dev/sjnull && echo gone > /dev/sjnull && echo wrote",
    )?;
    check(out == "1:3\nwrote\n", format!("--device: {out:?}"))?;

    let host_init = fs::read_to_string("/proc/1/comm")?;
    let out = run(&["--pid", "host"], "cat /proc/1/comm")?;
    check(
        out == host_init,
        format!("--pid host sees PID 1 {out:?}, the host's is {host_init:?}"),
    )?;
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname")?;
    let out = run(&["--uts", "host"], "hostname")?;
    check(
        out.trim() == host_name.trim(),
        format!("--uts host: {out:?} vs {host_name:?}"),
    )?;
    let host_ipc = fs::read_link("/proc/self/ns/ipc")?;
    let out = run(&["--ipc", "host"], "readlink /proc/self/ns/ipc")?;
    check(
        out.trim() == host_ipc.to_string_lossy(),
        format!("--ipc host: {out:?} vs {host_ipc:?}"),
    )?;

    fx.ok(&[
        "run",
        "-d",
        "--name",
        "iso-peer",
        "--network",
        "none",
        "--runtime",
        &rt,
        &img,
        "sleep",
        "1000",
    ])?;
    let peer = |ns: &str| {
        fx.ok(&[
            "exec",
            "iso-peer",
            "readlink",
            &format!("/proc/self/ns/{ns}"),
        ])
    };
    let (peer_pid, peer_ipc) = (peer("pid")?, peer("ipc")?);
    let out = run(
        &["--pid", "container:iso-peer", "--ipc", "container:iso-peer"],
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; cat /proc/1/comm",
    )?;
    check(
        out == format!("{peer_pid}{peer_ipc}sleep\n"),
        format!("container: namespaces {out:?}, the peer's: {peer_pid:?} {peer_ipc:?}"),
    )?;
    fx.ok(&["rm", "-f", "iso-peer"])?;

    fx.ok(&[
        "run",
        "-d",
        "--name",
        "iso-label",
        "--network",
        "none",
        "--runtime",
        &rt,
        "--label",
        "tier=web",
        "-l",
        "bare",
        &img,
        "true",
    ])?;
    fx.ok(&["wait", "iso-label"])?;
    let shown = fx.ok(&[
        "inspect",
        "--format",
        "{{.Config.Labels.tier}}",
        "iso-label",
    ])?;
    let listed = fx.ok(&["ps", "-a", "-q", "--filter", "label=tier=web"])?;
    let none = fx.ok(&["ps", "-a", "-q", "--filter", "label=tier=db"])?;
    fx.ok(&["rm", "iso-label"])?;
    check(
        shown.trim() == "web",
        format!("--label in inspect: {shown:?}"),
    )?;
    check(
        listed.lines().count() == 1 && none.trim().is_empty(),
        format!("ps --filter label: {listed:?} / {none:?}"),
    )?;

    let out = run(
        &["--privileged"],
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; test -e /dev/loop-control && echo loop; \
         grep -c . /proc/self/mountinfo >/dev/null; mount | grep ' /sys ' | grep -c '(rw'",
    )?;
    let own_eff = fs::read_to_string("/proc/self/status")?
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .unwrap_or_default()
        .to_string();
    check(
        out.contains(&own_eff) && out.contains("Seccomp:\t0"),
        format!("--privileged: {out:?}, want {own_eff:?} and no seccomp"),
    )?;
    check(
        !Path::new("/dev/loop-control").exists() || out.contains("loop\n"),
        format!("--privileged has the host's devices: {out:?}"),
    )?;
    check(
        out.trim_end().ends_with('1'),
        format!("--privileged /sys is writable: {out:?}"),
    )?;

    // The stop signal reaches the process (a trap prints it) and the timeout is kept.
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "iso-stop",
        "--network",
        "none",
        "--runtime",
        &rt,
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "30",
        &img,
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done",
    ])?;
    wait_for_log(&fx, "iso-stop", "ready")?;
    fx.ok(&["stop", "iso-stop"])?;
    let logs = fx.ok(&["logs", "iso-stop"])?;
    check(
        logs.contains("got-usr1"),
        format!("--stop-signal SIGUSR1: logs {logs:?}"),
    )?;
    let kept = fx.ok(&[
        "inspect",
        "--format",
        "{{.Config.StopSignal}} {{.Config.StopTimeout}}",
        "iso-stop",
    ])?;
    fx.ok(&["rm", "iso-stop"])?;
    check(kept.trim() == "SIGUSR1 30", format!("inspect: {kept:?}"))?;

    for (flags, needle) in [
        (vec!["--ulimit", "nofile=x"], "--ulimit"),
        (vec!["--ulimit", "bogus=1"], "--ulimit"),
        (vec!["--device", "/etc/passwd"], "--device"),
        (vec!["--pid", "sideways"], "--pid"),
        (vec!["--ipc", "container:no-such-iso"], "No such container"),
        (vec!["--uts", "host", "--hostname", "x"], "--hostname"),
        (vec!["--stop-signal", "SIGNOPE"], "--stop-signal"),
        (
            vec!["--security-opt", "no-new-privileges:maybe"],
            "--security-opt",
        ),
    ] {
        let mut args = vec!["run", "--rm", "--runtime", &rt];
        args.extend(flags.iter());
        args.extend([img.as_str(), "true"]);
        let err = fx.fails(&args)?;
        contains(&err, needle).map_err(|e| format!("{flags:?}: {}", e.message().unwrap_or("")))?;
    }
    fx.nothing_left()
}

fn health_sangja() -> TestResult {
    health(sangja_bin())
}

fn health_runc() -> TestResult {
    health(runc_bin())
}

/// Polls `inspect -f TEMPLATE` until `pred` holds (a deadline, not a timing assertion).
fn wait_for_inspect(
    fx: &Fx,
    template: &str,
    name: &str,
    pred: impl Fn(&str) -> bool,
) -> Result<String, Failed> {
    let mut last = String::new();
    for _ in 0..600 {
        last = fx.ok(&["inspect", "-f", template, name])?;
        if pred(last.trim()) {
            return Ok(last.trim().to_string());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("inspect {template} of {name} never held; last: {last:?}").into())
}

fn health_state(fx: &Fx, name: &str) -> Result<serde_json::Value, Failed> {
    Ok(serde_json::from_str(&fx.ok(&[
        "inspect",
        "-f",
        "{{json .State.Health}}",
        name,
    ])?)?)
}

/// The image's HEALTHCHECK probed by exec in the container: unhealthy after `retries`
/// failures, healthy once the probe passes (from a file an exec made), in `ps`,
/// `inspect` and `ps --filter health=`; `--health-*` over the image's, the start period
/// not counting failures, a probe past its timeout killed and failed, the output kept,
/// `--no-healthcheck`, unhealthy once stopped and no checker left; bad flags refused
/// with docker's status before anything is made.
fn health(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime)?;
    let img = fx.image.clone();
    fx.ok(&["pull", "-q", &img])?;
    let ctx = fx.env.path("hc-context");
    fs::create_dir_all(&ctx)?;
    fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {img}\nHEALTHCHECK --interval=100ms --timeout=5s --retries=2 CMD test -f /tmp/ok\n"
        ),
    )?;
    fx.ok(&["build", "-q", "-t", "hc:1", ctx.to_str().unwrap()])?;
    fx.ok(&["run", "-d", "--name", "h", "hc:1", "sleep", "1000"])?;
    let test = fx.ok(&["inspect", "-f", "{{json .Config.Healthcheck.Test}}", "h"])?;
    check(
        test.trim() == r#"["CMD-SHELL","test -f /tmp/ok"]"#,
        format!("Config.Healthcheck from the image: {test}"),
    )?;
    wait_for_ps(&fx, "h unhealthy", |ps| {
        ps_line(ps, "h").contains("(unhealthy)")
    })?;
    let h = health_state(&fx, "h")?;
    check(
        h["Status"] == "unhealthy" && h["FailingStreak"].as_u64() >= Some(2),
        format!("State.Health after failures: {h}"),
    )?;
    fx.ok(&["exec", "h", "touch", "/tmp/ok"])?;
    wait_for_ps(&fx, "h healthy", |ps| {
        ps_line(ps, "h").contains("(healthy)")
    })?;
    let h = health_state(&fx, "h")?;
    let last = h["Log"]
        .as_array()
        .and_then(|l| l.last())
        .cloned()
        .unwrap_or_default();
    check(
        h["FailingStreak"] == 0
            && last["ExitCode"] == 0
            && h["Log"].as_array().map_or(0, Vec::len) <= 5,
        format!("State.Health once healthy: {h}"),
    )?;
    let id = fx.ok(&["inspect", "-f", "{{.Id}}", "h"])?;
    check(
        fx.ok(&["ps", "-q", "--no-trunc", "--filter", "health=healthy"])? == id,
        "ps --filter health=healthy",
    )?;
    check(
        fx.ok(&["ps", "-q", "--filter", "health=unhealthy"])?
            .is_empty(),
        "ps --filter health=unhealthy",
    )?;
    // The flags over the image's: a shell probe, its output kept.
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "f",
        "--health-cmd",
        "echo probe-out; exit 1",
        "--health-retries",
        "1",
        "hc:1",
        "sleep",
        "1000",
    ])?;
    wait_for_inspect(&fx, "{{.State.Health.Status}}", "f", |s| s == "unhealthy")?;
    let h = health_state(&fx, "f")?;
    check(
        h["Log"][0]["Output"] == "probe-out\n" && h["Log"][0]["ExitCode"] == 1,
        format!("the probe's output and status: {h}"),
    )?;
    check(
        fx.ok(&["inspect", "-f", "{{json .Config.Healthcheck}}", "f"])?
            .contains(r#""Interval":100000000"#),
        "the image's interval kept under --health-cmd",
    )?;
    // The start period: failures are not counted while nothing has passed.
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "sp",
        "--health-cmd",
        "false",
        "--health-start-period",
        "1h",
        "--health-start-interval",
        "100ms",
        &img,
        "sleep",
        "1000",
    ])?;
    wait_for_inspect(&fx, "{{len .State.Health.Log}}", "sp", |n| {
        n == "3" || n == "4" || n == "5"
    })?;
    let h = health_state(&fx, "sp")?;
    check(
        h["Status"] == "starting" && h["FailingStreak"] == 0,
        format!("failures in the start period: {h}"),
    )?;
    check(
        ps_line(&fx.ok(&["ps"])?, "sp").contains("(health: starting)"),
        "ps of a starting container",
    )?;
    // A probe past its timeout: killed, failed with docker's message.
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "to",
        "--health-cmd",
        "sleep 30",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "100ms",
        "--health-retries",
        "1",
        &img,
        "sleep",
        "1000",
    ])?;
    wait_for_inspect(&fx, "{{.State.Health.Status}}", "to", |s| s == "unhealthy")?;
    let h = health_state(&fx, "to")?;
    check(
        h["Log"][0]["ExitCode"] == -1
            && h["Log"][0]["Output"] == "Health check exceeded timeout (300ms)",
        format!("a probe past its timeout: {h}"),
    )?;
    let top = fx.ok(&["exec", "to", "ps"])?;
    check(
        top.matches("sleep 30").count() <= 1,
        format!("overrun probes were not killed:\n{top}"),
    )?;
    // --no-healthcheck: nothing runs, nothing shown.
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "nh",
        "--no-healthcheck",
        "hc:1",
        "sleep",
        "1000",
    ])?;
    check(
        fx.ok(&["inspect", "-f", "{{json .State}}", "nh"])?
            .find("Health")
            .is_none()
            && ps_line(&fx.ok(&["ps"])?, "nh").contains("Up")
            && !ps_line(&fx.ok(&["ps"])?, "nh").contains('('),
        "--no-healthcheck",
    )?;
    check(
        fx.ok(&["ps", "-q", "--filter", "health=none"])?
            .lines()
            .count()
            == 1,
        "ps --filter health=none",
    )?;
    // Stopped: unhealthy, as docker, and no checker of this store left.
    fx.ok(&["stop", "-t", "1", "h", "f", "sp", "to", "nh"])?;
    check(
        health_state(&fx, "h")?["Status"] == "unhealthy",
        "a stopped container's health",
    )?;
    let store = fx.env.store.display().to_string();
    let checkers: Vec<u32> = processes_running(&["container-health"])
        .into_iter()
        .filter(|p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&store))
                .unwrap_or(false)
        })
        .collect();
    check(
        checkers.is_empty(),
        format!("health checkers left: {checkers:?}"),
    )?;
    // Bad flags: docker's 125, nothing made.
    for (args, want) in [
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (vec!["--health-retries", "-1"], "cannot be negative"),
        (vec!["--health-interval", "10us"], "cannot be less than 1ms"),
        (vec!["--health-timeout", "soon"], "invalid duration"),
    ] {
        let mut a = vec!["run", "-d", "--name", "bad"];
        a.extend(args);
        a.extend([img.as_str(), "true"]);
        let o = fx.out(&a);
        check(code(&o) == Some(125), format!("{a:?}: {}", o.status))?;
        contains(&stderr(&o), want)?;
    }
    fx.ok(&["rm", "h", "f", "sp", "to", "nh"])?;
    fx.nothing_left()
}

fn stats_sangja() -> TestResult {
    stats(sangja_bin())
}

fn stats_runc() -> TestResult {
    stats(runc_bin())
}

/// `stats`: docker's columns from the runtime's cgroup numbers: a busy container's CPU
/// share, its memory limit, its pids; a stopped one named shows zeros; streaming
/// writes frame after frame; an unknown name is docker's error.
fn stats(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime)?;
    let img = fx.image.clone();
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        &img,
        "sh",
        "-c",
        "while :; do :; done & sleep 1000",
    ])?;
    fx.ok(&["run", "--name", "done", &img, "true"])?;
    // Two pids: sh execs its last command (sleep is PID 1) and forks the loop.
    let row: serde_json::Value =
        serde_json::from_str(&fx.ok(&["stats", "--no-stream", "--format", "json", "busy"])?)?;
    let cpu: f64 = row["CPUPerc"]
        .as_str()
        .and_then(|c| c.trim_end_matches('%').parse().ok())
        .unwrap_or(0.0);
    check(cpu > 10.0, format!("a busy loop's CPU %: {row}"))?;
    check(
        row["Name"] == "busy"
            && row["Container"] == "busy"
            && row["PIDs"] == "2"
            && row["MemUsage"]
                .as_str()
                .is_some_and(|m| m.ends_with(" / 64MiB"))
            && row["NetIO"].as_str().is_some_and(|m| m.contains(" / "))
            && row["BlockIO"].as_str().is_some_and(|m| m.contains(" / ")),
        format!("stats row: {row}"),
    )?;
    // top through the runtime's ps (runc passes a `--` on to ps: none is sent).
    let top = fx.ok(&["top", "busy"])?;
    check(
        top.starts_with("UID ") && top.contains("sleep 1000"),
        format!("top:\n{top}"),
    )?;
    let top = fx.ok(&["top", "busy", "-o", "pid,comm"])?;
    check(
        top.starts_with("  PID COMMAND") || top.trim_start().starts_with("PID COMMAND"),
        format!("top -o:\n{top}"),
    )?;
    let table = fx.ok(&["stats", "--no-stream"])?;
    let lines: Vec<&str> = table.lines().collect();
    let id = fx.ok(&["inspect", "-f", "{{.Id}}", "busy"])?;
    check(
        lines.len() == 2
            && lines[0].starts_with("CONTAINER ID   NAME ")
            && lines[0].contains("MEM USAGE / LIMIT")
            && lines[0].ends_with("PIDS")
            && lines[1].starts_with(&id[..12]),
        format!("running containers' table:\n{table}"),
    )?;
    let done = fx.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
        "done",
    ])?;
    check(
        done == "done 0.00% 0B / 0B 0\n",
        format!("a stopped container: {done:?}"),
    )?;
    check(
        fx.ok(&["stats", "-a", "--no-stream", "--format", "{{.Name}}"])?
            .lines()
            .count()
            == 2,
        "stats -a",
    )?;
    // Streaming: a frame a second until stopped.
    let mut child = fx
        .cmd(&["stats", "--format", "{{.Name}}", "busy"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut frames = String::new();
    {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(child.stdout.take().unwrap());
        for _ in 0..3 {
            r.read_line(&mut frames)?;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    check(
        frames == "busy\nbusy\nbusy\n",
        format!("streamed frames: {frames:?}"),
    )?;
    let o = fx.out(&["stats", "--no-stream", "nosuch"]);
    check(
        code(&o) == Some(1),
        format!("unknown container: {}", o.status),
    )?;
    contains(&stderr(&o), "No such container: nosuch")?;
    fx.ok(&["rm", "-f", "busy", "done"])?;
    fx.nothing_left()
}

/// `run -a`: only the named streams of a foreground run are ours; `-a` with `-d` and
/// an unknown stream are docker's 125, nothing made.
fn attach_streams() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let img = fx.image.clone();
    fx.ok(&["pull", "-q", &img])?;
    let script = "echo out; echo err >&2";
    let o = fx.out(&["run", "--rm", "-a", "stdout", &img, "sh", "-c", script]);
    check(
        o.status.success() && o.stdout == b"out\n" && !stderr(&o).contains("err"),
        format!("-a stdout: {o:?}"),
    )?;
    let o = fx.out(&["run", "--rm", "-a", "STDERR", &img, "sh", "-c", script]);
    check(
        o.status.success() && o.stdout.is_empty() && stderr(&o).contains("err"),
        format!("-a STDERR: {o:?}"),
    )?;
    let o = fx.out(&[
        "run", "--rm", "-a", "stdout", "-a", "stderr", &img, "sh", "-c", script,
    ]);
    check(
        o.stdout == b"out\n" && stderr(&o).contains("err"),
        format!("-a stdout -a stderr: {o:?}"),
    )?;
    for (args, want) in [
        (vec!["-d", "-a", "stdout"], "Conflicting options: -a and -d"),
        (
            vec!["-a", "stdlog"],
            "valid streams are STDIN, STDOUT and STDERR",
        ),
    ] {
        let mut a = vec!["run", "--name", "bad"];
        a.extend(args);
        a.extend([img.as_str(), "true"]);
        let o = fx.out(&a);
        check(code(&o) == Some(125), format!("{a:?}: {}", o.status))?;
        contains(&stderr(&o), want)?;
    }
    fx.nothing_left()
}
