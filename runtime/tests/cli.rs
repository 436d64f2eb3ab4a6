//! sangja's own command line: flags, output shapes and error strings, checked against
//! the binary under test. `SANGJA_TEST_RUNTIME=/usr/sbin/runc` runs the runc-compatible
//! part against runc to show the expectations are runc's.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{is_sangja, runtime, Env};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_names_the_spec() {
    let o = Command::new(runtime()).arg("--version").output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("version") && text.contains("spec: "),
        "{text}"
    );
}

#[test]
fn spec_writes_once_and_rootless_adds_a_user_namespace() {
    let env = Env::new("spec");
    let b = env.dir.join("b");
    std::fs::create_dir_all(&b).unwrap();
    let o = Command::new(runtime())
        .args(["spec", "-b"])
        .arg(&b)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(cfg["root"]["path"], "rootfs");
    let o = Command::new(runtime())
        .args(["spec", "-b"])
        .arg(&b)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));
    std::fs::remove_file(b.join("config.json")).unwrap();
    let o = Command::new(runtime())
        .args(["spec", "--rootless", "-b"])
        .arg(&b)
        .output()
        .unwrap();
    assert!(o.status.success());
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(ns.contains(&"user") && !ns.contains(&"network"), "{ns:?}");
    assert!(cfg["linux"]["uidMappings"][0]["hostID"].is_number());
}

