//! checkpoint and restore (issue 26) as far as they can be proved where CRIU cannot run:
//! this kernel's vDSO stops CRIU 3.17 (`criu check` fails), so the end-to-end case
//! (conformance `cli.checkpoint-restore`) is skipped here. What is tested for real:
//! the CRIU command line sangja builds from runc's flags (a recording stand-in for
//! CRIU), the image directory's layout, restore's bookkeeping around what CRIU brings
//! back, and that a failing CRIU (the real one from apt) reaches the user with CRIU's own
//! log line and leaves the container running.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

mod common;
use common::{is_sangja, Env};

/// A bundle running `sleep 1000` with one bind mount (CRIU must be told it is external).
fn bundle(env: &Env) -> PathBuf {
    let b = env.dir.join("bundle");
    if b.join("config.json").exists() {
        return b;
    }
    let b = env.bundle(&["sleep", "1000"]);
    let path = b.join("config.json");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::create_dir_all(env.dir.join("shared")).unwrap();
    cfg["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/shared", "type": "bind", "source": env.dir.join("shared"), "options": ["rbind", "rw"]
    }));
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    b
}

/// A started container of `bundle`; its init's pid.
fn running(env: &Env, id: &str) -> i64 {
    let bs = bundle(env).to_string_lossy().into_owned();
    let o = env.rt(&["create", "--bundle", &bs, id]);
    assert!(o.status.success(), "create: {}", text(&o.stderr));
    let o = env.rt(&["start", id]);
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    state(env, id)["pid"].as_i64().unwrap()
}

fn state(env: &Env, id: &str) -> Value {
    serde_json::from_slice(&env.rt(&["state", id]).stdout).unwrap_or(Value::Null)
}

