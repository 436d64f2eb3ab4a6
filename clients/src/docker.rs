//! A private Docker Engine (apt `docker.io`, dockerd 20.10): its own data-root,
//! exec-root, pidfile, API socket and daemon.json under a temp dir, on top of the
//! suite's private containerd in a containerd namespace of its own, with no host
//! network changes (`--iptables=false --bridge=none --ip-forward=false --ip-masq=false`).
//! The runtimes under test are named in daemon.json `"runtimes"`, as a user would
//! (README); containers pick one with `docker run --runtime NAME`, the classic builder
//! uses `"default-runtime"`, which a reload (SIGHUP) changes without a restart.
//! Stopped by its PID when the run ends, pass or fail.

use crate::cmd::{self, run, run_within, wait_for, wait_for_within, Outcome, CLEANUP_GUARD};
use crate::containerd::{kill_shims, shim_socket};
use crate::leftovers::{self, Report};
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What apt's docker.io installs. /usr/local/bin/docker may hold another CLI (a
/// machine image's static one): always these, so a fresh machine behaves the same.
pub const DOCKERD: &str = "/usr/sbin/dockerd";
pub const DOCKER: &str = "/usr/bin/docker";

/// Directories dockerd creates whatever its flags say (plugin sockets): removed at
/// the end when empty and not there before.
const SHARED_RUN_DIRS: [&str; 2] = ["/run/docker/plugins", "/run/docker"];

/// One runtime as dockerd knows it: the name `--runtime` takes and its binary.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    pub name: String,
    pub path: PathBuf,
}

/// Where the suite's containerd keeps what dockerd asks of it.
#[derive(Debug, Clone)]
pub struct ContainerdEndpoint {
    pub socket: PathBuf,
    /// containerd's `state` directory (bundles live below it).
    pub state: PathBuf,
}

pub struct Docker {
    dir: PathBuf,
    pub socket: PathBuf,
    /// The containerd namespace of dockerd's containers (shims carry it).
    pub namespace: String,
    /// The cgroup parent of every container: `/<parent>/<id>` in each hierarchy.
    pub cgroup_parent: String,
    containerd: ContainerdEndpoint,
    runtimes: Vec<DockerRuntime>,
    child: Option<Child>,
    created_run_dirs: Vec<&'static str>,
}

/// Why dockerd cannot be driven here, if it cannot.
pub fn missing() -> Option<String> {
    let absent: Vec<&str> = [DOCKERD, DOCKER]
        .into_iter()
        .filter(|p| !Path::new(p).is_file())
        .collect();
    (!absent.is_empty()).then(|| format!("{} not installed (apt docker.io)", absent.join(", ")))
}

