//! Scaffolding for tests on the real host: unique cgroup names, processes started
//! by the test and killed by PID, and cleanup that runs even when a test fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sangja_cgroups::Manager;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A cgroup name no other test or session uses.
pub fn unique(tag: &str) -> String {
    format!(
        "sangja-cgtest-{}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst),
        tag
    )
}

/// A child process owned by the test: killed (by its PID) and reaped on drop.
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    /// `sh -c script` with piped stdin/stdout, so the test decides when it proceeds.
    pub fn sh(script: &str) -> Proc {
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        Proc { child: Some(child) }
    }

    pub fn sleep() -> Proc {
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        Proc { child: Some(child) }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Lets a `read x` in the script return.
    pub fn go(&mut self) {
        let child = self.child.as_mut().expect("running");
        let stdin = child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"go\n").expect("write stdin");
        stdin.flush().expect("flush");
    }

    /// Waits for exit and returns (success, stdout, stderr).
    pub fn finish(mut self) -> (bool, String, String) {
        let mut child = self.child.take().expect("running");
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn exited(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(Some(_))))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// A manager whose cgroups are removed on drop, pass or fail. Processes it holds
/// must be dropped first (declare them after the guard).
pub struct Guard {
    pub m: Box<dyn Manager>,
    /// Extra directories the test made itself (a private cgroup2 parent), removed last.
    pub extra: Vec<PathBuf>,
}

impl Guard {
    pub fn new(m: Box<dyn Manager>) -> Guard {
        Guard {
            m,
            extra: Vec::new(),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Anything still inside (a test that failed mid-way) must go first.
        if let Ok(pids) = self.m.pids() {
            for p in pids {
                // Only processes this test started can be in a cgroup it created.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = self.m.thaw();
        let _ = self.m.destroy();
        for d in self.extra.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Polls `f` until true; panics with `what` after a generous bound. Used to wait for
/// the kernel (reaping, freezing), never to assert speed.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > Duration::from_secs(30) {
            panic!("gave up waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("reading {}: {e}", p.as_ref().display()))
}

pub fn resources(json: &str) -> oci_spec::runtime::LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

/// The cgroup of `pid` in each hierarchy, from /proc/<pid>/cgroup.
pub fn proc_cgroups(pid: i32) -> Vec<(String, String)> {
    read(format!("/proc/{pid}/cgroup"))
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, c, p) = (it.next()?, it.next()?, it.next()?);
            Some((c.to_string(), p.to_string()))
        })
        .collect()
}

/// Pause stops a counter and resume restarts it: a shell loop counting into a file is
/// moved into the cgroup, frozen, checked still, thawed, checked moving.
/// `frozen_files` checks the version's own freezer files in each state.
pub fn freezer_counter(g: &mut Guard, frozen_files: &dyn Fn(&Guard, bool)) {
    use sangja_cgroups::FreezerState;
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("n");
    let counter = Proc::sh(&format!(
        "i=0; while :; do i=$((i+1)); echo $i > {}; done",
        f.display()
    ));
    g.m.apply(counter.pid()).unwrap();
    let val = || {
        std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    wait_until("counter running", || val().is_some_and(|v| v > 10));
    g.m.freeze().unwrap();
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Frozen);
    frozen_files(g, true);
    let a = val();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(val(), a, "a frozen counter advanced");
    g.m.thaw().unwrap();
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Thawed);
    frozen_files(g, false);
    let a = a.unwrap_or(0);
    wait_until("counter advancing after thaw", || {
        val().is_some_and(|v| v > a + 10)
    });
    drop(counter);
}
