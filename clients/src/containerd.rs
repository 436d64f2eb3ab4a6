//! A private containerd 1.6: its own root, state, socket and opt dir under a temp
//! dir, the CRI plugin off, stopped by its PID when dropped. Containers run in a
//! namespace unique to this test run, so the shim's runtime root
//! (/run/containerd/runc/<ns>) and the cgroups (/<ns>/<id>) are ours alone.

use crate::cmd::{self, run, run_within, wait_for, wait_for_within, Outcome, CLEANUP_GUARD};
use crate::leftovers::{self, Report};
use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where containerd's runc shim and sangja's shim keep runtime state, whatever
/// containerd's state dir.
const SHIM_ROOTS: [&str; 2] = ["/run/containerd/runc", "/run/containerd/sangja"];
/// Shared directories containerd and ctr create under /run whatever their config.
const SHARED_RUN_DIRS: [&str; 5] = [
    "/run/containerd/s",
    "/run/containerd/fifo",
    "/run/containerd/runc",
    "/run/containerd/sangja",
    "/run/containerd",
];

/// Where a private daemon under one temp dir keeps its store, state, socket and opt dir.
pub struct Layout {
    pub root: PathBuf,
    pub state: PathBuf,
    pub socket: PathBuf,
    pub opt: PathBuf,
}

impl Layout {
    pub fn under(dir: &Path) -> Layout {
        Layout {
            root: dir.join("root"),
            state: dir.join("state"),
            socket: dir.join("containerd.sock"),
            opt: dir.join("opt"),
        }
    }
}

pub struct Containerd {
    dir: PathBuf,
    pub socket: PathBuf,
    pub namespace: String,
    child: Option<Child>,
    /// Whether this daemon is counted in RUN_DIRS (until it stops).
    counted: bool,
}

