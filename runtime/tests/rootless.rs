//! Rootless containers (issue 26): sangja run by an unprivileged user the test creates,
//! side by side with runc from apt. Each trial runs against both runtimes; a runtime
//! binary that is missing is reported as skipped.
//!
//! Setup makes a user with /etc/subuid and /etc/subgid ranges, a state directory
//! ($XDG_RUNTIME_DIR) and a busybox bundle that user owns; teardown removes all of it,
//! whatever the trials did.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

struct Host {
    name: String,
    uid: u32,
    gid: u32,
    /// First id of the user's subordinate range (65536 ids).
    sub: u32,
    dir: PathBuf,
}

impl Host {
    fn setup() -> Result<Host, String> {
        let pid = std::process::id();
        let name = format!("sjrl{pid}");
        let dir = std::env::temp_dir().join(format!("sangja-rootless-{pid}"));
        run_root(Command::new("useradd").args([
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            &name,
        ]))?;
        // A range of its own, far from the usual 100000+ allocations.
        let sub = 1_000_000_000 + (pid % 10_000) * 65_536;
        let range = format!("{sub}-{}", sub + 65_535);
        let host = Host {
            uid: id_of(&name, "-u")?,
            gid: id_of(&name, "-g")?,
            name,
            sub,
            dir,
        };
        run_root(Command::new("usermod").args([
            "--add-subuids",
            &range,
            "--add-subgids",
            &range,
            &host.name,
        ]))?;
        std::fs::create_dir_all(host.run_dir()).map_err(|e| e.to_string())?;
        let rootfs = host.dir.join("rootfs");
        let mk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mkrootfs.sh");
        run_root(Command::new("bash").arg(mk).arg(&rootfs))?;
        run_root(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{}:{}", host.uid, host.gid))
                .arg(&host.dir),
        )?;
        std::fs::set_permissions(host.run_dir(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        // A file only host root may write, bound into containers by one trial.
        std::fs::create_dir_all(host.dir.join("host-owned")).map_err(|e| e.to_string())?;
        run_root(
            Command::new("chown")
                .arg("root:root")
                .arg(host.dir.join("host-owned")),
        )?;
        std::fs::write(host.host_file(), "host\n").map_err(|e| e.to_string())?;
        std::fs::set_permissions(host.host_file(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        Ok(host)
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn host_file(&self) -> PathBuf {
        self.dir.join("host-owned/file")
    }

    /// `rt args...` as the test user, in `cwd`, with its own XDG_RUNTIME_DIR.
    /// Output goes through files, not pipes: a container started by `create` keeps its
    /// stdio open long after the command has returned.
    fn as_user(&self, rt: &Path, args: &[&str], cwd: &Path) -> Output {
        let out = self.as_user_once(rt, args, cwd);
        // runc 1.1's re-exec through a sealed memfd copy of itself fails now and then
        // with EBUSY when several runc start at once ("could not ensure we are a cloned
        // binary"), before it touched anything: the reference is asked again.
        if String::from_utf8_lossy(&out.stderr).contains("could not ensure we are a cloned binary")
        {
            return self.as_user_once(rt, args, cwd);
        }
        out
    }

    fn as_user_once(&self, rt: &Path, args: &[&str], cwd: &Path) -> Output {
        // Per call: the trials run at once and must not share their output files.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out_path = self.dir.join(format!("out-{n}.log"));
        let err_path = self.dir.join(format!("err-{n}.log"));
        let out = std::fs::File::create(&out_path).expect("creating out.log");
        let err = std::fs::File::create(&err_path).expect("creating err.log");
        let status = Command::new(rt)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .current_dir(cwd)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", &self.dir)
            .env("USER", &self.name)
            .env("XDG_RUNTIME_DIR", self.run_dir())
            .uid(self.uid)
            .gid(self.gid)
            .status()
            .expect("running the runtime");
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    /// A bundle from `rt spec --rootless` (run as the user) with `edit` applied.
    fn bundle(
        &self,
        rt: &Path,
        tag: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<PathBuf, Failed> {
        let b = self.dir.join(format!("bundle-{}-{tag}", short(rt)));
        let _ = std::fs::remove_dir_all(&b);
        std::fs::create_dir_all(&b)?;
        std::os::unix::fs::chown(&b, Some(self.uid), Some(self.gid))?;
        std::os::unix::fs::symlink(self.dir.join("rootfs"), b.join("rootfs"))?;
        let out = self.as_user(rt, &["spec", "--rootless"], &b);
        ok(&out, "spec --rootless")?;
        let path = b.join("config.json");
        let mut cfg: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        cfg["process"]["terminal"] = json!(false);
        cfg["root"]["path"] = json!(self.dir.join("rootfs"));
        edit(&mut cfg);
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg)?)?;
        Ok(b)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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

fn short(rt: &Path) -> String {
    rt.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn ok(out: &Output, what: &str) -> Result<(), Failed> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what}: {} (stdout {:?}, stderr {:?})",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
    .into())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn id(rt: &Path, tag: &str) -> String {
    format!("rl-{}-{tag}-{}", short(rt), std::process::id())
}

/// `spec --rootless` maps the caller's own ids to root, as runc's does, and asks for no
/// network namespace and no cgroup limits.
fn spec_rootless(h: &Host, rt: &Path) -> Result<(), Failed> {
    let b = h.bundle(rt, "spec", |_| {})?;
    let cfg: Value = serde_json::from_slice(&std::fs::read(b.join("config.json"))?)?;
    let linux = &cfg["linux"];
    assert_eq!(
        linux["uidMappings"],
        json!([{"containerID": 0, "hostID": h.uid, "size": 1}])
    );
    assert_eq!(
        linux["gidMappings"],
        json!([{"containerID": 0, "hostID": h.gid, "size": 1}])
    );
    let ns: Vec<&str> = linux["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(ns.contains(&"user"), "no user namespace in {ns:?}");
    assert!(!ns.contains(&"network"), "a network namespace in {ns:?}");
    assert!(
        linux["resources"].is_null(),
        "resources in {}",
        linux["resources"]
    );
    Ok(())
}

/// The container's root is the caller: one mapping, uid 0 inside; state lands under
/// $XDG_RUNTIME_DIR when --root is not given.
fn run_single_map(h: &Host, rt: &Path) -> Result<(), Failed> {
    let b = h.bundle(rt, "single", |c| {
        c["process"]["args"] = json!(["sh", "-c", "cat /proc/self/uid_map; id -u"]);
    })?;
    let out = h.as_user(rt, &["run", &id(rt, "single")], &b);
    ok(&out, "run")?;
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        vec!["0".to_string(), h.uid.to_string(), "1".to_string()],
        "uid_map: {text}"
    );
    assert_eq!(lines[1], vec!["0"], "id -u: {text}");
    let state_dir = h.run_dir().join(short(rt));
    assert!(
        state_dir.is_dir(),
        "no state directory {} (default --root)",
        state_dir.display()
    );
    Ok(())
}

/// Root inside is nobody to a host file owned by host root: writing it fails.
fn host_file_not_writable(h: &Host, rt: &Path) -> Result<(), Failed> {
    let file = h.host_file();
    let b = h.bundle(rt, "hostfile", |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/host-file", "type": "bind", "source": file, "options": ["rbind", "rw"]
        }));
        c["process"]["args"] = json!(["sh", "-c", "echo container >> /host-file"]);
    })?;
    let out = h.as_user(rt, &["run", &id(rt, "hostfile")], &b);
    assert!(
        !out.status.success(),
        "the write to a host-owned file succeeded"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ermission denied"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file)?, "host\n");
    Ok(())
}

/// create, state, start, exec, kill, delete, as the user.
fn lifecycle(h: &Host, rt: &Path) -> Result<(), Failed> {
    let b = h.bundle(rt, "life", |c| {
        c["process"]["args"] = json!(["sleep", "1000"])
    })?;
    let id = id(rt, "life");
    let bs = b.to_string_lossy().into_owned();
    ok(
        &h.as_user(rt, &["create", "--bundle", &bs, &id], &b),
        "create",
    )?;
    let result = (|| -> Result<(), Failed> {
        let st: Value = serde_json::from_slice(&h.as_user(rt, &["state", &id], &b).stdout)?;
        assert_eq!(st["status"], "created");
        ok(&h.as_user(rt, &["start", &id], &b), "start")?;
        let out = h.as_user(
            rt,
            &["exec", &id, "sh", "-c", "id -u; cat /proc/1/cmdline"],
            &b,
        );
        ok(&out, "exec")?;
        assert_eq!(stdout(&out).lines().next(), Some("0"), "exec id -u");
        assert!(
            stdout(&out).contains("sleep"),
            "exec saw pid 1: {}",
            stdout(&out)
        );
        ok(&h.as_user(rt, &["kill", &id, "KILL"], &b), "kill")?;
        for _ in 0..200 {
            let st: Value = serde_json::from_slice(&h.as_user(rt, &["state", &id], &b).stdout)?;
            if st["status"] == "stopped" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        ok(&h.as_user(rt, &["delete", &id], &b), "delete")?;
        let st = h.as_user(rt, &["state", &id], &b);
        assert!(!st.status.success(), "state still answers after delete");
        Ok(())
    })();
    let _ = h.as_user(rt, &["delete", "--force", &id], &b);
    result
}

/// More than the caller's own id: mapped through newuidmap/newgidmap and the ranges the
/// test gave the user in /etc/subuid and /etc/subgid.
fn multi_map(h: &Host, rt: &Path) -> Result<(), Failed> {
    let (uid, gid, sub) = (h.uid, h.gid, h.sub);
    let b = h.bundle(rt, "multi", |c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}, {"containerID": 1, "hostID": sub, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}, {"containerID": 1, "hostID": sub, "size": 65536}]);
        c["process"]["args"] = json!(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map"]);
    })?;
    let out = h.as_user(rt, &["run", &id(rt, "multi")], &b);
    ok(&out, "run with subordinate ranges")?;
    let maps: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let want = |own: u32| vec![format!("0 {own} 1"), format!("1 {sub} 65536")];
    assert_eq!(maps[..2], want(uid)[..], "uid_map");
    assert_eq!(maps[2..], want(gid)[..], "gid_map");
    Ok(())
}

/// Without a cgroup it may create, a rootless container cannot have limits: refused with
/// runc's words, and nothing is left in the state directory.
fn limits_refused(h: &Host, rt: &Path) -> Result<(), Failed> {
    let b = h.bundle(rt, "limits", |c| {
        c["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
        c["process"]["args"] = json!(["true"]);
    })?;
    let id = id(rt, "limits");
    let out = h.as_user(rt, &["run", &id], &b);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "run with a memory limit succeeded");
    assert!(err.contains("cannot set memory limit"), "stderr: {err}");
    let left = h.run_dir().join(short(rt)).join(&id);
    assert!(!left.exists(), "left behind: {}", left.display());
    Ok(())
}

/// The mount points of the cgroup v1 hierarchies (fstype `cgroup`).
fn v1_hierarchies() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mount = pre.split(' ').nth(4)?;
            (post.split(' ').next() == Some("cgroup")).then(|| PathBuf::from(mount))
        })
        .collect()
}