/// A stand-in for CRIU that records its arguments, one per line, and then runs `then`
/// (a shell snippet; "$@" are the arguments).
fn fake_criu(env: &Env, then: &str) -> PathBuf {
    let p = env.dir.join("fake-criu");
    let args = env.dir.join("criu-args");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n{then}\n",
            args.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn criu_args(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.dir.join("criu-args"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Ids unique to this test process (container ids are also cgroup names).
fn id(tag: &str) -> String {
    format!("ckpt{}-{tag}", std::process::id())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `a` holds `flag` followed by `value`.
fn has_pair(a: &[String], flag: &str, value: &str) -> bool {
    a.windows(2).any(|w| w[0] == flag && w[1] == value)
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn checkpoint_builds_criu_dump_from_runc_flags() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja\'s (runc speaks RPC)
    }
    let env = Env::new("dump");
    let pid = running(&env, &id("c1"));
    let criu = fake_criu(&env, "exit 0");
    let img = env.dir.join("img");
    let work = env.dir.join("work");
    let o = env.rt_global(
        &["--criu", criu.to_str().unwrap()],
        &[
            "checkpoint",
            "--image-path",
            img.to_str().unwrap(),
            "--work-path",
            work.to_str().unwrap(),
            "--leave-running",
            "--tcp-established",
            "--ext-unix-sk",
            "--shell-job",
            "--file-locks",
            "--manage-cgroups-mode",
            "full",
            "--empty-ns",
            "network",
            "--page-server",
            "127.0.0.1:2700",
            "--auto-dedup",
            &id("c1"),
        ],
    );
    assert!(o.status.success(), "checkpoint: {}", text(&o.stderr));
    let a = criu_args(&env);
    assert_eq!(a.first().map(String::as_str), Some("dump"), "{a:?}");
    assert!(has_pair(&a, "--tree", &pid.to_string()), "{a:?}");
    assert!(has_pair(&a, "--images-dir", img.to_str().unwrap()), "{a:?}");
    assert!(has_pair(&a, "--work-dir", work.to_str().unwrap()), "{a:?}");
    assert!(has_pair(&a, "--log-file", "dump.log"), "{a:?}");
    assert!(
        has_pair(&a, "--external", "mnt[/shared]:/shared"),
        "bind mount not external: {a:?}"
    );
    assert!(has_pair(&a, "--empty-ns", "network"), "{a:?}");
    assert!(
        has_pair(&a, "--address", "127.0.0.1") && has_pair(&a, "--port", "2700"),
        "{a:?}"
    );
    for f in [
        "--leave-running",
        "--tcp-established",
        "--ext-unix-sk",
        "--shell-job",
        "--file-locks",
        "--auto-dedup",
        "--manage-cgroups=full",
        "--page-server",
    ] {
        assert!(a.iter().any(|x| x == f), "{f} missing: {a:?}");
    }
    let root = a
        .windows(2)
        .find(|w| w[0] == "--root")
        .map(|w| w[1].clone())
        .unwrap_or_default();
    assert!(root.ends_with("bundle/rootfs"), "--root {root}");
    // runc's layout: the init's stdio recorded beside CRIU's images.
    let d: Vec<String> =
        serde_json::from_slice(&std::fs::read(img.join("descriptors.json")).unwrap()).unwrap();
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(work.is_dir());
    // --leave-running: the container goes on.
    assert_eq!(state(&env, &id("c1"))["status"], "running");
    assert!(alive(pid));
}

#[test]
fn checkpoint_without_leave_running_removes_the_container() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja\'s (runc speaks RPC)
    }
    let env = Env::new("gone");
    let pid = running(&env, &id("c2"));
    let criu = fake_criu(&env, "exit 0");
    let img = env.dir.join("img");
    let o = env.rt_global(
        &["--criu", criu.to_str().unwrap()],
        &[
            "checkpoint",
            "--image-path",
            img.to_str().unwrap(),
            &id("c2"),
        ],
    );
    assert!(o.status.success(), "checkpoint: {}", text(&o.stderr));
    assert!(
        !env.rt(&["state", &id("c2")]).status.success(),
        "c2 still exists"
    );
    for _ in 0..200 {
        if !alive(pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!alive(pid), "the checkpointed process still runs");
    // --pre-dump leaves it running and asks CRIU to track memory.
    let pid = running(&env, &id("c3"));
    let o = env.rt_global(
        &["--criu", criu.to_str().unwrap()],
        &[
            "checkpoint",
            "--pre-dump",
            "--image-path",
            img.to_str().unwrap(),
            &id("c3"),
        ],
    );
    assert!(o.status.success(), "pre-dump: {}", text(&o.stderr));
    let a = criu_args(&env);
    assert_eq!(a[0], "pre-dump");
    assert!(a.iter().any(|x| x == "--track-mem"));
    assert!(alive(pid));
}

#[test]
fn failing_criu_reaches_the_user_and_the_container_runs_on() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja\'s (runc speaks RPC)
    }
    assert!(
        Path::new("/usr/sbin/criu").exists(),
        "/usr/sbin/criu missing: install apt's criu (make test does)"
    );
    let env = Env::new("fail");
    let pid = running(&env, &id("c4"));
    let img = env.dir.join("img");
    let o = env.rt_global(
        &["--criu", "/usr/sbin/criu"],
        &[
            "checkpoint",
            "--image-path",
            img.to_str().unwrap(),
            &id("c4"),
        ],
    );
    let err = text(&o.stderr);
    if o.status.success() {
        // A kernel CRIU works on: the container was checkpointed for real.
        assert!(!alive(pid));
        return;
    }
    assert!(err.contains("criu dump failed"), "{err}");
    assert!(
        err.contains("Error ("),
        "CRIU's own error line missing: {err}"
    );
    assert!(
        err.contains(&img.join("dump.log").display().to_string()),
        "log path missing: {err}"
    );
    assert_eq!(state(&env, &id("c4"))["status"], "running");
    assert_eq!(state(&env, &id("c4"))["pid"].as_i64(), Some(pid));
    let o = env.rt(&["exec", &id("c4"), "true"]);
    assert!(
        o.status.success(),
        "exec after the failed checkpoint: {}",
        text(&o.stderr)
    );
    // A checkpoint of a container that is not running is refused as runc does.
    let o = env.rt(&["checkpoint", "--image-path", img.to_str().unwrap(), "nope"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("does not exist"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn restore_records_what_criu_brought_back() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja\'s (runc speaks RPC)
    }
    let env = Env::new("restore");
    let b = bundle(&env);
    let img = env.dir.join("img");
    std::fs::create_dir_all(&img).unwrap();
    std::fs::write(
        img.join("descriptors.json"),
        r#"["/dev/null","pipe:[12345]","/dev/null"]"#,
    )
    .unwrap();
    // The stand-in "restores" a sleep and writes its pid where --pidfile says.
    let criu = fake_criu(&env,
        "pidfile=$(printf '%s\\n' \"$@\" | sed -n '/^--pidfile$/{n;p}')\nsetsid sleep 1000 </dev/null >/dev/null 2>&1 &\necho $! > \"$pidfile\"",
    );
    let pid_file = env.dir.join("restored.pid");
    let o = env.rt_global(
        &["--criu", criu.to_str().unwrap()],
        &[
            "restore",
            "-d",
            "--image-path",
            img.to_str().unwrap(),
            "--bundle",
            b.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--tcp-established",
            &id("r1"),
        ],
    );
    assert!(o.status.success(), "restore: {}", text(&o.stderr));
    let a = criu_args(&env);
    assert_eq!(a[0], "restore");
    for f in [
        "--restore-detached",
        "--restore-sibling",
        "--tcp-established",
    ] {
        assert!(a.iter().any(|x| x == f), "{f} missing: {a:?}");
    }
    let shared = env.dir.join("shared").display().to_string();
    assert!(
        has_pair(&a, "--external", &format!("mnt[/shared]:{shared}")),
        "{a:?}"
    );
    assert!(has_pair(&a, "--inherit-fd", "fd[1]:pipe:[12345]"), "{a:?}");
    let st = state(&env, &id("r1"));
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    // CRIU ran inside the container's cgroup, so what it restored is there too.
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.contains(&format!("/{}", id("r1"))),
        "restored process outside the container's cgroup: {cg}"
    );
    // The bind CRIU used as --root is gone again.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("criu-root"), "criu-root still mounted");
    let o = env.rt(&["delete", "--force", &id("r1")]);
    assert!(o.status.success(), "delete: {}", text(&o.stderr));
    assert!(!alive(pid));
}

#[test]
fn failed_restore_leaves_nothing() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja\'s (runc speaks RPC)
    }
    let env = Env::new("badrestore");
    let b = bundle(&env);
    let img = env.dir.join("img");
    // No checkpoint in the image directory.
    let o = env.rt(&[
        "restore",
        "--image-path",
        img.to_str().unwrap(),
        "--bundle",
        b.to_str().unwrap(),
        &id("r2"),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("descriptors.json"),
        "{}",
        text(&o.stderr)
    );
    // CRIU fails: its log line reaches the user; no state, cgroup or mount is left.
    std::fs::create_dir_all(&img).unwrap();
    std::fs::write(img.join("descriptors.json"), "[]").unwrap();
    let criu = fake_criu(&env, &format!(
        "echo '(00.01) Error (criu/cr-restore.c:1234): restore went wrong' > {}/restore.log\nexit 1",
        img.display()
    ));
    let o = env.rt_global(
        &["--criu", criu.to_str().unwrap()],
        &[
            "restore",
            "--image-path",
            img.to_str().unwrap(),
            "--bundle",
            b.to_str().unwrap(),
            &id("r2"),
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("restore went wrong"),
        "{}",
        text(&o.stderr)
    );
    assert!(!env.root().join(id("r2")).exists(), "state left behind");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("criu-root"), "criu-root still mounted");
    for c in ["memory", "pids", "freezer"] {
        let d = Path::new("/sys/fs/cgroup").join(c).join(id("r2"));
        assert!(!d.exists(), "cgroup left: {}", d.display());
    }
    assert!(!Path::new("/sys/fs/cgroup/unified").join(id("r2")).exists());
}