#[test]
fn json_log_lines_carry_level_msg_time() {
    let env = Env::new("log");
    let log = env.dir.join("log.json");
    let o = Command::new(runtime())
        .arg("--root")
        .arg(env.root())
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "state", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    // With the log in a file, the error also goes to stderr, as runc does.
    assert!(
        stderr(&o).contains("container does not exist"),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "container does not exist");
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn text_log_on_stderr_by_default() {
    let env = Env::new("textlog");
    let o = env.rt(&["kill", "nope", "KILL"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("level=error") && e.contains("msg=\"container does not exist\""),
        "{e}"
    );
}

#[test]
fn list_shapes() {
    let env = Env::new("list");
    let o = env.rt(&["list", "-f", "json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "null");
    let o = env.rt(&["list"]);
    let header = String::from_utf8_lossy(&o.stdout);
    for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(col), "{header}");
    }
    let b = env.bundle(&["sleep", "30"]);
    let o = env.rt(&["create", "--bundle", b.to_str().unwrap(), "l1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = env.rt(&["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "l1\n");
    let o = env.rt(&["list", "-f", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["id"], "l1");
    assert_eq!(v[0]["status"], "created");
    assert_eq!(v[0]["owner"], "root");
    let o = env.rt(&["list", "-f", "yaml"]);
    assert!(!o.status.success());
}

#[test]
fn state_json_shape_and_pid_file() {
    let env = Env::new("state");
    let b = env.bundle(&["sleep", "30"]);
    let pidfile = env.dir.join("pid");
    let o = env.rt(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        "s1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = env.rt(&["state", "s1"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ] {
        assert!(v.get(key).is_some(), "state lacks {key}: {v}");
    }
    assert!(
        v.get("annotations").is_none(),
        "empty annotations are omitted"
    );
    assert_eq!(v["status"], "created");
    let pid: i64 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    assert_eq!(v["pid"].as_i64(), Some(pid));
    assert_eq!(v["bundle"].as_str().unwrap(), b.to_str().unwrap());
}

#[test]
fn kill_refuses_unknown_signals() {
    let env = Env::new("sig");
    let b = env.bundle(&["sleep", "30"]);
    assert!(env
        .rt(&["create", "--bundle", b.to_str().unwrap(), "k1"])
        .status
        .success());
    let o = env.rt(&["kill", "k1", "NOSUCHSIG"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).to_lowercase().contains("signal"),
        "{}",
        stderr(&o)
    );
    // Signals whose default action is to ignore them leave the created init alive, so
    // every accepted form can be sent in turn.
    for sig in ["SIGWINCH", "urg", "28", "winch"] {
        let o = env.rt(&["kill", "k1", sig]);
        assert!(o.status.success(), "{sig}: {}", stderr(&o));
    }
}

#[test]
fn start_refuses_a_paused_container() {
    let env = Env::new("startpaused");
    let b = env.bundle(&["sleep", "30"]);
    // Unique on the machine: the default cgroup is named after the id.
    let id = format!("p{}", std::process::id());
    let o = env.rt(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = env.rt(&["pause", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let status = |env: &Env| {
        let o = env.rt(&["state", &id]);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["status"].clone()
    };
    assert_eq!(status(&env), "paused");
    let o = env.rt(&["start", &id]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot start a container in the paused state"),
        "{}",
        stderr(&o)
    );
    assert_eq!(status(&env), "paused");
    // Resumed, it is created again and starts.
    assert!(env.rt(&["resume", &id]).status.success());
    assert_eq!(status(&env), "created");
    let o = env.rt(&["start", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(status(&env), "running");
}

#[test]
fn run_exit_status_and_signals() {
    let env = Env::new("run");
    let b = env.bundle(&["sh", "-c", "exit 42"]);
    let o = env.rt(&["run", "--bundle", b.to_str().unwrap(), "r1"]);
    assert_eq!(o.status.code(), Some(42), "{}", stderr(&o));
    // Killed from outside (pid 1 of a pid namespace ignores its own unhandled signals).
    let b = env.bundle(&["sleep", "100"]);
    let mut child = Command::new(runtime())
        .arg("--root")
        .arg(env.root())
        .args(["run", "--bundle", b.to_str().unwrap(), "r2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut running = false;
    for _ in 0..500 {
        let o = env.rt(&["state", "r2"]);
        if String::from_utf8_lossy(&o.stdout).contains("\"running\"") {
            running = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(running, "r2 never ran");
    assert!(env.rt(&["kill", "r2", "KILL"]).status.success());
    assert_eq!(child.wait().unwrap().code(), Some(128 + 9));
    // Without --keep the container is gone afterwards.
    let o = env.rt(&["state", "r2"]);
    assert!(!o.status.success());
}

#[test]
fn invalid_ids_leave_nothing() {
    let env = Env::new("ids");
    let b = env.bundle(&["true"]);
    for id in ["../escape", "a/b", ""] {
        let o = env.rt(&["create", "--bundle", b.to_str().unwrap(), id]);
        assert!(!o.status.success(), "id {id:?} accepted");
    }
    assert_eq!(std::fs::read_dir(env.root()).unwrap().count(), 0);
    assert!(!env.dir.join("escape").exists());
}

#[test]
fn rootless_and_systemd_flags_refused_clearly() {
    if !is_sangja() {
        return; // runc implements --systemd-cgroup; its refusal here is sangja's own
    }
    let env = Env::new("flags");
    // Rootless mode is taken as runc takes it (tests/rootless.rs runs it for real).
    let o = Command::new(runtime())
        .arg("--root")
        .arg(env.root())
        .args(["--rootless", "true", "list"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new(runtime())
        .args(["--rootless", "maybe", "list"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    if !Path::new("/run/systemd/system").exists() {
        let o = Command::new(runtime())
            .arg("--root")
            .arg(env.root())
            .args(["--systemd-cgroup", "list"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("systemd"), "{}", stderr(&o));
    }
}

#[test]
fn features_tell_what_is_supported() {
    let o = Command::new(runtime()).arg("features").output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.contains(&n), "{n} missing from {ns:?}");
    }
    assert!(v["linux"]["seccomp"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "SCMP_ACT_NOTIFY"));
    assert!(v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h == "createContainer"));
    if is_sangja() {
        assert_eq!(v["ociVersionMax"], "1.2.0");
        assert!(ns.contains(&"time"));
    }
}

#[test]
fn relative_root_is_taken_from_the_cwd() {
    // runc makes --root absolute; a relative one must work for every later command.
    let env = Env::new("relroot");
    let b = env.bundle(&["sleep", "1000"]);
    let rt = |args: &[&str]| {
        Command::new(runtime())
            .args(["--root", "rel-state"])
            .args(args)
            .current_dir(&env.dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    };
    let id = format!("relroot-{}", std::process::id());
    assert!(rt(&["create", "--bundle", b.to_str().unwrap(), &id]).success());
    assert!(rt(&["start", &id]).success());
    assert!(rt(&["kill", &id, "KILL"]).success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(rt(&["delete", "--force", &id]).success());
    assert!(!env.dir.join("rel-state").join(&id).exists());
}