/// Why the delegated-cgroup trial cannot run here, if it cannot.
fn no_v1_limits() -> Option<&'static str> {
    let v1 = v1_hierarchies();
    let has = |c: &str| v1.iter().any(|m| m.file_name().is_some_and(|n| n == c));
    (!has("memory") || !has("pids")).then_some(
        "no cgroup v1 memory and pids hierarchies here (a cgroup2 host with controllers \
         needs a v2 delegation test instead)",
    )
}

/// A cgroup subtree an admin hands to the test user: `/<name>` in every v1 hierarchy
/// (runc joins them all when cgroupsPath is set), the directory and its files chowned to
/// the user. Removed when dropped, children first, whatever the trial did.
struct Delegated {
    dirs: Vec<PathBuf>,
}

impl Delegated {
    fn new(h: &Host, name: &str) -> Result<Delegated, Failed> {
        let mut d = Delegated { dirs: Vec::new() };
        for m in v1_hierarchies() {
            let dir = m.join(name);
            std::fs::create_dir(&dir)?;
            d.dirs.push(dir.clone());
            run_root(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{}:{}", h.uid, h.gid))
                    .arg(&dir),
            )?;
        }
        Ok(d)
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for dir in &self.dirs {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// With a cgroup subtree delegated to the user, a rootless container whose cgroupsPath
/// is inside it gets its memory and pids limits: written on the host, and enforced
/// (forks past the pids limit fail and are counted in pids.events).
fn delegated_cgroup_limits(h: &Host, rt: &Path) -> Result<(), Failed> {
    let name = format!("sjdeleg-{}-{}", short(rt), std::process::id());
    let _delegated = Delegated::new(h, &name)?;
    let inner = format!("/{name}/ctr");
    let cg_path = inner.clone();
    let b = h.bundle(rt, "deleg", move |c| {
        c["linux"]["cgroupsPath"] = json!(cg_path);
        c["linux"]["resources"] = json!({"pids": {"limit": 42}, "memory": {"limit": 67108864}});
        c["process"]["args"] = json!(["sleep", "1000"]);
    })?;
    let id = id(rt, "deleg");
    let bs = b.to_string_lossy().into_owned();
    let result = (|| -> Result<(), Failed> {
        ok(
            &h.as_user(rt, &["run", "-d", "--bundle", &bs, &id], &b),
            "run -d with cgroupsPath in the delegated subtree",
        )?;
        let st: Value = serde_json::from_slice(&h.as_user(rt, &["state", &id], &b).stdout)?;
        let pid = st["pid"].as_i64().ok_or("no pid in state")?;
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        for c in ["memory", "pids"] {
            assert!(
                cg.lines().any(|l| l.ends_with(&format!(":{c}:{inner}"))),
                "not in {c}:{inner}: {cg}"
            );
        }
        let host = |c: &str, f: &str| {
            std::fs::read_to_string(
                Path::new("/sys/fs/cgroup")
                    .join(c)
                    .join(&name)
                    .join("ctr")
                    .join(f),
            )
            .map(|s| s.trim().to_string())
        };
        assert_eq!(host("pids", "pids.max")?, "42");
        assert_eq!(host("memory", "memory.limit_in_bytes")?, "67108864");
        // 60 sleeps cannot all start under a limit of 42 tasks (they end soon, so the
        // cgroup is not left full).
        let _ = h.as_user(
            rt,
            &[
                "exec",
                &id,
                "sh",
                "-c",
                "i=0; while [ $i -lt 60 ]; do sleep 2 & i=$((i+1)); done; wait",
            ],
            &b,
        );
        let events = host("pids", "pids.events")?;
        let refused: u64 = events
            .strip_prefix("max ")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        assert!(refused > 0, "no fork refused by the pids limit: {events}");
        let current: u64 = host("pids", "pids.current")?.parse()?;
        assert!(current <= 42, "pids.current {current} over the limit");
        Ok(())
    })();
    let _ = h.as_user(rt, &["delete", "--force", &id], &b);
    result?;
    for c in ["memory", "pids"] {
        let d = Path::new("/sys/fs/cgroup").join(c).join(&name).join("ctr");
        assert!(!d.exists(), "delete left {}", d.display());
    }
    Ok(())
}

type TrialFn = fn(&Host, &Path) -> Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let tests: &[(&str, TrialFn)] = &[
        ("spec-rootless", spec_rootless),
        ("run-single-map", run_single_map),
        ("host-file-not-writable", host_file_not_writable),
        ("lifecycle", lifecycle),
        ("multi-map-newuidmap", multi_map),
        ("limits-refused", limits_refused),
        ("delegated-cgroup-limits", delegated_cgroup_limits),
    ];
    let runtimes = [
        PathBuf::from(env!("CARGO_BIN_EXE_sangja")),
        PathBuf::from(RUNC),
    ];
    let root = nix::unistd::geteuid().is_root();
    let host = if root {
        match Host::setup() {
            Ok(h) => Some(Arc::new(h)),
            Err(e) => {
                eprintln!("rootless setup failed: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let mut trials = Vec::new();
    for rt in &runtimes {
        for (name, f) in tests {
            let label = format!("{}::{name}", short(rt));
            let skip = if !root {
                Some("the test creates a user: run as root")
            } else if !rt.exists() {
                Some("runtime binary not installed")
            } else if *name == "multi-map-newuidmap" && !Path::new("/usr/bin/newuidmap").exists() {
                Some("newuidmap missing (apt uidmap)")
            } else if *name == "delegated-cgroup-limits" && no_v1_limits().is_some() {
                no_v1_limits()
            } else {
                None
            };
            trials.push(match skip {
                Some(reason) => Trial::test(label, || Ok(()))
                    .with_ignored_flag(true)
                    .with_kind(Box::leak(format!("SKIPPED: {reason}").into_boxed_str())),
                None => {
                    let (h, rt, f) = (host.clone(), rt.clone(), *f);
                    Trial::test(label, move || {
                        let h = h.as_deref().expect("host set up");
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(h, &rt)))
                            .unwrap_or_else(|e| {
                                Err(e
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_else(|| "panicked".into())
                                    .into())
                            })
                    })
                }
            });
        }
    }
    // Trials share the user and its bundle directory: one at a time.
    let mut args = args;
    args.test_threads = Some(1);
    let conclusion = libtest_mimic::run(&args, trials);
    drop(host);
    conclusion.exit();
}