/// A bundle like `bundle`'s whose process has a terminal.
fn tty_bundle(env: &Env) -> PathBuf {
    let b = bundle(env);
    let path = b.join("config.json");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["process"]["terminal"] = true.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    b
}

/// The name and pty master the runtime sent to the console socket `l`.
fn receive_master(l: &std::os::unix::net::UnixListener) -> (String, std::os::fd::OwnedFd) {
    let (name, master) = common::receive_fd(l);
    (String::from_utf8_lossy(&name).into_owned(), master)
}

/// The pts number of a pty master.
fn pts_number(master: &std::os::fd::OwnedFd) -> u32 {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int we own.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    assert_eq!(r, 0, "TIOCGPTN: {}", std::io::Error::last_os_error());
    n
}

/// Reads the master until `want` shows (a pty reader waits for output; the poll bound
/// only keeps a broken run from hanging the suite).
fn read_until(master: &std::os::fd::OwnedFd, want: &str) -> String {
    use std::os::fd::AsFd;
    let mut seen = String::new();
    while !seen.contains(want) {
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(60_000u16)).unwrap();
        assert!(ready > 0, "no {want:?} on the terminal; saw {seen:?}");
        let mut buf = [0u8; 512];
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(
        seen.contains(want),
        "no {want:?} on the terminal; saw {seen:?}"
    );
    seen
}

