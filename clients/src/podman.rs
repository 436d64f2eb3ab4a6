//! A private podman 4.3 store (root, runroot and tmpdir under a temp dir) with a
//! containers.conf that names sangja as a runtime and lists it in
//! `runtime_supports_json`, so podman hands it `--log FILE --log-format=json` as it
//! does for runc and reads errors back from that log.

use crate::cmd::{run, run_within, wait_for_within, Outcome, CLEANUP_GUARD};
use crate::leftovers::{self, Report};
use crate::runtimes::Runtime;
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The flags every podman run needs on this host (see PEERS.md): no systemd, no
/// bridge networking, and rlimits root may actually set without CAP_SYS_RESOURCE.
pub const RUN_FLAGS: [&str; 6] = [
    "--network",
    "none",
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
];

/// Cgroup parent podman uses with the cgroupfs manager.
const CGROUP_PARENT: &str = "libpod_parent";

pub struct Podman {
    dir: PathBuf,
    conf: PathBuf,
    /// Whether /run/netns and /libpod_parent existed before us: if not, we remove
    /// them at the end when empty.
    had_netns: bool,
    had_cgroup_parent: bool,
}

impl Podman {
    /// A store under `dir` whose containers.conf knows every runtime in `runtimes`.
    pub fn new(dir: &Path, runtimes: &[Runtime]) -> Result<Podman> {
        fs::create_dir_all(dir)?;
        let conf = dir.join("containers.conf");
        let names: Vec<String> = ["crun", "runc"]
            .iter()
            .map(|s| s.to_string())
            .chain(runtimes.iter().map(|r| r.name.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|n| format!("{n:?}"))
            .collect();
        let mut text = format!(
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             runtime_supports_json = [{}]\n[engine.runtimes]\n",
            names.join(", ")
        );
        for r in runtimes {
            text.push_str(&format!(
                "{} = [{:?}]\n",
                r.name,
                r.path.display().to_string()
            ));
        }
        fs::write(&conf, text)?;
        Ok(Podman {
            dir: dir.to_path_buf(),
            conf,
            had_netns: Path::new("/run/netns").exists(),
            had_cgroup_parent: !leftovers::cgroups_named(CGROUP_PARENT).is_empty(),
        })
    }

    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.join("runroot")
    }

    /// `podman` with the private store and this host's engine flags, no runtime chosen.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        c
    }

    /// `podman --runtime <rt> args...`
    pub fn with(&self, rt: &Runtime, args: &[&str]) -> Command {
        let mut c = self.cmd();
        c.arg("--runtime").arg(&rt.name).args(args);
        c
    }

    pub fn run(&self, rt: &Runtime, args: &[&str]) -> Result<Outcome> {
        run(&mut self.with(rt, args))
    }

    pub fn ok(&self, rt: &Runtime, args: &[&str]) -> Result<Outcome> {
        self.run(rt, args)?.ok()
    }

    /// `podman load` of an archive.
    pub fn load(&self, archive: &Path) -> Result<()> {
        run(self.cmd().arg("load").arg("-i").arg(archive))?
            .ok()
            .context("podman load")?;
        Ok(())
    }

    /// A container's full id by name.
    pub fn id_of(&self, name: &str) -> Result<String> {
        let out = run(self.cmd().args(["inspect", "--format", "{{.Id}}", name]))?.ok()?;
        Ok(out.stdout.trim().to_string())
    }

    /// `podman inspect --format <fmt> name`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> Result<String> {
        let out = run(self.cmd().args(["inspect", "--format", format, name]))?.ok()?;
        Ok(out.stdout.trim().to_string())
    }

    /// Forced removal of what a failed flow left.
    pub fn force_remove(&self, name: &str) {
        let _ = run_within(
            self.cmd().args(["rm", "--force", "--time", "0", name]),
            CLEANUP_GUARD,
        );
    }

    /// Everything a container (by full id) may leave: conmon, mounts, its cgroup,
    /// the runtime's state directory, the container record.
    pub fn leftovers_of(&self, rt: &Runtime, id: &str) -> Result<()> {
        let mut report = Report::default();
        // conmon and the cleanup process it runs exit asynchronously.
        let needle = format!("-c {id} ");
        if wait_for_within("conmon to exit", CLEANUP_GUARD, || {
            Ok(leftovers::processes_with(&needle).is_empty().then_some(()))
        })
        .is_err()
        {
            report.processes("conmon", leftovers::processes_with(&needle));
        }
        report.mounts(leftovers::mounts_with(id));
        report.paths(
            "cgroup",
            leftovers::cgroups_named(&format!("{CGROUP_PARENT}/libpod-{id}")),
        );
        let state = Path::new("/run").join(&rt.real).join(id);
        if state.exists() {
            report.paths("runtime state directory", vec![state]);
        }
        let listed = run(self
            .cmd()
            .args(["ps", "-a", "--no-trunc", "--format", "{{.ID}}"]))?
        .ok()?;
        if listed.stdout.lines().any(|l| l == id) {
            report.paths("container record", vec![PathBuf::from(id)]);
        }
        report.into_result()
    }

    /// Removes every container and image of the store and whatever podman made
    /// outside it, when empty. Mounts still under the store are reported and detached
    /// so the temp dir can go.
    pub fn teardown(&self) -> Result<()> {
        let _ = run(self.cmd().args(["rm", "--all", "--force", "--time", "0"]));
        let _ = run(self.cmd().args(["rmi", "--all", "--force"]));
        let stale = leftovers::mounts_with(&self.dir.display().to_string());
        for m in stale.iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        if !self.had_netns && leftovers::entries(Path::new("/run/netns")).is_empty() {
            let _ = nix::mount::umount2("/run/netns", nix::mount::MntFlags::MNT_DETACH);
            let _ = fs::remove_dir("/run/netns");
        }
        if !self.had_cgroup_parent {
            leftovers::remove_empty_cgroup(&format!("{CGROUP_PARENT}/conmon"));
            leftovers::remove_empty_cgroup(CGROUP_PARENT);
        }
        if stale.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("podman store left mounts: {stale:?}")
        }
    }
}
