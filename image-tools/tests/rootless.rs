//! Rootless `sangja-image` (issue 26): an unprivileged user the test creates (with
//! /etc/subuid and /etc/subgid ranges) pulls and loads images into its own store under
//! its home ($XDG_DATA_HOME's default) and runs containers with state under its
//! $XDG_RUNTIME_DIR, with sangja and with runc from apt. Teardown removes the user, its
//! ranges and every file, whatever the trials did.

mod common;
mod registry_support;

use common::*;
use libtest_mimic::{Failed, Trial};
use registry_support::{Auth, Registry};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

const RUNC: &str = "/usr/sbin/runc";
const IMAGE: &str = "rl/busybox:1";

struct Host {
    name: String,
    uid: u32,
    gid: u32,
    /// First id of the user's subordinate range (65536 ids).
    sub: u32,
    dir: PathBuf,
    /// The image as a docker-archive the user can read.
    archive: PathBuf,
    registry: Option<Registry>,
    pushed: Option<String>,
    /// Root's store that made the image (and holds the registry's data).
    seed: Option<Env>,
}

impl Host {
    fn setup() -> Result<Host, Failed> {
        let pid = std::process::id();
        let name = format!("sjimg{pid}");
        let dir = std::env::temp_dir().join(format!("sangja-image-rootless-{pid}"));
        run_root(Command::new("useradd").args([
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            &name,
        ]))?;
        // Its own range, far from the usual 100000+ allocations (and from the runtime's
        // rootless test, which uses 1_000_000_000 + ...).
        let sub = 1_500_000_000 + (pid % 10_000) * 65_536;
        let ids = id_of(&name, "-u").and_then(|u| Ok((u, id_of(&name, "-g")?)));
        let (uid, gid) = match ids {
            Ok(ids) => ids,
            Err(e) => {
                let _ = run_root(Command::new("userdel").arg(&name));
                return Err(e.into());
            }
        };
        // From here on the drop of `host` undoes everything, whatever fails.
        let mut host = Host {
            uid,
            gid,
            name,
            sub,
            archive: dir.join("image.tar"),
            dir,
            registry: None,
            pushed: None,
            seed: None,
        };
        // useradd may have given it a range already (SUB_UID_COUNT): only ours stays, so
        // the mapping the container gets is known.
        for file in ["/etc/subuid", "/etc/subgid"] {
            let flag = if file.ends_with("uid") {
                "--del-subuids"
            } else {
                "--del-subgids"
            };
            for line in fs::read_to_string(file)?.lines() {
                let f: Vec<&str> = line.split(':').collect();
                if let [who, start, count] = f[..] {
                    if who == host.name || who == host.uid.to_string() {
                        let (s, c): (u64, u64) = (start.parse()?, count.parse()?);
                        let range = format!("{s}-{}", s + c - 1);
                        run_root(Command::new("usermod").args([flag, &range, &host.name]))?;
                    }
                }
            }
        }
        let range = format!("{sub}-{}", sub + 65_535);
        run_root(Command::new("usermod").args([
            "--add-subuids",
            &range,
            "--add-subgids",
            &range,
            &host.name,
        ]))?;
        fs::create_dir_all(host.dir.join("bin"))?;
        fs::set_permissions(&host.dir, fs::Permissions::from_mode(0o755))?;
        for d in [host.home(), host.run_dir()] {
            fs::create_dir_all(&d)?;
            std::os::unix::fs::chown(&d, Some(host.uid), Some(host.gid))?;
        }
        fs::set_permissions(host.run_dir(), fs::Permissions::from_mode(0o700))?;
        // The binaries where the user can run them: sangja beside sangja-image, as
        // installed.
        fs::copy(bin(), host.dir.join("bin/sangja-image"))?;
        fs::copy(sangja_bin(), host.dir.join("bin/sangja"))?;
        // A file only host root may write, bound into containers by one trial.
        fs::write(host.host_file(), "host\n")?;
        fs::set_permissions(host.host_file(), fs::Permissions::from_mode(0o644))?;

        // The image, made by root: busybox, a file owned by 1000:1000 and a device node
        // (which a rootless unpack must skip).
        let seed = Env::new();
        let rootfs = seed.path("rootfs");
        busybox_rootfs(&rootfs)?;
        fs::write(rootfs.join("owned"), "bob's\n")?;
        std::os::unix::fs::chown(rootfs.join("owned"), Some(1000), Some(1000))?;
        sh(Command::new("mknod")
            .arg(rootfs.join("nulldev"))
            .args(["c", "1", "3"]))?;
        seed.ok([
            "import".as_ref(),
            "--change".as_ref(),
            r#"CMD ["sh"]"#.as_ref(),
            rootfs.as_os_str(),
            IMAGE.as_ref(),
        ])?;
        seed.ok([
            "save".as_ref(),
            "-o".as_ref(),
            host.archive.as_os_str(),
            IMAGE.as_ref(),
        ])?;
        fs::set_permissions(&host.archive, fs::Permissions::from_mode(0o644))?;
        if have_tool("docker-registry") {
            let registry = Registry::start(&seed.path("registry"), Auth::None)?;
            let remote = format!("{}/rl/busybox:2", registry.host);
            seed.ok(["tag", IMAGE, &remote])?;
            seed.ok(["push", "-q", &remote])?;
            host.pushed = Some(remote);
            host.registry = Some(registry);
        }
        // The registry keeps its data in the seed's directory: it lives as long as the host.
        host.seed = Some(seed);
        Ok(host)
    }

    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// Where the store goes by default: $XDG_DATA_HOME unset, so ~/.local/share.
    fn store(&self) -> PathBuf {
        self.home().join(".local/share/sangja-image")
    }