#[test]
fn checkpoint_marks_the_terminal_external() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja's (runc speaks RPC)
    }
    let env = Env::new("ttydump");
    let b = tty_bundle(&env);
    let sock = env.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let cid = id("t1");
    let o = env.rt(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        b.to_str().unwrap(),
        &cid,
    ]);
    assert!(o.status.success(), "create: {}", text(&o.stderr));
    let (_, _master) = receive_master(&listener);
    let o = env.rt(&["start", &cid]);
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    let pid = state(&env, &cid)["pid"].as_i64().unwrap();
    let criu = fake_criu(&env, "exit 0");
    let img = env.dir.join("img");
    let o = env.rt_global(
        &["--criu", criu.to_str().unwrap()],
        &[
            "checkpoint",
            "--leave-running",
            "--image-path",
            img.to_str().unwrap(),
            &cid,
        ],
    );
    assert!(o.status.success(), "checkpoint: {}", text(&o.stderr));
    let a = criu_args(&env);
    // CRIU's key of the init's slave: its device on the container's devpts, in hex.
    let meta = std::fs::metadata(format!("/proc/{pid}/fd/0")).unwrap();
    use std::os::unix::fs::MetadataExt;
    let key = format!("tty[{:x}:{:x}]", meta.rdev(), meta.dev());
    assert!(
        has_pair(&a, "--external", &key),
        "{key} not external: {a:?}"
    );
    assert!(
        has_pair(&a, "--external", "mnt[/dev/console]:/dev/console"),
        "{a:?}"
    );
    let info = std::fs::read_to_string(img.join("tty.info")).unwrap();
    assert_eq!(info.lines().next(), Some(key.as_str()), "{info}");
    let d: Vec<String> =
        serde_json::from_slice(&std::fs::read(img.join("descriptors.json")).unwrap()).unwrap();
    assert!(d.iter().all(|x| x.starts_with("/dev/pts/")), "{d:?}");
    assert!(alive(pid));
}