/// The shared /run directories that did not exist when this test process started its
/// first private containerd, and how many of its daemons are running: the last one to
/// stop removes them when empty (another daemon's files keep them). Counted across
/// daemons because two can run at once (the clients lab's and the CRI node's), and
/// whichever starts second finds the directories already there.
static RUN_DIRS: std::sync::Mutex<(usize, Vec<&'static str>)> =
    std::sync::Mutex::new((0, Vec::new()));

impl Containerd {
    /// Starts the daemon under `dir` (CRI off) and waits until it answers.
    pub fn start(dir: &Path, namespace: &str) -> Result<Containerd> {
        let l = Layout::under(dir);
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
            root = l.root.display(),
            state = l.state.display(),
            sock = l.socket.display(),
            opt = l.opt.display(),
        );
        Containerd::start_with(dir, namespace, &config)
    }

    /// Starts the daemon under `dir` with this config.toml (which must use the
    /// paths of `Layout::under(dir)`) and waits until it answers.
    pub fn start_with(dir: &Path, namespace: &str, config_text: &str) -> Result<Containerd> {
        fs::create_dir_all(dir)?;
        let socket = Layout::under(dir).socket;
        let config = dir.join("config.toml");
        fs::write(&config, config_text)?;
        {
            let mut run = RUN_DIRS.lock().unwrap_or_else(|e| e.into_inner());
            for d in SHARED_RUN_DIRS {
                if !Path::new(d).exists() && !run.1.contains(&d) {
                    run.1.push(d);
                }
            }
        }
        let log = fs::File::create(dir.join("containerd.log"))?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start containerd")?;
        RUN_DIRS.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
        let mut me = Containerd {
            dir: dir.to_path_buf(),
            socket,
            namespace: namespace.to_string(),
            child: Some(child),
            counted: true,
        };
        wait_for("containerd to answer `ctr version`", || {
            if let Some(c) = me.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    anyhow::bail!("containerd exited early ({status}): {}", me.daemon_log());
                }
            }
            Ok(me.ctr(&["version"])?.success().then_some(()))
        })?;
        Ok(me)
    }

    /// The daemon's own log, for failure messages.
    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address <ours> -n <ns> args...`
    pub fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args);
        c
    }

    pub fn ctr(&self, args: &[&str]) -> Result<Outcome> {
        run(&mut self.ctr_cmd(args))
    }

    pub fn ctr_ok(&self, args: &[&str]) -> Result<Outcome> {
        self.ctr(args)?.ok()
    }

    /// `ctr task ls` as (id, pid, status) rows.
    pub fn tasks(&self) -> Result<Vec<(String, u32, String)>> {
        let out = self.ctr_ok(&["task", "ls"])?;
        Ok(out
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                match f.as_slice() {
                    [id, pid, status] => {
                        Some((id.to_string(), pid.parse().ok()?, status.to_string()))
                    }
                    _ => None,
                }
            })
            .collect())
    }

    /// The task's (pid, status), if the task exists.
    pub fn task(&self, id: &str) -> Result<Option<(u32, String)>> {
        Ok(self
            .tasks()?
            .into_iter()
            .find(|t| t.0 == id)
            .map(|t| (t.1, t.2)))
    }

    /// Waits until the task shows `status`; returns its pid.
    pub fn wait_status(&self, id: &str, status: &str) -> Result<u32> {
        wait_for(&format!("task {id} to be {status}"), || {
            Ok(self.task(id)?.filter(|t| t.1 == status).map(|t| t.0))
        })
    }

    /// containerd's `state` directory (shim bundles live below it).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The bundle directory the shim made for a container.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.state_dir()
            .join("io.containerd.runtime.v2.task")
            .join(&self.namespace)
            .join(id)
    }

    /// The FIFO directories ctr made under /run/containerd/fifo holding a file whose
    /// name starts with `prefix` (ctr names them `<process id>-stdin`, `-stdout`,
    /// `-stderr`; the init's process id is the container id).
    pub fn fifo_dirs(&self, prefix: &str) -> Vec<PathBuf> {
        leftovers::entries(Path::new("/run/containerd/fifo"))
            .into_iter()
            .filter(|dir| {
                leftovers::entries(dir).iter().any(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                })
            })
            .collect()
    }

    /// ctr never removes the FIFOs of an exec it detached from (`task exec -d`),
    /// whatever the runtime, nor those of a ctr killed midway: remove them.
    pub fn remove_fifos(&self, process_id: &str) {
        for dir in self.fifo_dirs(&format!("{process_id}-std")) {
            let _ = fs::remove_dir_all(&dir);
        }
    }

    /// Forced removal of whatever a failed flow left: task killed and deleted,
    /// container record removed. Errors are ignored (parts may be gone already).
    pub fn force_remove(&self, id: &str) {
        for args in [
            &["task", "kill", "--all", "--signal", "SIGKILL", id][..],
            &["task", "delete", "--force", id],
            &["container", "delete", id],
        ] {
            let _ = run_within(&mut self.ctr_cmd(args), CLEANUP_GUARD);
        }
        self.remove_fifos(id);
    }

    /// The shim's ttrpc socket for a container: containerd 1.6 names it by the
    /// sha256 of `<containerd address>/<namespace>/<id>` under /run/containerd/s.
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        shim_socket(&self.socket, &self.namespace, id)
    }

    /// Everything one container may leave: its shim, mounts, bundle, runtime state
    /// (under `runtime_root`, the shim's root for our namespace) and cgroup. Shims
    /// exit asynchronously after the delete, so wait for them.
    pub fn leftovers_of(&self, id: &str, runtime_root: &Path) -> Result<()> {
        let mut report = Report::default();
        let shim_needle = format!("-namespace {} -id {id} ", self.namespace);
        let waited = wait_for_within("the shim to exit", CLEANUP_GUARD, || {
            Ok(leftovers::processes_with(&shim_needle)
                .is_empty()
                .then_some(()))
        });
        if waited.is_err() {
            report.processes("shim", leftovers::processes_with(&shim_needle));
        }
        let socket = self.shim_socket(id);
        if socket.exists() {
            report.paths("shim socket", vec![socket]);
        }
        // The container's own and those of its execs (our exec ids start with `<id>-`).
        report.paths("ctr FIFO directory", self.fifo_dirs(&format!("{id}-")));
        let bundle = self.bundle(id);
        report.mounts(leftovers::mounts_with(&bundle.display().to_string()));
        if bundle.exists() {
            report.paths("bundle directory", vec![bundle]);
        }
        let state = runtime_root.join(id);
        if state.exists() {
            report.paths("runtime state directory", vec![state]);
        }
        report.paths(
            "cgroup",
            leftovers::cgroups_named(&format!("{}/{id}", self.namespace)),
        );
        if run_within(&mut self.ctr_cmd(&["container", "ls", "-q"]), CLEANUP_GUARD)?
            .ok()?
            .stdout
            .lines()
            .any(|l| l == id)
        {
            report.paths("container record", vec![PathBuf::from(id)]);
        }
        report.into_result()
    }

    /// Shim processes serving our daemon: of our namespace and our socket (the CRI
    /// plugin's namespace, k8s.io, is every CRI daemon's).
    pub fn shims(&self) -> Vec<(i32, String)> {
        let address = format!("-address {}", self.socket.display());
        leftovers::processes_with(&format!("-namespace {} ", self.namespace))
            .into_iter()
            .filter(|(_, cmdline)| cmdline.contains(&address))
            .collect()
    }

    /// Stops the daemon (SIGTERM, then SIGKILL) and every shim it started, by PID;
    /// removes what it made outside its temp dir when empty.
    pub fn stop(&mut self) -> Result<()> {
        let shims = self.shims();
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let line = "containerd (stopping)";
            if wait_for("containerd to stop", || Ok(child.try_wait()?.map(|_| ()))).is_err() {
                let _ = child.kill();
            }
            cmd::wait_guarded(&mut child, line)?;
        }
        // Shims outlive containerd by design; any left here were started by our
        // daemon. Their sockets and the mounts under our dir go with them.
        kill_shims(&shims, &self.socket, &self.namespace);
        let stale = leftovers::mounts_with(&self.dir.display().to_string());
        for m in stale.iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        for root in SHIM_ROOTS {
            let _ = fs::remove_dir(Path::new(root).join(&self.namespace));
        }
        leftovers::remove_empty_cgroup(&self.namespace);
        if std::mem::take(&mut self.counted) {
            let mut run = RUN_DIRS.lock().unwrap_or_else(|e| e.into_inner());
            run.0 -= 1;
            if run.0 == 0 {
                // SHARED_RUN_DIRS order: children before their parent.
                for d in SHARED_RUN_DIRS.iter().filter(|d| run.1.contains(d)) {
                    let _ = fs::remove_dir(d);
                }
                run.1.clear();
            }
        }
        anyhow::ensure!(
            shims.is_empty() && stale.is_empty(),
            "containerd left shims {shims:?} and mounts {stale:?} (killed and detached)"
        );
        Ok(())
    }
}

/// Kills shims (pid, command line) found left over, by PID, and removes their
/// sockets (named from the containerd `address` and `namespace` they served).
pub fn kill_shims(shims: &[(i32, String)], address: &Path, namespace: &str) {
    for (pid, cmdline) in shims {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        let mut words = cmdline.split_whitespace();
        if let Some(id) = words.by_ref().skip_while(|w| *w != "-id").nth(1) {
            let _ = fs::remove_file(shim_socket(address, namespace, id));
        }
    }
}

/// containerd 1.6's `shim.SocketAddress`: the hex sha256 of
/// `filepath.Join(address, namespace, id)` under /run/containerd/s.
pub fn shim_socket(address: &Path, namespace: &str, id: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let key = address.join(namespace).join(id);
    let digest = Sha256::digest(key.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Path::new("/run/containerd/s").join(hex)
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