    fn state(&self) -> PathBuf {
        self.run_dir().join("sangja-image")
    }

    fn host_file(&self) -> PathBuf {
        self.dir.join("host-owned")
    }

    /// `sangja-image args...` as the user, with its HOME and XDG_RUNTIME_DIR (`None`:
    /// unset). Output through files: a detached container's monitor keeps pipes open.
    fn image_cmd(&self, args: &[&str], runtime_dir: Option<&Path>) -> Output {
        self.as_user(&self.dir.join("bin/sangja-image"), args, runtime_dir)
    }

    /// `program args...` as the user, as [`Host::image_cmd`].
    fn as_user(&self, program: &Path, args: &[&str], runtime_dir: Option<&Path>) -> Output {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out_path = self.dir.join(format!("out-{n}.log"));
        let err_path = self.dir.join(format!("err-{n}.log"));
        let out = fs::File::create(&out_path).expect("creating out log");
        let err = fs::File::create(&err_path).expect("creating err log");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .current_dir(self.home())
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", self.home())
            .env("USER", &self.name)
            .uid(self.uid)
            .gid(self.gid);
        if let Some(d) = runtime_dir {
            cmd.env("XDG_RUNTIME_DIR", d);
        }
        let status = cmd.status().expect("running a command as the user");
        Output {
            status,
            stdout: fs::read(&out_path).unwrap_or_default(),
            stderr: fs::read(&err_path).unwrap_or_default(),
        }
    }

    fn user(&self, args: &[&str]) -> Output {
        self.image_cmd(args, Some(&self.run_dir()))
    }

