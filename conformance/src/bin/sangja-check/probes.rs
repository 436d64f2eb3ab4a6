//! Behaviour probes: small actions whose outcome (success or errno) a case
//! compares with what the config asked, so cases check behaviour, not only files.

use serde_json::{json, Value};
use std::fs;
use std::io::Read;
use std::process::{Child, Command};

use crate::ffi;

/// Probe names and how many arguments each takes.
pub const PROBES: [(&str, usize); 14] = [
    ("exe-reopen", 3),
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
        "exe-reopen" => exe_reopen(arg(0), arg(1).parse().unwrap_or(10), arg(2)),
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
        // openat2 with a zero-sized open_how: EINVAL when allowed, opens nothing.
        "openat2" => (ffi::SYS_OPENAT2, &[-100, 0, 0, 0]),
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

/// The CVE-2019-5736 pattern: hold an O_PATH handle on `/proc/PID/exe` while
/// PID is still the runtime's init, wait (up to `secs`) until PID has exec'd
/// something else, then try to reopen the handle for writing and write back
/// the byte already at offset 0 (so even a success changes nothing).
/// `ready` is created once the handle is held.
fn exe_reopen(pid: &str, secs: u64, ready: &str) -> Value {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::os::unix::io::AsRawFd;
    const O_PATH: i32 = 0o10000000;
    let exe = format!("/proc/{pid}/exe");
    let cmdline = format!("/proc/{pid}/cmdline");
    let handle = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_PATH)
        .open(&exe)
    {
        Ok(h) => h,
        Err(e) => return json!({ "ok": false, "stage": "open-path", "errno": e.raw_os_error() }),
    };
    let before = fs::read(&cmdline).unwrap_or_default();
    let _ = fs::write(ready, "ready\n");
    let started = std::time::Instant::now();
    let mut changed = false;
    while started.elapsed() < std::time::Duration::from_secs(secs) {
        if fs::read(&cmdline).map(|c| c != before).unwrap_or(true) {
            changed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let reopen = format!("/proc/self/fd/{}", handle.as_raw_fd());
    // As the real exploit does, retry while some process (the runtime's `start`,
    // say) still executes the file: ETXTBSY is a race won by luck, not a protection.
    const ETXTBSY: i32 = 26;
    let busy_until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let file = loop {
        match fs::OpenOptions::new().read(true).write(true).open(&reopen) {
            Ok(f) => break f,
            Err(e)
                if e.raw_os_error() == Some(ETXTBSY) && std::time::Instant::now() < busy_until =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => {
                return json!({ "ok": false, "stage": "reopen", "changed": changed, "errno": e.raw_os_error() })
            }
        }
    };
    let mut byte = [0u8; 1];
    if let Err(e) = file.read_at(&mut byte, 0) {
        return json!({ "ok": false, "stage": "read", "changed": changed, "errno": e.raw_os_error() });
    }
    match file.write_at(&byte, 0) {
        Ok(_) => json!({ "ok": true, "stage": "write", "changed": changed }),
        Err(e) => {
            json!({ "ok": false, "stage": "write", "changed": changed, "errno": e.raw_os_error() })
        }
    }
}
