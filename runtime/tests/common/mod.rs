//! What every runtime test file shares: which runtime binary is under test, and a
//! private --root with a busybox bundle. Not every test file uses every piece.
#![allow(dead_code)]

pub mod leftovers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test: sangja, or `SANGJA_TEST_RUNTIME` (runc) to show the
/// expectations are runc's.
pub fn runtime() -> PathBuf {
    std::env::var_os("SANGJA_TEST_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sangja")))
}

pub fn is_sangja() -> bool {
    std::env::var_os("SANGJA_TEST_RUNTIME").is_none()
}

/// A private --root and bundle, removed (containers first) when dropped.
pub struct Env {
    pub dir: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("sangja-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        Env { dir }
    }
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
    pub fn rt(&self, args: &[&str]) -> Output {
        self.rt_global(&[], args)
    }
    /// `rt` with global flags before the command (`--criu PATH`, ...).
    pub fn rt_global(&self, global: &[&str], args: &[&str]) -> Output {
        // A created container keeps the stdio it was given: files, not pipes, so that
        // waiting for the command does not wait for the container too.
        let out = self.dir.join("out");
        let err = self.dir.join("err");
        let status = Command::new(runtime())
            .arg("--root")
            .arg(self.root())
            .args(global)
            .args(args)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .expect("runtime runs");
        Output {
            status,
            stdout: std::fs::read(&out).unwrap(),
            stderr: std::fs::read(&err).unwrap(),
        }
    }
    /// A busybox bundle whose process runs `args`.
    pub fn bundle(&self, args: &[&str]) -> PathBuf {
        let b = self.dir.join("bundle");
        if !b.join("rootfs/bin/busybox").exists() {
            let st = Command::new("bash")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mkrootfs.sh"))
                .arg(b.join("rootfs"))
                .output()
                .unwrap();
            assert!(
                st.status.success(),
                "mkrootfs: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        }
        let _ = std::fs::remove_file(b.join("config.json"));
        let out = Command::new(runtime())
            .args(["spec", "-b"])
            .arg(&b)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = serde_json::json!(args);
        std::fs::write(
            b.join("config.json"),
            serde_json::to_vec_pretty(&cfg).unwrap(),
        )
        .unwrap();
        b
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(self.root()) {
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.rt(&["delete", "--force", &id]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The message and the one descriptor a runtime sent to the unix socket `l` (a console
/// socket or a pidfd socket). The runtime connects and sends before it exits, so the
/// connection is already queued when this is called.
pub fn receive_fd(l: &std::os::unix::net::UnixListener) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::{AsRawFd, FromRawFd};
    l.set_nonblocking(true).unwrap();
    let (conn, _) = l.accept().expect("the runtime connected to the socket");
    conn.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let mut fd = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel installed this descriptor for us.
            fd = Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    let n = msg.bytes;
    (buf[..n].to_vec(), fd.expect("a descriptor arrived"))
}
