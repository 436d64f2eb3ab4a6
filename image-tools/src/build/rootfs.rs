//! A build's private workspace under the store (`build/<unique>/`): the stack of lower
//! dirs the steps so far make (the base image's shared snapshot, then each step's upper
//! dir), an overlay of that stack with a fresh upper dir for the step at hand, and a RUN
//! step executed there as a real container by the OCI runtime. Dropping the workspace
//! kills and deletes a container still there, unmounts and removes everything.

use super::BuildError;
use crate::bundle;
use crate::container::config::{self as run_config, Network, RunConfig};
use crate::container::runtime::{self, Runtime};
use crate::container::snapshot;
use crate::image::Image;
use crate::layer::inroot::{kind_at, InPath};
use crate::layer::Root;
use crate::store::Store;
use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Mount points the runtime may create in the rootfs: when a step's upper dir holds
/// one that was not there before and it is still empty, it is not part of the layer.
const MOUNT_POINTS: [&str; 6] = [
    "proc",
    "sys",
    "dev",
    "etc/resolv.conf",
    "etc/hosts",
    "etc/hostname",
];

pub struct Workspace {
    dir: PathBuf,
    lowers: Vec<PathBuf>,
    steps: usize,
    runtime_root: PathBuf,
    /// A container that may still exist (its runtime and id).
    live: Option<(PathBuf, String)>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        error: source,
    }
}

