//! A task created from a checkpoint (CreateTaskRequest.checkpoint: `ctr container
//! restore --live`, the CRI, docker). As containerd's runc shim does, Create only keeps
//! what the restore needs and Start runs `restore --detach` in place of `start`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use containerd_shim::protos::shim::oci::Options;

/// The restore a created task waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// CRIU's images: where containerd unpacked the checkpoint.
    pub image_path: PathBuf,
    /// The runtime options' CriuWorkPath (CRIU's logs and work files), if set.
    pub work_path: Option<PathBuf>,
    pub no_pivot: bool,
}

impl Pending {
    /// What the request asks to restore, if it names a checkpoint. A parent checkpoint
    /// is refused: `restore` (runc's too) has no --parent-path.
    pub fn from_request(
        checkpoint: &str,
        parent: &str,
        opts: &Options,
    ) -> Result<Option<Pending>, String> {
        if checkpoint.is_empty() {
            return Ok(None);
        }
        if !parent.is_empty() {
            return Err(format!(
                "parent_checkpoint {parent}: restore takes no parent checkpoint (only a pre-dump does)"
            ));
        }
        Ok(Some(Pending {
            image_path: PathBuf::from(checkpoint),
            work_path: Some(&opts.criu_work_path)
                .filter(|w| !w.is_empty())
                .map(PathBuf::from),
            no_pivot: opts.no_pivot_root,
        }))
    }

    /// `restore` as go-runc builds it for the runc shim: detached, the pid written to
    /// `pid_file`, no subreaper (the shim reaps). The caller adds the console socket
    /// and the id.
    pub fn args(&self, bundle: &Path, pid_file: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["restore".into(), "--image-path".into()];
        a.push(self.image_path.clone().into());
        if let Some(w) = &self.work_path {
            a.push("--work-path".into());
            a.push(w.clone().into());
        }
        a.push("--detach".into());
        a.push("--pid-file".into());
        a.push(pid_file.into());
        if self.no_pivot {
            a.push("--no-pivot".into());
        }
        a.push("--no-subreaper".into());
        a.push("--bundle".into());
        a.push(bundle.into());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_to_restore_args() {
        let mut opts = Options::default();
        assert_eq!(Pending::from_request("", "", &opts), Ok(None));
        assert!(Pending::from_request("/ck", "/parent", &opts)
            .unwrap_err()
            .contains("parent_checkpoint /parent"));
        opts.criu_work_path = "/w".into();
        opts.no_pivot_root = true;
        let p = Pending::from_request("/ck", "", &opts).unwrap().unwrap();
        let a: Vec<String> = p
            .args(Path::new("/b"), Path::new("/b/init.pid"))
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            a.join(" "),
            "restore --image-path /ck --work-path /w --detach --pid-file /b/init.pid \
             --no-pivot --no-subreaper --bundle /b"
        );
    }
}
