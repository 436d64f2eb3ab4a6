//! The shared fixture of one test run: a temp dir, the busybox image, one private
//! containerd, one private podman store and one private dockerd (on that containerd)
//! with the image in each. Built once on first use, torn down (daemons stopped by
//! PID) when the run ends, pass or fail.

use crate::containerd::Containerd;
use crate::docker::{ContainerdEndpoint, Docker, DockerRuntime};
use crate::image::{build_busybox_archives, Archives};
use crate::podman::Podman;
use crate::runtimes::{Runtime, Traced};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Mutex;

pub struct Lab {
    // Dropped in declaration order, the dir last: the daemons must stop before their
    // dirs go, and dockerd before the containerd it runs on.
    pub docker: Result<Mutex<Docker>, String>,
    pub containerd: Result<Mutex<Containerd>, String>,
    pub podman: Result<Mutex<Podman>, String>,
    pub archives: Archives,
    /// Every runtime under test, wrapped so its calls are logged.
    pub traced: Vec<Traced>,
    /// The same for dockerd, with logs of their own: docker flows check every call
    /// dockerd made while flows of the other clients run beside them.
    pub docker_traced: Vec<Traced>,
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new(runtimes: &[Runtime]) -> Result<Lab> {
        let dir = tempfile::Builder::new()
            .prefix("sangja-clients.")
            .tempdir()
            .context("temp dir")?;
        let archives = build_busybox_archives(&dir.path().join("image"))
            .context("building the busybox image")?;
        let traced = trace_all(runtimes, &dir.path().join("traced"))?;
        // Runtimes under their own containerd shim have no dockerd side.
        let plain: Vec<Runtime> = runtimes
            .iter()
            .filter(|r| r.shim.is_none())
            .cloned()
            .collect();
        let docker_traced = trace_all(&plain, &dir.path().join("traced-docker"))?;
        let tag = std::process::id().to_string();
        let namespace = format!("sangja-clients-{tag}");
        let containerd =
            start_containerd(&dir.path().join("containerd"), &namespace, &archives.oci);
        let docker = match (&containerd, crate::docker::missing()) {
            (_, Some(why)) => Err(why),
            (Err(e), None) => Err(format!(
                "dockerd runs on the private containerd, which failed: {e:#}"
            )),
            (Ok(c), None) => start_docker(
                &dir.path().join("docker"),
                &tag,
                c,
                &docker_traced,
                &archives.docker,
            )
            .map_err(|e| format!("{e:#}")),
        };
        let containerd = containerd.map(Mutex::new).map_err(|e| format!("{e:#}"));
        // Runtimes under their own containerd shim have no podman side.
        let all: Vec<Runtime> = runtimes
            .iter()
            .cloned()
            .chain(traced.iter().map(|t| t.rt.clone()))
            .filter(|r| r.shim.is_none())
            .collect();
        let podman = start_podman(&dir.path().join("podman"), &all, &archives.oci)
            .map(Mutex::new)
            .map_err(|e| format!("{e:#}"));
        Ok(Lab {
            docker: docker.map(Mutex::new),
            containerd,
            podman,
            archives,
            traced,
            docker_traced,
            dir,
        })
    }

    /// The traced wrapper of the runtime called `name`.
    pub fn traced_for(&self, name: &str) -> Option<&Traced> {
        let wrapped = format!("{name}-traced");
        self.traced.iter().find(|t| t.rt.name == wrapped)
    }

    /// The traced wrapper dockerd knows the runtime called `name` by.
    pub fn docker_traced_for(&self, name: &str) -> Option<&Traced> {
        self.docker_traced.iter().find(|t| t.rt.real == name)
    }

    /// Stops the daemons and cleans the store; what could not be cleaned is returned.
    pub fn teardown(self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Ok(d) = self.docker {
            let mut d = d.into_inner().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = d.stop() {
                problems.push(format!("dockerd: {e:#}"));
            }
        }
        if let Ok(c) = self.containerd {
            let mut c = c.into_inner().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = c.stop() {
                problems.push(format!("containerd: {e:#}"));
            }
        }
        if let Ok(p) = self.podman {
            let p = p.into_inner().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = p.teardown() {
                problems.push(format!("podman: {e:#}"));
            }
        }
        problems
    }
}

fn trace_all(runtimes: &[Runtime], dir: &Path) -> Result<Vec<Traced>> {
    runtimes.iter().map(|r| r.traced(dir)).collect()
}

fn start_containerd(dir: &Path, namespace: &str, archive: &Path) -> Result<Containerd> {
    let c = Containerd::start(dir, namespace)?;
    let archive = archive.display().to_string();
    c.ctr_ok(&["image", "import", &archive])
        .context("ctr image import")?;
    Ok(c)
}

fn start_docker(
    dir: &Path,
    tag: &str,
    c: &Containerd,
    traced: &[Traced],
    archive: &Path,
) -> Result<Docker> {
    let endpoint = ContainerdEndpoint {
        socket: c.socket.clone(),
        state: c.state_dir(),
    };
    let runtimes = traced
        .iter()
        .map(|t| DockerRuntime {
            name: crate::docker::runtime_name(&t.rt.real),
            path: t.rt.path.clone(),
        })
        .collect();
    let d = Docker::start(dir, tag, endpoint, runtimes)?;
    d.load(archive)?;
    Ok(d)
}

fn start_podman(dir: &Path, runtimes: &[Runtime], archive: &Path) -> Result<Podman> {
    let p = Podman::new(dir, runtimes)?;
    p.load(archive)?;
    Ok(p)
}
