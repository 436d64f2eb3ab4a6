//! Behaviour probes: small actions whose outcome (success or errno) a case
//! compares with what the config asked, so cases check behaviour, not only files.

use serde_json::{json, Value};
use std::fs;
use std::io::Read;
use std::process::{Child, Command};

use crate::ffi;

/// Probe names and how many arguments each takes.
pub const PROBES: [(&str, usize); 13] = [
    ("openw", 1),
    ("read", 1),
    ("touch", 1),
    ("mkdir", 1),
    ("stat", 1),
    ("ls", 1),
    ("chown", 3),
    ("bind", 1),
    ("syscall", 1),
    ("spawn", 1),
    ("kill", 2),
    ("exit", 1),
    ("sleep", 1),
];

fn outcome(res: std::io::Result<Value>) -> Value {
    match res {
        Ok(v) => json!({ "ok": true, "value": v }),
        Err(e) => json!({ "ok": false, "errno": e.raw_os_error(), "error": e.to_string() }),
    }
}

fn errno_outcome(res: Result<i64, i32>) -> Value {
    match res {
        Ok(v) => json!({ "ok": true, "value": v }),
        Err(errno) => json!({ "ok": false, "errno": errno }),
    }
}

/// Runs `name` with `args`; the JSON outcome. `exit` and `sleep` are handled
/// by main after printing, so here they only echo their argument.
pub fn run(name: &str, args: &[String]) -> Value {
    let arg = |i: usize| args[i].as_str();
    let result = match name {
        // Open for writing without creating or writing: enough to see EROFS,
        // EACCES or EPERM, and harmless on files like /proc/sysrq-trigger.
        "openw" => outcome(
            fs::OpenOptions::new()
                .write(true)
                .open(arg(0))
                .map(|_| Value::Null),
        ),
        "read" => outcome(fs::File::open(arg(0)).and_then(|mut f| {
            let mut buf = Vec::new();
            f.by_ref().take(4096).read_to_end(&mut buf)?;
            Ok(Value::String(String::from_utf8_lossy(&buf).into_owned()))
        })),
        "touch" => outcome(
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(arg(0))
                .map(|_| Value::Null),
        ),
        "mkdir" => outcome(fs::create_dir(arg(0)).map(|_| Value::Null)),
        "stat" => {
            let v = crate::devices::describe(std::path::Path::new(arg(0)));
            if v.get("error").is_some() {
                json!({ "ok": false, "errno": v["errno"], "error": v["error"] })
            } else {
                json!({ "ok": true, "value": v })
            }
        }
        "ls" => outcome(fs::read_dir(arg(0)).map(|d| {
            let mut names: Vec<String> = d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            json!(names)
        })),
        "chown" => outcome(
            std::os::unix::fs::chown(arg(0), arg(1).parse().ok(), arg(2).parse().ok())
                .map(|_| Value::Null),
        ),
        // Binding a low port needs CAP_NET_BIND_SERVICE; the loopback link may
        // be down in a fresh network namespace, the wildcard address is not.
        "bind" => outcome(
            std::net::TcpListener::bind(("0.0.0.0", arg(0).parse::<u16>().unwrap_or(0)))
                .map(|_| Value::Null),
        ),
        "syscall" => errno_outcome(harmless_syscall(arg(0))),
        "spawn" => spawn(arg(0).parse().unwrap_or(0)),
        "kill" => errno_outcome(
            ffi::send_signal(arg(0).parse().unwrap_or(0), arg(1).parse().unwrap_or(0)).map(|_| 0),
        ),
        _ => json!({ "ok": true, "value": args }),
    };
    let mut v = result;
    v["probe"] = Value::String(name.to_string());
    v["args"] = json!(args);
    v
}

/// System calls with integer-only arguments that change nothing when allowed,
/// so seccomp and capability cases can see the errno a filter returns.
fn harmless_syscall(name: &str) -> Result<i64, i32> {
    let (nr, args): (i64, &[i64]) = match name {
        "getpid" => (ffi::SYS_GETPID, &[]),
        "getppid" => (ffi::SYS_GETPPID, &[]),
        "sync" => (ffi::SYS_SYNC, &[]),
        // unshare(0) unshares nothing.
        "unshare" => (ffi::SYS_UNSHARE, &[0]),
        "personality" => (ffi::SYS_PERSONALITY, &[0xffff_ffff]),
        // uname with a null buffer: EFAULT when allowed, the filter's errno when not.
        "uname" => (ffi::SYS_UNAME, &[0]),
        _ => return Err(-1),
    };
    ffi::raw_syscall(nr, args)
}

/// Starts up to `n` children (`/bin/sleep 30`) to see where a pids limit stops
/// fork; reports how many started and the errno of the first failure, then
/// kills and reaps exactly the children it started.
fn spawn(n: usize) -> Value {
    let mut children: Vec<Child> = Vec::new();
    let mut failure = Value::Null;
    for _ in 0..n {
        match Command::new("/bin/sleep").arg("30").spawn() {
            Ok(c) => children.push(c),
            Err(e) => {
                failure = json!({ "errno": e.raw_os_error(), "error": e.to_string() });
                break;
            }
        }
    }
    let started = children.len();
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    json!({ "ok": failure.is_null(), "started": started, "failure": failure })
}