    fn user_ok(&self, args: &[&str]) -> Result<String, Failed> {
        let out = self.user(args);
        if !out.status.success() {
            return Err(format!(
                "sangja-image {args:?} as {} failed ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Fails unless the user's store holds no container, no runtime state for one, no
    /// mount below it, and the user runs no process.
    fn nothing_left(&self) -> TestResult {
        let mut left = store_leftovers(&self.store());
        for n in dir_names(&self.state()) {
            left.push(format!("runtime state {n}"));
        }
        let procs = self.processes();
        if !procs.is_empty() {
            left.push(format!("processes of the user: {procs:?}"));
        }
        check(left.is_empty(), format!("left behind: {left:?}"))
    }

    fn processes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().parse::<u32>().is_err() {
                continue;
            }
            let status = fs::read_to_string(p.join("status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next())
                    .unwrap_or("")
                    .to_string()
            };
            // A zombie holds nothing but its pid until its parent reaps it.
            let mine = field("Uid:") == self.uid.to_string() && field("State:") != "Z";
            if mine {
                let cmd = fs::read(p.join("cmdline")).unwrap_or_default();
                out.push(String::from_utf8_lossy(&cmd).replace('\0', " "));
            }
        }
        out
    }

    /// The user's containers are gone (nothing a failed trial left running stays).
    fn wait_nothing_left(&self) -> TestResult {
        wait_until("the user's containers to be gone", || {
            Ok(self.nothing_left().is_ok())
        })
        .or_else(|_| self.nothing_left())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Whatever a failed trial left: containers (as the user), then the files.
        if self.dir.join("bin/sangja-image").is_file() && self.home().is_dir() {
            let ids = self.user(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.user(&["rm", "-f", id]);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
        let range = format!("{}-{}", self.sub, self.sub + 65_535);
        let _ = run_root(Command::new("usermod").args([
            "--del-subuids",
            &range,
            "--del-subgids",
            &range,
            &self.name,
        ]));
        let _ = run_root(Command::new("userdel").arg(&self.name));
    }
}

fn sangja_bin() -> PathBuf {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja"))
}

fn run_root(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn id_of(name: &str, flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, name])
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("id {flag} {name}: {e}"))
}

/// `--runtime` for the runtime under test (none: sangja beside sangja-image).
fn runtime_args(rt: &str) -> Vec<&str> {
    if rt == "runc" {
        vec!["--runtime", RUNC]
    } else {
        Vec::new()
    }
}

fn with_runtime<'a>(verb: &'a str, rt: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![verb];
    v.extend(runtime_args(rt));
    v.extend_from_slice(rest);
    v
}

/// The image is in the user's own store, at the XDG default place.
fn load_images_rmi(h: &Host) -> TestResult {
    let out = h.user_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])?;
    contains(&out, IMAGE)?;
    check(
        h.store().join("oci-layout").is_file(),
        format!("no store at {}", h.store().display()),
    )?;
    let meta = fs::metadata(h.store())?;
    check(
        meta.uid() == h.uid,
        format!("the store belongs to uid {}, not the user", meta.uid()),
    )?;
    h.user_ok(&["tag", IMAGE, "rl/other:1"])?;
    h.user_ok(&["rmi", "rl/other:1"])?;
    let out = h.user_ok(&["images", "-q", "rl/other"])?;
    check(
        out.trim().is_empty(),
        format!("rl/other still listed: {out}"),
    )
}

fn pull_as_user(h: &Host) -> TestResult {
    let remote = h.pushed.as_deref().ok_or("no registry")?;
    h.user_ok(&["pull", "-q", remote])?;
    let out = h.user_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])?;
    contains(&out, remote)?;
    let out = h.user_ok(&["run", "--rm", remote, "echo", "pulled-and-run"])?;
    contains(&out, "pulled-and-run")?;
    h.user_ok(&["rmi", remote])?;
    Ok(())
}

/// uid 0 inside is the user outside, then its subordinate range.
fn run_rm_maps_user(h: &Host, rt: &str) -> TestResult {
    let args = with_runtime(
        "run",
        rt,
        &["--rm", IMAGE, "sh", "-c", "cat /proc/self/uid_map; id -u"],
    );
    let out = h.user_ok(&args)?;
    let rows: Vec<Vec<u64>> = out
        .lines()
        .filter(|l| l.split_whitespace().count() == 3)
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .collect();
    check(
        rows.contains(&vec![0, h.uid as u64, 1]),
        format!("uid 0 not mapped to {}: {out}", h.uid),
    )?;
    check(
        rows.contains(&vec![1, h.sub as u64, 65536]),
        format!("the subordinate range {} not mapped: {out}", h.sub),
    )?;
    check(
        out.lines().last() == Some("0"),
        format!("not uid 0 inside: {out}"),
    )?;
    h.wait_nothing_left()
}

