//! The two runtimes every flow runs against: sangja, and runc from apt as the reference.

use std::path::{Path, PathBuf};

/// One runtime binary under test.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Short name: the podman runtime name and the trial name part.
    pub name: &'static str,
    pub path: PathBuf,
}

impl Runtime {
    /// sangja from `SANGJA_BIN` (scripts/test.sh exports the workspace's release build),
    /// else the workspace's own target/release.
    pub fn sangja() -> Runtime {
        let path = std::env::var_os("SANGJA_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja")
            });
        let path = path.canonicalize().unwrap_or(path);
        Runtime {
            name: "sangja",
            path,
        }
    }

    /// runc 1.1.5 from Debian.
    pub fn runc() -> Runtime {
        let path = ["/usr/sbin/runc", "/usr/bin/runc"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"));
        Runtime { name: "runc", path }
    }

    /// Why this runtime cannot be tested here, if it cannot.
    pub fn missing(&self) -> Option<String> {
        if self.path.is_file() {
            None
        } else {
            Some(format!(
                "{} binary not found at {}",
                self.name,
                self.path.display()
            ))
        }
    }

    /// The name containerd's shim (go-runc) puts before "create failed": the binary's
    /// file name.
    pub fn command_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.name.to_string())
    }
}
