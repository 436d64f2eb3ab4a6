//! The shim's lifecycle actions: `start` (spawn or reuse the serving shim, one per
//! sandbox), `delete` (clean up after a dead shim) and the serving process itself.

use crate::runtime::{CallIo, Runtime};
use crate::service::Service;
use async_trait::async_trait;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{api, DeleteResponse, Error, ExitSignal, Flags, StartOpts};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// containerd's CRI plugin names a container's pod in this annotation, as the runc
/// shim reads it: containers of one pod share one shim.
pub const SANDBOX_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";
/// The runtime (binary, root) a bundle was created with, for the `delete` action.
const RUNTIME_FILE: &str = "sangja-runtime.json";

pub struct SangjaShim {
    id: String,
    namespace: String,
    bundle: PathBuf,
    exit: Arc<ExitSignal>,
}

/// The shim group a bundle belongs to: its sandbox id, else the container's own id.
pub fn grouping(bundle: &Path, id: &str) -> String {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("annotations")?
                .get(SANDBOX_ANNOTATION)?
                .as_str()
                .map(String::from)
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| id.to_string())
}

pub fn save_runtime(bundle: &Path, rt: &Runtime) -> std::io::Result<()> {
    let v = serde_json::json!({"binary": rt.binary, "root": rt.root});
    std::fs::write(bundle.join(RUNTIME_FILE), v.to_string())
}

fn load_runtime(bundle: &Path, namespace: &str) -> Runtime {
    let saved = std::fs::read(bundle.join(RUNTIME_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let field = |k: &str| {
        saved
            .as_ref()
            .and_then(|v| v.get(k)?.as_str().map(PathBuf::from))
    };
    match (field("binary"), field("root")) {
        (Some(binary), Some(root)) => Runtime { binary, root },
        _ => Runtime::new(None, None, namespace),
    }
}

fn other(msg: String) -> Error {
    Error::Other(msg)
}

#[async_trait]
impl containerd_shim::Shim for SangjaShim {
    type T = Service;

    async fn new(_runtime_id: &str, args: &Flags, _config: &mut containerd_shim::Config) -> Self {
        let bundle = if args.bundle.is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            PathBuf::from(&args.bundle)
        };
        SangjaShim {
            id: args.id.clone(),
            namespace: args.namespace.clone(),
            bundle,
            exit: Arc::new(ExitSignal::default()),
        }
    }

    async fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let group = grouping(&self.bundle, &opts.id);
        let binary = Runtime::default_binary();
        let binary = binary.to_string_lossy();
        let vars = vec![(crate::runtime::BINARY_ENV, binary.as_ref())];
        let address = containerd_shim::spawn(opts, &group, vars).await?;
        std::fs::write(self.bundle.join("address"), &address)
            .map_err(|e| other(format!("write {}/address: {e}", self.bundle.display())))?;
        Ok(address)
    }

    async fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let rt = load_runtime(&self.bundle, &self.namespace);
        let log = self.bundle.join("log.json");
        let args = ["delete", "--force", self.id.as_str()].map(std::ffi::OsString::from);
        if let Err(e) = rt.call(&log, &args, CallIo::default()).await {
            if !e.to_string().contains("does not exist") {
                tracing::warn!("delete --force {}: {e}", self.id);
            }
        }
        crate::mounts::unmount_all(&self.bundle.join("rootfs"));
        remove_dead_socket(&self.bundle);
        let now = containerd_shim::util::timestamp().unwrap_or_else(|_| Timestamp::new());
        Ok(api::DeleteResponse {
            // The shim died, so its task was killed (Go shim: 128 + SIGKILL).
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: Some(now).into(),
            ..Default::default()
        })
    }

    async fn wait(&mut self) {
        self.exit.wait().await;
    }

    async fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        Service::new(&self.namespace, publisher, self.exit.clone()).await
    }
}

/// The socket of a shim that no longer answers (killed): nobody else removes it.
fn remove_dead_socket(bundle: &Path) {
    let Ok(address) = std::fs::read_to_string(bundle.join("address")) else {
        return;
    };
    let path = address.trim().trim_start_matches("unix://");
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_annotation_groups() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(grouping(d.path(), "c1"), "c1");
        std::fs::write(
            d.path().join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod7"}}"#,
        )
        .unwrap();
        assert_eq!(grouping(d.path(), "c1"), "pod7");
    }
}
