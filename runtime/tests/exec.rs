//! `sangja exec` beyond what the conformance suite checks: descriptor passing, pidfds,
//! exact stdio, and the error cases. Runs against SANGJA_TEST_RUNTIME
//! (runc) too, except for runc 1.2's --pidfd-socket.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn runtime() -> PathBuf {
    std::env::var_os("SANGJA_TEST_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sangja")))
}

/// A running busybox container (`sleep`) under a private --root, deleted when dropped.
struct Running {
    dir: PathBuf,
    id: String,
}

impl Running {
    fn start(name: &str) -> Running {
        let dir = std::env::temp_dir().join(format!("sangja-exec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let b = dir.join("bundle");
        let st = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mkrootfs.sh"))
            .arg(b.join("rootfs"))
            .output()
            .unwrap();
        assert!(st.status.success());
        assert!(Command::new(runtime())
            .args(["spec", "-b"])
            .arg(&b)
            .status()
            .unwrap()
            .success());
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        std::fs::write(b.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
        let r = Running {
            dir,
            id: format!("x{name}"),
        };
        let st = r
            .cmd(&["run", "-d", "--bundle", b.to_str().unwrap(), &r.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "run -d failed");
        r
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime());
        c.arg("--root").arg(self.dir.join("root")).args(args);
        c
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.cmd(&["delete", "--force", &self.id]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn preserve_fds_reach_the_process() {
    let r = Running::start("pfd");
    let path = r.dir.join("payload");
    std::fs::write(&path, b"passed through fd 3").unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let fd = f.as_raw_fd();
    let mut c = r.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        &r.id,
        "cat",
        "/proc/self/fd/3",
    ]);
    // SAFETY: in the child before exec: the file onto fd 3, inheritable (it may already be 3).
    unsafe {
        c.pre_exec(move || {
            if fd != 3 && libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::fcntl(3, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"passed through fd 3");
    // Without --preserve-fds the descriptor does not reach the container.
    let mut c = r.cmd(&["exec", &r.id, "cat", "/proc/self/fd/3"]);
    // SAFETY: as above.
    unsafe {
        c.pre_exec(move || {
            if fd != 3 {
                libc::dup2(fd, 3);
            }
            libc::fcntl(3, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert!(
        !out.status.success() || out.stdout.is_empty(),
        "fd 3 leaked into the container"
    );
}

#[test]
fn stdio_pipes_carry_exactly_the_bytes() {
    let r = Running::start("stdio");
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let mut child = r
        .cmd(&["exec", &r.id, "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&d2).unwrap();
    });
    let mut got = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes differ");
}

#[test]
fn pidfd_arrives_and_can_signal() {
    if std::env::var_os("SANGJA_TEST_RUNTIME").is_some() {
        return; // runc 1.1.5 has no --pidfd-socket (runc 1.2 added it)
    }
    let r = Running::start("pidfd");
    let sock_path = r.dir.join("pidfd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let mut child = r
        .cmd(&[
            "exec",
            "-d",
            "--pidfd-socket",
            sock_path.to_str().unwrap(),
            &r.id,
            "sleep",
            "300",
        ])
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 16];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let mut pidfd = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel installed this descriptor for us.
            pidfd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    assert!(child.wait().unwrap().success());
    let pidfd = pidfd.expect("a descriptor arrived");
    let pid: i32 = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Pid:").map(|v| v.trim().parse().unwrap()))
        .expect("a pidfd names its pid");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    // SAFETY: pidfd_send_signal on a pidfd we own.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<u8>(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "pidfd_send_signal: {}",
        std::io::Error::last_os_error()
    );
    for _ in 0..200 {
        let gone = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true);
        if gone {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the process signalled through its pidfd is still alive");
}

#[test]
fn exec_errors() {
    let r = Running::start("err");
    let run = |args: &[&str]| r.cmd(args).output().unwrap();
    let o = run(&["exec", "--cwd", "relative", &r.id, "true"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Cwd must be an absolute path"));
    let not_a_socket = r.dir.join("plain-file");
    std::fs::write(&not_a_socket, b"").unwrap();
    let o = run(&[
        "exec",
        "-t",
        "--console-socket",
        not_a_socket.to_str().unwrap(),
        &r.id,
        "true",
    ]);
    assert!(!o.status.success());
    let o = run(&["exec", "-p", "/nonexistent/process.json", &r.id]);
    assert!(!o.status.success());
    let o = run(&["exec", &r.id, "/no/such/program"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no such file or directory"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Nothing of the failed execs is left in the container.
    let o = run(&["ps", "--format", "json", &r.id]);
    let pids: Vec<i64> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pids.len(), 1, "{pids:?}");
}
