//! `sangja exec` and what a process gets from its caller, beyond what the conformance
//! suite checks: descriptor passing (--preserve-fds, socket activation), pidfds, exact
//! stdio, a relayed terminal under a pty, sub-cgroups, and the error cases. Runs against
//! SANGJA_TEST_RUNTIME (runc) too, except where a test says otherwise.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::termios::{tcgetattr, LocalFlags};

/// How long a test waits for something that should happen at once: a deadline against
/// hanging forever, never a measure of speed.
const DEADLINE: Duration = Duration::from_secs(60);

mod common;
use common::{is_sangja, runtime};

/// A busybox bundle and a private --root in a folder of the test's own. Whatever container
/// it made is deleted and the folder removed when this is dropped, however the test ends.
struct Ctr {
    dir: PathBuf,
    id: String,
}

impl Ctr {
    /// The bundle runs `args`; `edit` changes its config.json further.
    fn new(name: &str, args: &[&str], edit: impl FnOnce(&mut serde_json::Value)) -> Ctr {
        let dir = std::env::temp_dir().join(format!("sangja-exec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Ctr {
            dir,
            // Unique on the machine: the default cgroup path is named after the id, and
            // another run of these tests (or another checkout's) may be going on.
            id: format!("x{name}-{}", std::process::id()),
        };
        let b = c.bundle();
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
        cfg["process"]["args"] = serde_json::json!(args);
        edit(&mut cfg);
        std::fs::write(b.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
        c
    }
    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime());
        c.arg("--root").arg(self.dir.join("root")).args(args);
        c
    }
    fn run_detached(&self) {
        let st = self
            .cmd(&[
                "run",
                "-d",
                "--bundle",
                self.bundle().to_str().unwrap(),
                &self.id,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "run -d failed");
    }
    /// The pid of the container's process, from `state`.
    fn pid(&self) -> i32 {
        let o = self.cmd(&["state", &self.id]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["pid"].as_i64().expect("state names a pid") as i32
    }
    /// How many processes the container has.
    fn processes(&self) -> usize {
        let o = self
            .cmd(&["ps", "--format", "json", &self.id])
            .output()
            .unwrap();
        serde_json::from_slice::<Vec<i64>>(&o.stdout).unwrap().len()
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self.cmd(&["delete", "--force", &self.id]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits for a child of the test to exit, up to the deadline.
fn wait_until_exit(child: &mut Child, context: &str) -> ExitStatus {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(
            Instant::now() < end,
            "pid {} never exited; {context}",
            child.id()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running busybox container (`sleep`).
fn running(name: &str) -> Ctr {
    let c = Ctr::new(name, &["sleep", "1000"], |_| {});
    c.run_detached();
    c
}

/// Makes `fds` the child's descriptors 3, 4, ... (inheritable), as a caller of
/// --preserve-fds or a socket-activating service manager does.
fn pass_fds(c: &mut Command, fds: Vec<RawFd>) {
    const MAX: usize = 8;
    assert!(fds.len() <= MAX);
    // SAFETY: in the child before exec, only fcntl and dup2 (no allocation: the vector was
    // made before the fork).
    unsafe {
        c.pre_exec(move || {
            // First out of the way, so that placing one cannot overwrite another.
            let mut high = [0; MAX];
            for (i, &fd) in fds.iter().enumerate() {
                high[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, &h) in high[..fds.len()].iter().enumerate() {
                if libc::dup2(h, 3 + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// `c` started the way systemd starts a socket-activated service: LISTEN_FDS=n, and
/// LISTEN_PID naming the runtime itself (a shell exports its own pid, then execs it).
fn socket_activated(c: &Command, n: usize) -> Command {
    let mut s = Command::new("sh");
    s.args(["-c", "export LISTEN_PID=$$; exec \"$@\"", "sh"])
        .arg(c.get_program())
        .args(c.get_args())
        .env("LISTEN_FDS", n.to_string());
    s
}

#[test]
fn preserve_fds_reach_the_process() {
    let r = running("pfd");
    let path = r.dir.join("payload");
    std::fs::write(&path, b"passed through fd 3").unwrap();
    let f = File::open(&path).unwrap();
    let read_fd3 = "{ cat <&3; } 2>/dev/null || echo no-fd-3";
    let mut c = r.cmd(&["exec", "--preserve-fds", "1", &r.id, "sh", "-c", read_fd3]);
    pass_fds(&mut c, vec![f.as_raw_fd()]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"passed through fd 3");
    // Without --preserve-fds the descriptor does not reach the container.
    let mut c = r.cmd(&["exec", &r.id, "sh", "-c", read_fd3]);
    pass_fds(&mut c, vec![f.as_raw_fd()]);
    let out = c.output().unwrap();
    assert_eq!(out.stdout, b"no-fd-3\n", "fd 3 leaked into the container");
    // Nor as socket activation: as runc, exec leaves LISTEN_FDS to the container's init.
    let mut c = socket_activated(
        &r.cmd(&[
            "exec",
            &r.id,
            "sh",
            "-c",
            &format!("{read_fd3}; echo \"[$LISTEN_FDS]\""),
        ]),
        1,
    );
    pass_fds(&mut c, vec![f.as_raw_fd()]);
    let out = c.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no-fd-3\n[]\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn listen_fds_reach_the_init_from_3() {
    let script = "echo \"$LISTEN_FDS $LISTEN_PID $$\"; cat <&3; cat <&4; \
                  [ -e /proc/$$/fd/5 ] && echo fd-5-leaked; true";
    let c = Ctr::new("listen", &["sh", "-c", script], |_| {});
    let first = c.dir.join("first");
    let second = c.dir.join("second");
    let third = c.dir.join("third");
    std::fs::write(&first, b"first socket\n").unwrap();
    std::fs::write(&second, b"second socket\n").unwrap();
    std::fs::write(&third, b"").unwrap();
    let files: Vec<File> = [&first, &second, &third]
        .iter()
        .map(|p| File::open(p).unwrap())
        .collect();
    let run = || c.cmd(&["run", "--bundle", c.bundle().to_str().unwrap(), &c.id]);
    // Two sockets (3 and 4) for us, and a descriptor 5 that is not one of them.
    let mut cmd = socket_activated(&run(), 2);
    pass_fds(&mut cmd, files.iter().map(|f| f.as_raw_fd()).collect());
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // As runc: numbered from 3, and LISTEN_PID is the init's own pid (1 in its namespace).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 1 1\nfirst socket\nsecond socket\n"
    );
    // LISTEN_FDS meant for another process (LISTEN_PID not the runtime's) passes nothing.
    let mut cmd = run();
    cmd.env("LISTEN_FDS", "2").env("LISTEN_PID", "1");
    pass_fds(&mut cmd, files.iter().map(|f| f.as_raw_fd()).collect());
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("  1\n"), "{stdout:?}");
    assert!(!stdout.contains("socket"), "{stdout:?}");
}

#[test]
fn stdio_pipes_carry_exactly_the_bytes() {
    let r = running("stdio");
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
    let r = running("pidfd");
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
        .stdout(Stdio::null())
        .stderr(File::create(r.dir.join("pidfd.err")).unwrap())
        .spawn()
        .unwrap();
    // The runtime connects, sends and exits without waiting for us to accept, so a failed
    // exec shows as its status instead of an accept that waits forever.
    let st = wait_until_exit(&mut child, "exec -d --pidfd-socket");
    assert!(
        st.success(),
        "{}",
        std::fs::read_to_string(r.dir.join("pidfd.err")).unwrap()
    );
    let (_, pidfd) = common::receive_fd(&listener);
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

/// A pty of the test's own. Both ends are close-on-exec from the moment they are opened
/// (posix_openpt and open with O_CLOEXEC): openpty(3) leaves them inheritable, and a child
/// that another test thread spawns meanwhile would keep a copy of the slave.
struct Pty {
    master: File,
    slave: OwnedFd,
}

impl Pty {
    fn open(rows: u16, cols: u16) -> Pty {
        use nix::fcntl::OFlag;
        let m = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
        nix::pty::grantpt(&m).unwrap();
        nix::pty::unlockpt(&m).unwrap();
        let name = nix::pty::ptsname_r(&m).unwrap();
        // std opens every file close-on-exec.
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&name)
            .unwrap()
            .into();
        // SAFETY: the master descriptor is ours alone.
        let master = unsafe { File::from_raw_fd(m.into_raw_fd()) };
        let pty = Pty { master, slave };
        pty.resize(rows, cols);
        pty
    }
    /// As a terminal emulator does when its window changes: the kernel then sends SIGWINCH
    /// to the terminal's foreground process group.
    fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize we own.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }
    /// `c` in the foreground of this terminal, as a shell runs a command: in a new session
    /// whose controlling terminal is the slave, which is also its stdin, stdout and stderr.
    fn spawn(&self, mut c: Command) -> OnTty {
        let slave = self.slave.as_raw_fd();
        // SAFETY: in the child before exec, only setsid, ioctl and dup2.
        unsafe {
            c.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for fd in 0..3 {
                    if libc::dup2(slave, fd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        OnTty {
            child: c.spawn().unwrap(),
            master: self.master.try_clone().unwrap(),
            seen: String::new(),
        }
    }
}

/// A runtime in the foreground of the test's pty, and what it showed there. Killed (by its
/// pid) if the test ends before it exits.
struct OnTty {
    child: Child,
    master: File,
    seen: String,
}

impl OnTty {
    /// Reads the terminal until `want` has shown on it.
    fn wait_for(&mut self, want: &str) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let end = Instant::now() + DEADLINE;
        while !self.seen.contains(want) {
            assert!(
                Instant::now() < end,
                "{want:?} never showed on the terminal; it showed {:?}",
                self.seen
            );
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(1000u16)).unwrap() == 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            let n = self.master.read(&mut buf).unwrap();
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }
    fn wait(&mut self) -> ExitStatus {
        let context = format!("the terminal showed {:?}", self.seen);
        wait_until_exit(&mut self.child, &context)
    }
}

impl Drop for OnTty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// runc gives the pty the caller's size only once the process runs (a busybox `stty size`
/// on a 0x0 terminal prints only "stty: standard input" on stderr, and exits 0), so under
/// runc a script first waits for a size; sangja sets it before the process starts.
fn wait_for_size() -> &'static str {
    if is_sangja() {
        ""
    } else {
        "until [ -n \"$(stty size 2>/dev/null)\" ]; do sleep 0.05; done; "
    }
}

#[test]
fn foreground_tty_relays_size_changes_and_input() {
    let r = running("tty");
    let pty = Pty::open(31, 97);
    let before = tcgetattr(&pty.slave).unwrap();
    let script = format!(
        "{}echo \"SIZE $(stty size)\"; \
         trap 'echo \"WINCH $(stty size)\"; read -r line; echo \"GOT $line\"; exit 0' WINCH; \
         echo READY; while :; do sleep 0.05; done",
        wait_for_size()
    );
    let mut tty = pty.spawn(r.cmd(&["exec", "-t", &r.id, "sh", "-c", &script]));
    tty.wait_for("READY");
    assert!(tty.seen.contains("SIZE 31 97"), "{:?}", tty.seen);
    pty.resize(40, 120);
    tty.wait_for("WINCH 40 120");
    // While it relays, the caller's terminal is raw: no line editing, no echo.
    let during = tcgetattr(&pty.slave).unwrap();
    assert!(!during.local_flags.contains(LocalFlags::ICANON));
    assert!(!during.local_flags.contains(LocalFlags::ECHO));
    (&pty.master).write_all(b"typed\r").unwrap();
    tty.wait_for("GOT typed");
    let status = tty.wait();
    assert!(status.success(), "{status:?}: {:?}", tty.seen);
    // The caller's terminal modes are back as they were.
    assert_eq!(tcgetattr(&pty.slave).unwrap(), before);
}

#[test]
fn foreground_run_tty_starts_with_the_callers_size() {
    let script = format!("{}echo \"SIZE $(stty size) END\"", wait_for_size());
    let c = Ctr::new("runtty", &["sh", "-c", &script], |cfg| {
        cfg["process"]["terminal"] = true.into();
    });
    let pty = Pty::open(33, 101);
    let before = tcgetattr(&pty.slave).unwrap();
    let mut tty = pty.spawn(c.cmd(&["run", "--bundle", c.bundle().to_str().unwrap(), &c.id]));
    tty.wait_for(" END");
    assert!(tty.seen.contains("SIZE 33 101 END"), "{:?}", tty.seen);
    let status = tty.wait();
    assert!(status.success(), "{status:?}: {:?}", tty.seen);
    assert_eq!(tcgetattr(&pty.slave).unwrap(), before);
}

#[test]
fn foreground_tty_forwards_signals() {
    let r = running("ttysig");
    let pty = Pty::open(24, 80);
    let before = tcgetattr(&pty.slave).unwrap();
    let script = "trap 'echo GOT-USR1' USR1; trap 'echo GOT-TERM; exit 3' TERM; \
                  echo READY; while :; do sleep 0.05; done";
    let mut tty = pty.spawn(r.cmd(&["exec", "-t", &r.id, "sh", "-c", script]));
    tty.wait_for("READY");
    tty.signal(Signal::SIGUSR1);
    tty.wait_for("GOT-USR1");
    tty.signal(Signal::SIGTERM);
    tty.wait_for("GOT-TERM");
    let status = tty.wait();
    assert_eq!(status.code(), Some(3), "{:?}", tty.seen);
    assert_eq!(tcgetattr(&pty.slave).unwrap(), before);
}

#[test]
fn exec_errors() {
    let r = running("err");
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

/// Cgroup folders a test made, removed (deepest first) when dropped, once the container
/// that used them is gone: declare it before the container.
#[derive(Default)]
struct CgroupDirs(Vec<PathBuf>);

impl Drop for CgroupDirs {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The host folders of a process's cgroups, by controller list ("" for cgroup v2), from
/// /proc/PID/cgroup and where each hierarchy is mounted under /sys/fs/cgroup.
fn cgroup_dirs(pid: i32) -> Vec<(String, PathBuf)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let mounts = if ctrls.is_empty() {
            vec!["unified", ""]
        } else {
            vec![ctrls, ctrls.trim_start_matches("name=")]
        };
        let rel = path.trim_start_matches('/');
        if let Some(dir) = mounts
            .iter()
            .map(|m| Path::new("/sys/fs/cgroup").join(m).join(rel))
            .find(|d| d.join("cgroup.procs").exists())
        {
            out.push((ctrls.to_string(), dir));
        }
    }
    out
}

#[test]
fn exec_cgroup_joins_a_sub_cgroup_and_never_leaves_the_containers() {
    let mut made = CgroupDirs::default();
    // The container's cgroup is below a folder of this test's own (relative to the
    // runtime's cgroup), so a sibling can be made without touching anyone else's.
    let top = format!("sangja-exec-cg-{}", std::process::id());
    let r = Ctr::new("cg", &["sleep", "1000"], |cfg| {
        cfg["linux"]["cgroupsPath"] = format!("{top}/ctr").into();
    });
    r.run_detached();
    let dirs: Vec<(String, PathBuf)> = cgroup_dirs(r.pid())
        .into_iter()
        .filter(|(_, d)| d.parent().is_some_and(|p| p.ends_with(&top)))
        .collect();
    assert!(
        !dirs.is_empty(),
        "the container is in no cgroup below {top}"
    );
    made.0
        .extend(dirs.iter().map(|(_, d)| d.parent().unwrap().to_path_buf()));
    // On cgroup v1 the flag names a controller (runc's controller:path); on v2 there is one.
    let (prefix, dir) = match dirs
        .iter()
        .find(|(c, _)| c.split(',').any(|c| c == "memory"))
    {
        Some((_, d)) => ("memory:", d.clone()),
        None => (
            "",
            dirs.iter().find(|(c, _)| c.is_empty()).unwrap().1.clone(),
        ),
    };
    let sub = dir.join("sub");
    let other = dir.parent().unwrap().join("other");
    for d in [&sub, &other] {
        std::fs::create_dir(d).unwrap();
        made.0.push(d.clone());
    }
    let cgroup_of_exec = |path: &str| {
        r.cmd(&[
            "exec",
            "--cgroup",
            &format!("{prefix}{path}"),
            &r.id,
            "cat",
            "/proc/self/cgroup",
        ])
        .output()
        .unwrap()
    };
    let controller = prefix.trim_end_matches(':');
    let line_of = |out: &std::process::Output| -> String {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.split(':').nth(1) == Some(controller))
            .unwrap_or_default()
            .to_string()
    };
    // A sub-cgroup, written relative or (as runc takes it) with a leading slash.
    for path in ["sub", "/sub"] {
        let out = cgroup_of_exec(path);
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(line_of(&out).ends_with("/sub"), "{path}: {}", line_of(&out));
    }
    // One that does not exist: refused, nothing left running.
    let out = cgroup_of_exec("missing");
    assert!(!out.status.success());
    assert_eq!(r.processes(), 1);
    if !is_sangja() {
        return; // runc 1.1.5 joins `..` paths (path.Join): the refusals are sangja's own
    }
    for path in ["../other", "/../other", "sub/../../other"] {
        let out = cgroup_of_exec(path);
        assert!(!out.status.success(), "{path} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("must stay inside the container's cgroup"),
            "{path}: {err}"
        );
        assert_eq!(r.processes(), 1, "{path}: a process was left behind");
        assert_eq!(
            std::fs::read_to_string(other.join("cgroup.procs")).unwrap(),
            "",
            "{path}: a process reached the other cgroup"
        );
    }
}