/// A checkpoint image directory with a terminal recorded under `key`.
fn tty_checkpoint(env: &Env, key: &str) -> PathBuf {
    let img = env.dir.join("img");
    std::fs::create_dir_all(&img).unwrap();
    std::fs::write(
        img.join("descriptors.json"),
        r#"["/dev/pts/0","/dev/pts/0","/dev/pts/0"]"#,
    )
    .unwrap();
    std::fs::write(img.join("tty.info"), format!("{key}\nmnt[/dev/console]\n")).unwrap();
    img
}

/// A stand-in restore: the process it "restores" runs `script` on the descriptor
/// --inherit-fd names for the tty (as stdio, in a session of its own), and its pid goes
/// where --pidfile says.
fn fake_tty_restore(env: &Env, script: &str) -> PathBuf {
    fake_criu(
        env,
        &format!(
            "pidfile=$(printf '%s\\n' \"$@\" | sed -n '/^--pidfile$/{{n;p}}')\n\
             fd=$(printf '%s\\n' \"$@\" | sed -n 's/^fd\\[\\([0-9]*\\)\\]:tty\\[.*$/\\1/p')\n\
             [ -n \"$fd\" ] && [ -t \"$fd\" ] || {{ echo \"fd '$fd' is no terminal\" >&2; exit 9; }}\n\
             setsid sh -c '{script}' <&\"$fd\" >&\"$fd\" 2>&\"$fd\" &\n\
             echo $! > \"$pidfile\""
        ),
    )
}

#[test]
fn restore_gives_a_new_terminal_to_the_console_socket() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja's (runc speaks RPC)
    }
    let env = Env::new("ttyrestore");
    let b = tty_bundle(&env);
    let img = tty_checkpoint(&env, "tty[8800:1a]");
    let criu = fake_tty_restore(&env, "echo restored-on-the-new-tty; exec sleep 1000");
    let sock = env.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let cid = id("t2");
    let o = env.rt_global(
        &["--criu", criu.to_str().unwrap()],
        &[
            "restore",
            "-d",
            "--console-socket",
            sock.to_str().unwrap(),
            "--image-path",
            img.to_str().unwrap(),
            "--bundle",
            b.to_str().unwrap(),
            &cid,
        ],
    );
    assert!(o.status.success(), "restore: {}", text(&o.stderr));
    let a = criu_args(&env);
    assert!(
        a.windows(2).any(|w| w[0] == "--inherit-fd"
            && w[1].starts_with("fd[")
            && w[1].ends_with("]:tty[8800:1a]")),
        "the tty is not inherited: {a:?}"
    );
    let (name, master) = receive_master(&listener);
    assert_eq!(name, "orphan-pts-master", "runc's name for the master");
    let n = pts_number(&master);
    assert!(
        has_pair(&a, "--external", &format!("mnt[/dev/console]:/dev/pts/{n}")),
        "/dev/console not bound to the new slave: {a:?}"
    );
    read_until(&master, "restored-on-the-new-tty");
    let st = state(&env, &cid);
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap(),
        PathBuf::from(format!("/dev/pts/{n}")),
        "the restored process is not on the slave of the master sent"
    );
    let o = env.rt(&["delete", "--force", &cid]);
    assert!(o.status.success(), "delete: {}", text(&o.stderr));
    assert!(!alive(pid));
}

#[test]
fn foreground_restore_relays_the_new_terminal() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja's (runc speaks RPC)
    }
    let env = Env::new("ttyfg");
    let b = tty_bundle(&env);
    let img = tty_checkpoint(&env, "tty[8800:1a]");
    let criu = fake_tty_restore(&env, "echo relayed-from-the-tty; exit 7");
    let cid = id("t3");
    let o = env.rt_global(
        &["--criu", criu.to_str().unwrap()],
        &[
            "restore",
            "--image-path",
            img.to_str().unwrap(),
            "--bundle",
            b.to_str().unwrap(),
            &cid,
        ],
    );
    assert_eq!(o.status.code(), Some(7), "restore: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("relayed-from-the-tty"),
        "stdout: {:?}",
        text(&o.stdout)
    );
    assert!(
        !env.root().join(&cid).exists(),
        "the exited container is left"
    );
}