impl Docker {
    /// Starts dockerd under `dir` on the given containerd and waits until it answers.
    /// `tag` makes the containerd namespace and cgroup parent unique to this run.
    pub fn start(
        dir: &Path,
        tag: &str,
        containerd: ContainerdEndpoint,
        runtimes: Vec<DockerRuntime>,
    ) -> Result<Docker> {
        fs::create_dir_all(dir)?;
        let created_run_dirs = SHARED_RUN_DIRS
            .into_iter()
            .filter(|d| !Path::new(d).exists())
            .collect();
        let mut me = Docker {
            dir: dir.to_path_buf(),
            socket: dir.join("docker.sock"),
            namespace: format!("sangja-docker-{tag}"),
            cgroup_parent: format!("sangja-docker-{tag}"),
            containerd,
            runtimes,
            child: None,
            created_run_dirs,
        };
        me.write_config(None)?;
        let log = fs::File::create(me.dir.join("dockerd.log"))?;
        let child = Command::new(DOCKERD)
            .arg("--config-file")
            .arg(me.config())
            .arg("--data-root")
            .arg(me.data_root())
            .arg("--exec-root")
            .arg(me.exec_root())
            .arg("--pidfile")
            .arg(me.dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", me.socket.display()))
            .arg("--containerd")
            .arg(&me.containerd.socket)
            .arg("--containerd-namespace")
            .arg(&me.namespace)
            .arg("--containerd-plugins-namespace")
            .arg(format!("{}-plugins", me.namespace))
            // Absolute, as dockerd's default /docker: a relative parent would sit below
            // the cgroup of whoever runs the runtime in each hierarchy.
            .arg("--cgroup-parent")
            .arg(format!("/{}", me.cgroup_parent))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {DOCKERD}"))?;
        me.child = Some(child);
        // An exit ends the wait at once (an error from the probe would be retried).
        let exited = wait_for("dockerd to answer `docker version`", || {
            if let Some(status) = me
                .child
                .as_mut()
                .map(Child::try_wait)
                .transpose()?
                .flatten()
            {
                return Ok(Some(Some(status)));
            }
            Ok(me.docker(&["version"])?.success().then_some(None))
        })?;
        if let Some(status) = exited {
            me.child = None;
            bail!("dockerd exited ({status}): {}", me.daemon_log());
        }
        Ok(me)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("daemon.json")
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }

    /// The daemon's own log, for failure messages.
    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// daemon.json: every runtime under test by name, and the default runtime (else
    /// dockerd's built-in runc, named: a reload leaves keys it does not find alone).
    fn write_config(&self, default: Option<&str>) -> Result<()> {
        let runtimes: serde_json::Map<String, serde_json::Value> = self
            .runtimes
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    serde_json::json!({ "path": r.path.display().to_string() }),
                )
            })
            .collect();
        let mut conf = serde_json::json!({
            "runtimes": runtimes,
            // Else dockerd writes its identity key to /etc/docker/key.json.
            "deprecated-key-path": self.dir.join("key.json").display().to_string(),
        });
        conf["default-runtime"] = default.unwrap_or("runc").into();
        let path = self.config();
        fs::write(&path, serde_json::to_string_pretty(&conf)?)
            .with_context(|| format!("write {}", path.display()))
    }

    /// Makes `name` (or runc when `None`) the default runtime: daemon.json rewritten,
    /// dockerd reloaded by SIGHUP, and waited for until `docker info` shows it.
    pub fn set_default_runtime(&self, name: Option<&str>) -> Result<()> {
        self.write_config(name)?;
        let child = self.child.as_ref().context("dockerd is not running")?;
        kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).context("SIGHUP to dockerd")?;
        let want = name.unwrap_or("runc");
        wait_for(
            &format!("dockerd to reload with default runtime {want}"),
            || {
                let out = self
                    .docker(&["info", "--format", "{{.DefaultRuntime}}"])?
                    .ok()?;
                Ok((out.stdout.trim() == want).then_some(()))
            },
        )
    }

    /// `/usr/bin/docker -H <ours> args...`, its client config kept in our dir so the
    /// host's ~/.docker is neither read nor written.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_CONFIG", self.dir.join("client"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args);
        c
    }

    pub fn docker(&self, args: &[&str]) -> Result<Outcome> {
        run(&mut self.cmd(args))
    }

    pub fn ok(&self, args: &[&str]) -> Result<Outcome> {
        self.docker(args)?.ok()
    }

    /// `docker inspect --format <fmt> <name>`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> Result<String> {
        Ok(self
            .ok(&["inspect", "--format", format, name])?
            .stdout
            .trim()
            .to_string())
    }

    /// `docker load` of a docker-archive.
    pub fn load(&self, archive: &Path) -> Result<()> {
        run(self.cmd(&["load", "-i"]).arg(archive))?
            .ok()
            .context("docker load")?;
        Ok(())
    }

    /// Full ids of every container the daemon has, running or not.
    pub fn container_ids(&self, guard: std::time::Duration) -> Result<Vec<String>> {
        let out = run_within(&mut self.cmd(&["ps", "-a", "-q", "--no-trunc"]), guard)?.ok()?;
        Ok(out.stdout.lines().map(str::to_string).collect())
    }

    /// Forced removal of every container (the daemon is ours alone) and of `images`.
    pub fn force_clean(&self, images: &[&str]) {
        if let Ok(ids) = self.container_ids(CLEANUP_GUARD) {
            for id in ids {
                let _ = run_within(&mut self.cmd(&["rm", "--force", &id]), CLEANUP_GUARD);
            }
        }
        for image in images {
            let _ = run_within(&mut self.cmd(&["rmi", "--force", image]), CLEANUP_GUARD);
        }
    }

    /// What the command line of a shim of ours holds (`-namespace <ns> `), and
    /// dockerd's own (`--containerd-namespace <ns> `) does not.
    fn shim_needle(&self) -> String {
        format!(" -namespace {} ", self.namespace)
    }

    /// The bundle directories containerd's shim makes for containers of ours.
    fn bundles(&self) -> PathBuf {
        self.containerd
            .state
            .join("io.containerd.runtime.v2.task")
            .join(&self.namespace)
    }

    /// The shim's runtime state roots dockerd hands each runtime
    /// (`<exec-root>/runtime-<name>/<namespace>`).
    fn runtime_roots(&self) -> Vec<PathBuf> {
        leftovers::entries(&self.exec_root())
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("runtime-"))
            })
            .map(|p| p.join(&self.namespace))
            .collect()
    }

    /// With no container left, everything the containers `ids` (and any other the
    /// daemon ran) may leave: shims, shim sockets, mounts (rootfs, shm, netns), bundles,
    /// runtime state, docker's FIFO directories, cgroups, container records in docker
    /// and in containerd. Shims exit asynchronously after the delete, so wait for them.
    pub fn leftovers(&self, ids: &[String]) -> Result<()> {
        let mut report = Report::default();
        let shim_needle = self.shim_needle();
        if wait_for_within("the shims to exit", CLEANUP_GUARD, || {
            Ok(leftovers::processes_with(&shim_needle)
                .is_empty()
                .then_some(()))
        })
        .is_err()
        {
            report.processes("shim", leftovers::processes_with(&shim_needle));
        }
        for id in ids {
            let socket = shim_socket(&self.containerd.socket, &self.namespace, id);
            if socket.exists() {
                report.paths("shim socket", vec![socket]);
            }
        }
        let data = self.data_root().display().to_string();
        let exec = self.exec_root().display().to_string();
        let bundles = self.bundles().display().to_string();
        for needle in [
            format!("{data}/overlay2/"),
            format!("{data}/containers/"),
            format!("{exec}/netns/"),
            format!("{bundles}/"),
        ] {
            report.mounts(leftovers::mounts_with(&needle));
        }
        report.paths("bundle directory", leftovers::entries(&self.bundles()));
        for root in self.runtime_roots() {
            report.paths("runtime state directory", leftovers::entries(&root));
        }
        report.paths(
            "docker FIFO directory",
            leftovers::entries(&self.exec_root().join("containerd")),
        );
        report.paths("cgroup", leftovers::cgroup_children(&self.cgroup_parent));
        let records = self.container_ids(CLEANUP_GUARD)?;
        report.paths(
            "docker container record",
            records.iter().map(PathBuf::from).collect(),
        );
        let ctr = run_within(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.containerd.socket)
                .args(["--namespace", &self.namespace, "container", "ls", "-q"]),
            CLEANUP_GUARD,
        )?
        .ok()?;
        report.paths(
            "containerd container record",
            ctr.stdout.lines().map(PathBuf::from).collect(),
        );
        report.into_result()
    }

    /// Removes every container, stops the daemon (SIGTERM, then SIGKILL) by PID, kills
    /// by PID any shim of its namespace still there, detaches mounts left under its
    /// dir, and removes what it made outside the dir when empty.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // Removing first spares the shutdown its per-container stop timeouts.
        self.force_clean(&[]);
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        if wait_for("dockerd to stop", || Ok(child.try_wait()?.map(|_| ()))).is_err() {
            let _ = child.kill();
        }
        cmd::wait_guarded(&mut child, "dockerd (stopping)")?;
        // A shim still here outlived its container: killed, its socket goes with it.
        let shims = leftovers::processes_with(&self.shim_needle());
        kill_shims(&shims, &self.containerd.socket, &self.namespace);
        let stale = leftovers::mounts_with(&self.dir.display().to_string());
        for m in stale.iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        // dockerd makes the data-root a mount of its own and takes it down at exit;
        // anything else still mounted is a leak.
        let leaked: Vec<&String> = stale
            .iter()
            .filter(|m| Path::new(m.as_str()) != self.data_root())
            .collect();
        leftovers::remove_empty_cgroup(&self.cgroup_parent);
        for d in &self.created_run_dirs {
            let _ = fs::remove_dir(d);
        }
        anyhow::ensure!(
            shims.is_empty() && leaked.is_empty(),
            "dockerd left shims {shims:?} and mounts {leaked:?} (killed and detached)"
        );
        Ok(())
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The name dockerd knows a runtime by (`docker run --runtime NAME`): its own, except
/// runc, which dockerd reserves for its built-in entry.
pub fn runtime_name(real: &str) -> String {
    if real == "runc" {
        "runc-apt".to_string()
    } else {
        real.to_string()
    }
}
