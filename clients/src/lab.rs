//! The shared fixture of one test run: a temp dir, the busybox image, one private
//! containerd and one private podman store with the image in both. Built once on
//! first use, torn down (daemons stopped by PID) when the run ends, pass or fail.

use crate::containerd::Containerd;
use crate::image::build_busybox_archive;
use crate::podman::Podman;
use crate::runtimes::{Runtime, Traced};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Lab {
    // Dropped last (declared last): the daemons must stop before their dirs go.
    pub containerd: Result<Mutex<Containerd>, String>,
    pub podman: Result<Mutex<Podman>, String>,
    pub archive: PathBuf,
    /// Every runtime under test, wrapped so its calls are logged.
    pub traced: Vec<Traced>,
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new(runtimes: &[Runtime]) -> Result<Lab> {
        let dir = tempfile::Builder::new()
            .prefix("sangja-clients.")
            .tempdir()
            .context("temp dir")?;
        let archive = build_busybox_archive(&dir.path().join("image"))
            .context("building the busybox image")?;
        let traced = runtimes
            .iter()
            .map(|r| r.traced(&dir.path().join("traced")))
            .collect::<Result<Vec<_>>>()?;
        let namespace = format!("sangja-clients-{}", std::process::id());
        let containerd = start_containerd(&dir.path().join("containerd"), &namespace, &archive)
            .map(Mutex::new)
            .map_err(|e| format!("{e:#}"));
        // Runtimes under their own containerd shim have no podman side.
        let all: Vec<Runtime> = runtimes
            .iter()
            .cloned()
            .chain(traced.iter().map(|t| t.rt.clone()))
            .filter(|r| r.shim.is_none())
            .collect();
        let podman = start_podman(&dir.path().join("podman"), &all, &archive)
            .map(Mutex::new)
            .map_err(|e| format!("{e:#}"));
        Ok(Lab {
            containerd,
            podman,
            archive,
            traced,
            dir,
        })
    }

    /// The traced wrapper of the runtime called `name`.
    pub fn traced_for(&self, name: &str) -> Option<&Traced> {
        let wrapped = format!("{name}-traced");
        self.traced.iter().find(|t| t.rt.name == wrapped)
    }

    /// Stops the daemons and cleans the store; what could not be cleaned is returned.
    pub fn teardown(self) -> Vec<String> {
        let mut problems = Vec::new();
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

fn start_containerd(dir: &Path, namespace: &str, archive: &Path) -> Result<Containerd> {
    let c = Containerd::start(dir, namespace)?;
    let archive = archive.display().to_string();
    c.ctr_ok(&["image", "import", &archive])
        .context("ctr image import")?;
    Ok(c)
}

fn start_podman(dir: &Path, runtimes: &[Runtime], archive: &Path) -> Result<Podman> {
    let p = Podman::new(dir, runtimes)?;
    p.load(archive)?;
    Ok(p)
}