#[test]
fn terminal_restore_refuses_bad_input_and_leaves_nothing() {
    if !is_sangja() {
        return; // the CRIU command line checked is sangja's (runc speaks RPC)
    }
    let env = Env::new("ttybad");
    let b = tty_bundle(&env);
    let img = tty_checkpoint(&env, "tty[8800:1a]");
    let criu = fake_tty_restore(&env, "exec sleep 1000");
    let cid = id("t4");
    let restore = |extra: &[&str]| {
        let mut a = vec!["restore"];
        a.extend_from_slice(extra);
        a.extend([
            "--image-path",
            img.to_str().unwrap(),
            "--bundle",
            b.to_str().unwrap(),
            cid.as_str(),
        ]);
        env.rt_global(&["--criu", criu.to_str().unwrap()], &a)
    };
    let plain = env.dir.join("plain-file");
    std::fs::write(&plain, "").unwrap();
    let missing = env.dir.join("no-such.sock");
    let live = env.dir.join("console.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&live).unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["-d"],
            "cannot allocate tty if sangja will detach without setting console socket".into(),
        ),
        (
            vec!["-d", "--console-socket", missing.to_str().unwrap()],
            format!("--console-socket {}", missing.display()),
        ),
        (
            vec!["-d", "--console-socket", plain.to_str().unwrap()],
            "not a unix socket".into(),
        ),
        (
            vec!["--console-socket", live.to_str().unwrap()],
            "cannot use console socket if sangja will not detach or allocate tty".into(),
        ),
    ];
    for (extra, want) in cases {
        let o = restore(&extra);
        assert!(!o.status.success(), "{extra:?} succeeded");
        assert!(
            text(&o.stderr).contains(&want),
            "{extra:?}: {}",
            text(&o.stderr)
        );
        assert!(
            !env.root().join(&cid).exists(),
            "{extra:?}: state left behind"
        );
        assert!(criu_args(&env).is_empty(), "{extra:?}: CRIU ran");
    }
    // A checkpoint without the terminal record, for a config with a terminal.
    std::fs::remove_file(img.join("tty.info")).unwrap();
    let o = restore(&["-d", "--console-socket", live.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("tty.info missing"),
        "{}",
        text(&o.stderr)
    );
    // A terminal record for a config without one.
    std::fs::write(img.join("tty.info"), "tty[8800:1a]\n").unwrap();
    let path = b.join("config.json");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let o = restore(&["-d"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("process.terminal is not set"),
        "{}",
        text(&o.stderr)
    );
    assert!(!env.root().join(&cid).exists(), "state left behind");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("criu-root"), "criu-root still mounted");
}

#[test]
fn features_report_checkpoint_as_criu_check_does() {
    if !is_sangja() {
        return; // the annotation checked is sangja's
    }
    let env = Env::new("features");
    let enabled = |global: &[&str]| {
        let o = env.rt_global(global, &["features"]);
        assert!(o.status.success(), "features: {}", text(&o.stderr));
        let f: Value = serde_json::from_slice(&o.stdout).unwrap();
        f["annotations"]["org.sangja.checkpoint.enabled"].clone()
    };
    // The CRIU features would run: here apt's, whose `criu check` fails on this kernel.
    let real = std::process::Command::new("criu")
        .arg("check")
        .output()
        .is_ok_and(|o| o.status.success());
    assert_eq!(enabled(&[]), json!(real.to_string()));
    let passing = fake_criu(&env, "exit 0");
    assert_eq!(
        enabled(&["--criu", passing.to_str().unwrap()]),
        json!("true")
    );
    let failing = fake_criu(&env, "exit 1");
    assert_eq!(
        enabled(&["--criu", failing.to_str().unwrap()]),
        json!("false")
    );
    assert_eq!(enabled(&["--criu", "/nonexistent/criu"]), json!("false"));
}