/// A step's overlay, mounted on `rootfs`.
pub struct Mounted {
    pub rootfs: PathBuf,
    pub upper: PathBuf,
    work: PathBuf,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// SIGINT/SIGTERM/SIGHUP end the build at the next step (the running RUN's runtime gets
/// the signal), so the workspace's cleanup always runs.
pub fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a plain handler that stores a flag and calls kill.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

impl Workspace {
    pub fn new(store: &Store) -> Result<Workspace, BuildError> {
        // Absolute: the runtime gets paths in it (its --root, the bundle).
        let root = std::path::absolute(store.root()).map_err(io_err(store.root()))?;
        let dir = root.join("build").join(crate::store::unique_name("build"));
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Workspace {
            runtime_root: dir.join("state"),
            dir,
            lowers: Vec::new(),
            steps: 0,
            live: None,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bottom of the stack: the base image's snapshot, or an empty dir for scratch.
    pub fn set_base(&mut self, store: &Store, base: Option<&Image>) -> Result<(), BuildError> {
        let lower = match base {
            Some(image) => {
                let _shared = store.lock_shared()?;
                snapshot::lower_dir(store, image).map_err(|e| BuildError::Snapshot(Box::new(e)))?
            }
            None => {
                let d = self.dir.join("scratch");
                fs::create_dir_all(&d).map_err(io_err(&d))?;
                d
            }
        };
        self.lowers = vec![lower];
        Ok(())
    }

    /// The stack so far, bottom first (a later stage built `FROM` this one starts on it).
    pub fn lowers(&self) -> &[PathBuf] {
        &self.lowers
    }

    /// Starts on another workspace's stack (which must outlive this one's mounts).
    pub fn set_lowers(&mut self, lowers: Vec<PathBuf>) {
        self.lowers = lowers;
    }

    /// The stack as one read-only tree, for `COPY --from` and bind mounts of the stage:
    /// the lone lower dir itself, or an overlay of the stack mounted once (with `ro`)
    /// and kept until the workspace goes.
    pub fn view(&mut self) -> Result<PathBuf, BuildError> {
        if let [only] = self.lowers.as_slice() {
            return Ok(only.clone());
        }
        let at = self.dir.join("view");
        if snapshot::is_mounted(&at) {
            return Ok(at);
        }
        fs::create_dir_all(&at).map_err(io_err(&at))?;
        let rel: Vec<String> = self
            .lowers
            .iter()
            .rev()
            .map(|l| l.strip_prefix(&self.dir).unwrap_or(l).display().to_string())
            .collect();
        // Lower dirs only: overlayfs mounts that read-only.
        let data = format!("lowerdir={}", rel.join(":"));
        let _cwd = snapshot::lock_cwd();
        let back = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        std::env::set_current_dir(&self.dir).map_err(io_err(&self.dir))?;
        let r = nix::mount::mount(
            Some("overlay"),
            &at,
            Some("overlay"),
            nix::mount::MsFlags::MS_RDONLY,
            Some(data.as_str()),
        );
        let _ = std::env::set_current_dir(&back);
        r.map_err(|e| io_err(&at)(e.into()))?;
        Ok(at)
    }

    /// The view [`Self::view`] made (or the lone lower dir), if there is one.
    pub fn view_path(&self) -> Option<PathBuf> {
        if let [only] = self.lowers.as_slice() {
            return Some(only.clone());
        }
        let at = self.dir.join("view");
        snapshot::is_mounted(&at).then_some(at)
    }

    /// Mounts the stack with a new upper dir.
    pub fn mount(&mut self) -> Result<Mounted, BuildError> {
        self.steps += 1;
        let upper = self.dir.join("layers").join(self.steps.to_string());
        let work = self.dir.join(format!("work-{}", self.steps));
        let rootfs = self.dir.join("bundle").join("rootfs");
        snapshot::mount_overlay_stack_in(&self.dir, &self.lowers, &upper, &work, &rootfs)
            .map_err(|e| BuildError::Snapshot(Box::new(e)))?;
        Ok(Mounted {
            rootfs,
            upper,
            work,
        })
    }

    /// Mounts an empty root with a new upper dir (a `COPY --link` step, whose layer
    /// must not depend on the stack); `finish` still puts it on the stack.
    pub fn mount_empty(&mut self) -> Result<Mounted, BuildError> {
        let empty = self.dir.join("empty");
        fs::create_dir_all(&empty).map_err(io_err(&empty))?;
        let lowers = std::mem::replace(&mut self.lowers, vec![empty]);
        let m = self.mount();
        self.lowers = lowers;
        m
    }

    /// Unmounts the step's overlay; its upper dir joins the stack. Returns the upper dir.
    pub fn finish(&mut self, m: Mounted) -> Result<PathBuf, BuildError> {
        snapshot::unmount(&m.rootfs).map_err(|e| BuildError::Snapshot(Box::new(e)))?;
        let _ = fs::remove_dir_all(&m.work);
        self.lowers.push(m.upper.clone());
        Ok(m.upper)
    }

    /// Runs `args` in a container on the mounted step, relaying each output line to
    /// `on_line`. Returns the process's exit status.
    pub fn run(
        &mut self,
        m: &Mounted,
        image: &Image,
        step: &RunStep,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<i32, BuildError> {
        let root = Root::open(&m.rootfs).map_err(|e| io_err(&m.rootfs)(e.into()))?;
        // The runtime's own mount points and the step's --mount targets, with every
        // parent directory that is not there yet.
        let mut absent: Vec<String> = Vec::new();
        for t in MOUNT_POINTS
            .iter()
            .map(|p| p.to_string())
            .chain(step.mount_points.iter().cloned())
        {
            let comps: Vec<&str> = t.split('/').filter(|c| !c.is_empty()).collect();
            for i in 1..=comps.len() {
                let rel = comps[..i].join("/");
                if !absent.contains(&rel) && !exists_in(&root, &rel) {
                    absent.push(rel);
                }
            }
        }
        let cwd = image.config_raw["config"]["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string();
        let cwd_path =
            InPath::parse(cwd.as_bytes()).map_err(|e| BuildError::Step(e.to_string()))?;
        root.open_dir_create(&cwd_path)
            .map_err(|e| io_err(&m.rootfs.join(cwd_path.as_relative()))(e.into()))?;
        drop(root);
        // Unique in the process: stages running at once each have containers.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id = format!(
            "sangja-build-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let seccomp = Path::new(bundle::DEFAULT_SECCOMP_PROFILE);
        let cfg = RunConfig {
            args: step.args.clone(),
            // The step's own command, never the image's ENTRYPOINT in front of it.
            entrypoint: Some(String::new()),
            env: step.env.clone(),
            network: step.network.clone(),
            seccomp_profile: seccomp.is_file().then(|| seccomp.to_path_buf()),
            ..RunConfig::default()
        };
        let mut spec = run_config::build(image, &m.rootfs, &id, &cfg)
            .map_err(|e| BuildError::Step(e.to_string()))?;
        if let Some(mounts) = spec["mounts"].as_array_mut() {
            mounts.extend(step.mounts.iter().cloned());
        }
        let bundle_dir = m
            .rootfs
            .parent()
            .expect("rootfs is in the bundle")
            .to_path_buf();
        let config = bundle_dir.join("config.json");
        fs::write(
            &config,
            serde_json::to_vec_pretty(&spec).expect("spec serialises"),
        )
        .map_err(io_err(&config))?;
        fs::create_dir_all(&self.runtime_root).map_err(io_err(&self.runtime_root))?;
        let rt = Runtime {
            bin: step.runtime.clone(),
            root: self.runtime_root.clone(),
        };
        let log = self.dir.join(format!("runtime-{}.log", self.steps));
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io_err(&self.dir)(e.into()))?;
        let write2 = write
            .as_fd()
            .try_clone_to_owned()
            .map_err(io_err(&self.dir))?;
        self.live = Some((rt.bin.clone(), id.clone()));
        let mut child = rt.run_with_output(
            &bundle_dir,
            &id,
            &log,
            Stdio::from(write),
            Stdio::from(write2),
        )?;
        CHILD.store(child.id() as i32, Ordering::SeqCst);
        relay(&read, &rt, &id, on_line);
        let status = child.wait().map_err(io_err(&rt.bin));
        CHILD.store(0, Ordering::SeqCst);
        let status = status?;
        let _ = rt.delete(&id);
        self.live = None;
        if interrupted() {
            return Err(BuildError::Interrupted);
        }
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        if code != 0 {
            if let Some(message) = runtime::start_error(&log) {
                return Err(BuildError::Runtime(runtime::RuntimeError::Start {
                    runtime: rt.bin.clone(),
                    message,
                }));
            }
        }
        drop_mount_points(&m.upper, &absent);
        Ok(code)
    }
}

/// Relays the container's output line by line until every writer is gone. Once the
/// build is interrupted the container is killed: its init (pid 1 in its namespace)
/// ignores the forwarded SIGINT unless it handles it.
fn relay(read: &std::os::fd::OwnedFd, rt: &Runtime, id: &str, on_line: &mut dyn FnMut(&str)) {
    use nix::poll::{poll, PollFd, PollFlags};
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let mut last_kill: Option<std::time::Instant> = None;
    loop {
        // Again every half second: the runtime may not know the container as running yet.
        if interrupted() && last_kill.is_none_or(|t| t.elapsed().as_millis() >= 500) {
            let _ = rt.kill(id, "SIGKILL");
            last_kill = Some(std::time::Instant::now());
        }
        let mut fds = [PollFd::new(read.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, 200u16) {
            Ok(0) | Err(nix::Error::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        match nix::unistd::read(read, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    on_line(String::from_utf8_lossy(&line[..pos]).trim_end_matches('\r'));
                }
            }
            Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => {}
            Err(_) => break,
        }
    }
    if !pending.is_empty() {
        on_line(String::from_utf8_lossy(&pending).trim_end_matches('\r'));
    }
}

/// What a RUN step runs.
pub struct RunStep {
    pub args: Vec<String>,
    /// Extra OCI mounts (heredoc scripts, RUN --mount).
    pub mounts: Vec<serde_json::Value>,
    pub env: Vec<String>,
    pub network: Network,
    pub runtime: PathBuf,
    /// The `--mount` targets (their empty mount points stay out of the layer).
    pub mount_points: Vec<String>,
}

fn exists_in(root: &Root, rel: &str) -> bool {
    let Ok(p) = InPath::parse(rel.as_bytes()) else {
        return false;
    };
    let Some((parent, name)) = p.split_last() else {
        return true;
    };
    root.open_dir(&parent)
        .ok()
        .is_some_and(|d| matches!(kind_at(d.as_fd(), name), Ok(Some(_))))
}

/// Removes the empty mount points the runtime made in `upper` (see [`MOUNT_POINTS`]),
/// deepest first, so a parent made only to hold one (an `etc`, `/run/secrets`) goes too.
fn drop_mount_points(upper: &Path, absent: &[String]) {
    let mut sorted: Vec<&String> = absent.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.matches('/').count()));
    for rel in sorted {
        let p = upper.join(rel);
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            let _ = fs::remove_dir(&p);
        } else if meta.is_file() && meta.len() == 0 {
            let _ = fs::remove_file(&p);
        }
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some((bin, id)) = self.live.take() {
            let rt = Runtime {
                bin,
                root: self.runtime_root.clone(),
            };
            let _ = rt.kill(&id, "SIGKILL");
            let _ = rt.delete(&id);
        }
        for m in [
            self.dir.join("bundle").join("rootfs"),
            self.dir.join("view"),
        ] {
            if let Err(e) = snapshot::unmount(&m) {
                tracing::warn!(error = %e, "unmounting a build's rootfs");
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "removing a build's workspace");
        }
        if let Some(parent) = self.dir.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}