/// The container cannot write a host-owned file it is given.
fn host_file_not_writable(h: &Host, rt: &str) -> TestResult {
    let vol = format!("{}:/host-file", h.host_file().display());
    let args = with_runtime(
        "run",
        rt,
        &[
            "--rm",
            "-v",
            &vol,
            IMAGE,
            "sh",
            "-c",
            "echo changed > /host-file",
        ],
    );
    let out = h.user(&args);
    check(
        !out.status.success(),
        "writing the host-owned file succeeded",
    )?;
    check(
        fs::read_to_string(h.host_file())? == "host\n",
        "the host-owned file changed",
    )?;
    // Readable still: the bind itself worked.
    let args = with_runtime("run", rt, &["--rm", "-v", &vol, IMAGE, "cat", "/host-file"]);
    contains(&h.user_ok(&args)?, "host")?;
    h.wait_nothing_left()
}

/// A detached container: the image's uid 1000 file is 1000 inside and the mapped host
/// id on disk, the device node was skipped, `exec`, `stop` and `rm` work, and nothing
/// stays.
fn detached_lifecycle(h: &Host, rt: &str) -> TestResult {
    let args = with_runtime("run", rt, &["-d", IMAGE, "sleep", "1000"]);
    let out = h.user(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    check(out.status.success(), format!("run -d failed: {stderr}"))?;
    contains(&stderr, "device node skipped")?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let result = (|| -> TestResult {
        let owned = h.store().join("containers").join(&id).join("rootfs/owned");
        let meta = fs::symlink_metadata(&owned)?;
        let want = h.sub + 999;
        check(
            meta.uid() == want && meta.gid() == want,
            format!(
                "{} is {}:{} on the host, want {want}:{want}",
                owned.display(),
                meta.uid(),
                meta.gid()
            ),
        )?;
        check(
            !owned.with_file_name("nulldev").exists(),
            "the device node was made",
        )?;
        let inside = h.user_ok(&["exec", &id, "stat", "-c", "%u:%g", "/owned"])?;
        check(inside.trim() == "1000:1000", format!("inside: {inside}"))?;
        let map = h.user_ok(&["exec", &id, "cat", "/proc/self/uid_map"])?;
        contains(&map, &h.uid.to_string())?;
        check(
            h.state().join(&id).exists(),
            format!("no runtime state under {}", h.state().display()),
        )?;
        h.user_ok(&["stop", "-t", "1", &id])?;
        let status = h.user_ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("id={id}"),
            "--format",
            "{{.Status}}",
        ])?;
        contains(&status, "Exited")?;
        h.user_ok(&["rm", &id])?;
        Ok(())
    })();
    if result.is_err() {
        let _ = h.user(&["rm", "-f", &id]);
    }
    result?;
    h.wait_nothing_left()
}

/// `--device HOST:CTR` works without mknod: the host's node is bound at CTR.
fn device_bound(h: &Host, rt: &str) -> TestResult {
    let args = with_runtime(
        "run",
        rt,
        &[
            "--rm",
            "--device",
            "/dev/null:/dev/xnull",
            IMAGE,
            "sh",
            "-c",
            "echo gone > /dev/xnull && stat -c %t,%T /dev/xnull",
        ],
    );
    let out = h.user_ok(&args)?;
    check(
        out.trim() == "1,3",
        format!("/dev/xnull is not /dev/null: {out}"),
    )?;
    h.wait_nothing_left()
}

