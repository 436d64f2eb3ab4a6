//! A busybox image built locally (no registry on this machine): a busybox-static
//! rootfs packed by umoci into an OCI layout, then written by skopeo as one
//! oci-archive that both `ctr image import` and `podman load` read, and as a
//! docker-archive (`docker save` format) for dockerd 20.10, whose `docker load`
//! reads no OCI archives.

use crate::cmd::ok;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name the image carries in both clients.
pub const IMAGE: &str = "docker.io/library/busybox:sangja-clients";

/// The one image in the archives each client loads.
#[derive(Debug, Clone)]
pub struct Archives {
    pub oci: PathBuf,
    pub docker: PathBuf,
}

/// Builds the image under `dir`; returns both archives.
pub fn build_busybox_archives(dir: &Path) -> Result<Archives> {
    let image = build_busybox_layout(dir)?;
    let archives = Archives {
        oci: dir.join("busybox.oci.tar"),
        docker: dir.join("busybox.docker.tar"),
    };
    for (format, path) in [
        ("oci-archive", &archives.oci),
        ("docker-archive", &archives.docker),
    ] {
        ok(Command::new("skopeo")
            .arg("copy")
            .arg(format!("oci:{image}"))
            .arg(format!("{format}:{}:{IMAGE}", path.display())))
        .with_context(|| format!("skopeo copy to {format}"))?;
    }
    Ok(archives)
}

/// Builds the busybox image (cmd `sh`) as an OCI layout under `dir`; returns its
/// `LAYOUT:TAG` reference (what umoci and skopeo's `oci:` transport take).
pub fn build_busybox_layout(dir: &Path) -> Result<String> {
    let layout = dir.join("layout");
    let bundle = dir.join("unpacked");
    let image = format!("{}:bb", layout.display());
    ok(Command::new("umoci")
        .arg("init")
        .arg("--layout")
        .arg(&layout))?;
    ok(Command::new("umoci").args(["new", "--image"]).arg(&image))?;
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(&image)
        .arg(&bundle))?;
    let mkrootfs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mkrootfs.sh");
    ok(Command::new("bash")
        .arg(&mkrootfs)
        .arg(bundle.join("rootfs")))
    .context("scripts/mkrootfs.sh")?;
    ok(Command::new("umoci")
        .args(["config", "--config.cmd", "sh", "--image"])
        .arg(&image))?;
    ok(Command::new("umoci")
        .args(["repack", "--image"])
        .arg(&image)
        .arg(&bundle))?;
    // The unpacked tree is only the packing source; it holds device-less busybox files.
    std::fs::remove_dir_all(&bundle).ok();
    Ok(image)
}
