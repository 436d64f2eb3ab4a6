//! The test rootfs: busybox-static with its applet links, the checker, and a
//! small /etc, written fresh into every bundle.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("busybox not found at {0} (apt-get install busybox-static)")]
    NoBusybox(PathBuf),
    #[error("checker not found at {0} (build it with `make conformance-checker`)")]
    NoChecker(PathBuf),
    #[error("checker {0} is dynamically linked; it must be static to run in a busybox rootfs")]
    DynamicChecker(PathBuf),
    #[error("cannot list busybox applets with {path}: {source}")]
    Applets {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/:/bin/false\n\
tester:x:1000:1000:tester:/home/tester:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str =
    "root:x:0:\ndaemon:x:1:\ntty:x:5:\ntester:x:1000:\nextra:x:2000:tester\nnogroup:x:65534:\n";

/// What every bundle's rootfs is made from.
#[derive(Debug, Clone)]
pub struct RootfsTemplate {
    pub busybox: PathBuf,
    pub checker: PathBuf,
    applets: Vec<String>,
}

/// True when the ELF file has a PT_INTERP program header (needs a dynamic loader).
pub fn is_dynamic_elf(bytes: &[u8]) -> bool {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap_or([0; 8])) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        o + 4 <= bytes.len()
            && u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) == 3
    })
}

impl RootfsTemplate {
    pub fn new(busybox: &Path, checker: &Path) -> Result<Self, RootfsError> {
        if !busybox.is_file() {
            return Err(RootfsError::NoBusybox(busybox.into()));
        }
        let bytes = std::fs::read(checker).map_err(|_| RootfsError::NoChecker(checker.into()))?;
        if is_dynamic_elf(&bytes) {
            return Err(RootfsError::DynamicChecker(checker.into()));
        }
        let out = Command::new(busybox)
            .arg("--list")
            .output()
            .map_err(|source| RootfsError::Applets {
                path: busybox.into(),
                source,
            })?;
        let applets = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(str::to_string)
            .collect();
        Ok(RootfsTemplate {
            busybox: busybox.into(),
            checker: checker.into(),
            applets,
        })
    }

    /// Writes a rootfs into `dir` (created).
    pub fn populate(&self, dir: &Path) -> Result<(), RootfsError> {
        let w = |p: PathBuf, r: std::io::Result<()>| {
            r.map_err(|source| RootfsError::Write { path: p, source })
        };
        for d in [
            "bin",
            "proc",
            "dev",
            "sys",
            "tmp",
            "etc",
            "root",
            "home/tester",
            "mnt",
        ] {
            let p = dir.join(d);
            w(p.clone(), std::fs::create_dir_all(&p))?;
        }
        let tmp = dir.join("tmp");
        w(
            tmp.clone(),
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)),
        )?;
        let bb = dir.join("bin/busybox");
        w(bb.clone(), std::fs::copy(&self.busybox, &bb).map(|_| ()))?;
        let ck = dir.join("bin/sangja-check");
        w(ck.clone(), std::fs::copy(&self.checker, &ck).map(|_| ()))?;
        for a in &self.applets {
            let p = dir.join("bin").join(a);
            w(p.clone(), symlink("busybox", &p))?;
        }
        for (name, text) in [
            ("etc/passwd", PASSWD),
            ("etc/group", GROUP),
            ("etc/hostname", "image\n"),
        ] {
            let p = dir.join(name);
            w(p.clone(), std::fs::write(&p, text))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_static_from_dynamic() {
        // /bin/sh on Debian is dynamic; busybox-static is not.
        assert!(is_dynamic_elf(&std::fs::read("/bin/sh").unwrap()));
        if let Ok(b) = std::fs::read("/bin/busybox") {
            assert!(!is_dynamic_elf(&b));
        }
        assert!(!is_dynamic_elf(b"#!/bin/sh\n"));
    }
}