/// `bundle` as the user makes a rootless bundle the runtime runs as that user.
fn bundle_runs(h: &Host, rt: &str) -> TestResult {
    let dir = h.home().join(format!("bundle-{rt}"));
    let dir_s = dir.display().to_string();
    h.user_ok(&[
        "bundle",
        IMAGE,
        &dir_s,
        "--",
        "sh",
        "-c",
        "cat /proc/self/uid_map; id -u",
    ])?;
    let bin = if rt == "runc" {
        PathBuf::from(RUNC)
    } else {
        h.dir.join("bin/sangja")
    };
    let root = h.run_dir().join(format!("bundle-state-{rt}"));
    let root_s = root.display().to_string();
    let out = h.as_user(
        &bin,
        &[
            "--root",
            &root_s,
            "run",
            "--bundle",
            &dir_s,
            &format!("bundle-{rt}"),
        ],
        Some(&h.run_dir()),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let result = check(
        out.status.success(),
        format!(
            "{rt} run of the bundle: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )
    .and_then(|_| {
        let own = format!("0 {} 1", h.uid);
        let rows: Vec<String> = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        check(
            rows.contains(&own) && rows.last().map(String::as_str) == Some("0"),
            format!("want uid 0 = {} only: {text}", h.uid),
        )
    })
    .and_then(|_| check(dir_names(&root).is_empty(), "the runtime kept state for it"));
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_dir_all(&root);
    result
}

/// `out` failed, saying `needle` on stderr.
fn refused(out: &Output, what: &str, needle: &str) -> TestResult {
    check(!out.status.success(), format!("{what}: it ran"))?;
    contains(&String::from_utf8_lossy(&out.stderr), needle)
}

/// Without $XDG_RUNTIME_DIR (and no --store or --runroot) a run is refused naming it.
fn no_runtime_dir(h: &Host) -> TestResult {
    let out = h.image_cmd(&["run", "--rm", IMAGE, "true"], None);
    refused(
        &out,
        "run without XDG_RUNTIME_DIR",
        "XDG_RUNTIME_DIR is not set",
    )?;
    h.nothing_left()
}

fn limit_without_delegation(h: &Host, rt: &str) -> TestResult {
    let args = with_runtime("run", rt, &["--rm", "--memory", "64m", IMAGE, "true"]);
    refused(
        &h.user(&args),
        "--memory without a delegated cgroup",
        "cannot set memory limit",
    )?;
    h.nothing_left()
}

fn publish_refused(h: &Host) -> TestResult {
    for args in [
        vec!["run", "--rm", "-p", "8080:80", IMAGE, "true"],
        vec!["run", "--rm", "--network", "bridge", IMAGE, "true"],
    ] {
        refused(&h.user(&args), &format!("{args:?}"), "rootless")?;
    }
    h.nothing_left()
}

/// `build` is refused rootless, naming why, before the store or a build folder is made.
fn build_refused(h: &Host) -> TestResult {
    let ctx = h.home().join("build-ctx");
    fs::create_dir_all(&ctx)?;
    fs::write(ctx.join("Dockerfile"), format!("FROM {IMAGE}\nRUN true\n"))?;
    std::os::unix::fs::chown(&ctx, Some(h.uid), Some(h.gid))?;
    let top = || {
        let mut v = dir_names(&h.store());
        v.sort();
        v
    };
    let before = top();
    let out = h.user(&["build", "-t", "rl/built:1", &ctx.display().to_string()]);
    let _ = fs::remove_dir_all(&ctx);
    refused(&out, "build as the user", "not available rootless")?;
    check(
        top() == before && !h.store().join("build").exists(),
        format!("the store changed: {before:?} -> {:?}", top()),
    )?;
    let out = h.user_ok(&["images", "-q", "rl/built"])?;
    check(out.trim().is_empty(), format!("rl/built listed: {out}"))?;
    h.nothing_left()
}

fn main() {
    let mut missing: Vec<String> = Vec::new();
    if !is_root() {
        missing.push("needs root (useradd, usermod)".into());
    }
    for tool in ["useradd", "usermod", "newuidmap", "newgidmap"] {
        if !have_tool(tool) {
            missing.push(format!("{tool} not installed (apt passwd, uidmap)"));
        }
    }
    if !Path::new("/bin/busybox").is_file() {
        missing.push("/bin/busybox (busybox-static) not installed".into());
    }
    if !sangja_bin().is_file() {
        missing.push(format!(
            "runtime binary {} not found (build the workspace or set SANGJA_BIN)",
            sangja_bin().display()
        ));
    }
    let names: Vec<(String, bool)> = {
        let mut v: Vec<(String, bool)> = vec![
            ("load_images_rmi".into(), false),
            ("pull_as_user".into(), false),
            ("no_runtime_dir".into(), false),
            ("publish_refused".into(), false),
            ("build_refused".into(), false),
        ];
        for rt in ["sangja", "runc"] {
            for t in [
                "run_rm_maps_user",
                "host_file_not_writable",
                "detached_lifecycle",
                "limit_without_delegation",
                "device_bound",
                "bundle_runs",
            ] {
                v.push((format!("{t}_{rt}"), true));
            }
        }
        v
    };
    if !missing.is_empty() {
        let reason = missing.join(", ");
        let trials = names
            .iter()
            .map(|(n, _)| {
                eprintln!("SKIPPED {n}: {reason}");
                Trial::test(n.clone(), || Ok(())).with_ignored_flag(true)
            })
            .collect();
        run_trials(trials);
    }
    let host = match Host::setup() {
        Ok(h) => Arc::new(h),
        Err(e) => {
            // Setup failed half-way: every trial fails with why (the drop of what was
            // made ran already).
            let msg = format!("setup: {}", e.message().unwrap_or("failed"));
            let trials = names
                .iter()
                .map(|(n, _)| {
                    let m = msg.clone();
                    Trial::test(n.clone(), move || Err(m.into()))
                })
                .collect();
            run_trials(trials);
        }
    };
    let no_runc = !Path::new(RUNC).is_file();
    let no_registry = host.pushed.is_none();
    let mut trials = Vec::new();
    for (name, _) in names {
        let h = host.clone();
        let rt = if name.ends_with("_runc") {
            "runc"
        } else {
            "sangja"
        };
        let base = name
            .trim_end_matches("_runc")
            .trim_end_matches("_sangja")
            .to_string();
        let skip = (rt == "runc" && no_runc)
            .then(|| format!("{RUNC} (apt runc) not installed"))
            .or_else(|| {
                (base == "pull_as_user" && no_registry)
                    .then(|| "docker-registry not installed".to_string())
            });
        let t = Trial::test(name.clone(), move || {
            // One at a time: each trial checks that the user has nothing left running.
            static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
            match base.as_str() {
                "load_images_rmi" => load_images_rmi(&h),
                "pull_as_user" => pull_as_user(&h),
                "no_runtime_dir" => no_runtime_dir(&h),
                "publish_refused" => publish_refused(&h),
                "build_refused" => build_refused(&h),
                "run_rm_maps_user" => run_rm_maps_user(&h, rt),
                "host_file_not_writable" => host_file_not_writable(&h, rt),
                "detached_lifecycle" => detached_lifecycle(&h, rt),
                "limit_without_delegation" => limit_without_delegation(&h, rt),
                "device_bound" => device_bound(&h, rt),
                "bundle_runs" => bundle_runs(&h, rt),
                other => Err(format!("no trial {other}").into()),
            }
        });
        trials.push(match skip {
            Some(r) => {
                eprintln!("SKIPPED {name}: {r}");
                t.with_ignored_flag(true)
            }
            None => t,
        });
    }
    // The image loaded into the user's store before any trial runs.
    let loaded = host.user_ok(&["load", "-q", "-i", &host.archive.display().to_string()]);
    let trials = match loaded {
        Ok(_) => trials,
        Err(e) => {
            let msg = format!("load as the user: {}", e.message().unwrap_or("failed"));
            trials
                .into_iter()
                .map(|t| {
                    let m = msg.clone();
                    Trial::test(t.name().to_string(), move || Err(m.into()))
                })
                .collect()
        }
    };
    let args = libtest_mimic::Arguments::from_args();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(host);
    conclusion.exit()
}
