//! The rootfs mounts containerd passes with Create, mounted at <bundle>/rootfs and
//! unmounted on delete (also by the `delete` action after a dead shim).

use containerd_shim::protos::api::Mount;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("create {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("mount {kind} {source_path} on {target}: {reason}")]
    Mount {
        kind: String,
        source_path: String,
        target: String,
        reason: String,
    },
}

/// Mounts every entry on `target` in order; on a failure the earlier ones are undone.
pub fn mount_all(list: &[Mount], target: &Path) -> Result<(), MountError> {
    use std::os::unix::fs::DirBuilderExt;
    if !target.exists() {
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(target)
            .map_err(|source| MountError::Dir {
                path: target.display().to_string(),
                source,
            })?;
    }
    for m in list {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        if let Err(e) = containerd_shim::mount::mount_rootfs(
            opt(&m.type_).as_deref(),
            opt(&m.source).as_deref(),
            &m.options,
            target,
        ) {
            unmount_all(target);
            return Err(MountError::Mount {
                kind: m.type_.clone(),
                source_path: m.source.clone(),
                target: target.display().to_string(),
                reason: e.to_string(),
            });
        }
    }
    Ok(())
}

/// Unmounts everything at or under `target` (nothing mounted is fine).
pub fn unmount_all(target: &Path) {
    if let Some(t) = target.to_str() {
        if let Err(e) = containerd_shim::mount::umount_recursive(Some(t), libc::MNT_DETACH) {
            tracing::warn!("unmount {t}: {e}");
        }
    }
}
