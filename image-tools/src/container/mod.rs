//! Containers of stored images, docker-style and daemonless: an overlayfs snapshot per
//! container over the image's layers (unpacked once, shared read-only), a bundle whose
//! config.json comes from the image config and the `run` flags, and an OCI runtime
//! (sangja by default, any runc-compatible one with `--runtime`) to run it.
//!
//! Layout under the image store: `snapshots/<image id hex>/` (the shared lower dirs),
//! `containers/<id>/` with `container.json`, `config.json`, `rootfs/` (the overlay
//! mount), `upper/`, `work/`, `owner.lock`, `log` (a detached container's output),
//! `runtime.log` (the runtime's own messages); `containers/.state/` is the runtime's
//! `--root` for them all (rootless: `$XDG_RUNTIME_DIR/sangja-image`, and `rootfs/` a
//! private copy of the layers instead of a mount: see [`rootless`]).

pub mod attach;
pub mod commit;
pub mod config;
pub mod copy;
pub mod exec;
pub mod health;
pub mod init;
pub mod inspect;
pub mod isolation;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod network;
pub mod owner;
pub mod record;
pub mod rootless;
pub mod run;
pub mod runtime;
pub mod snapshot;
pub mod stats;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("container name {name:?} is already in use by container {id}")]
    NameInUse { name: String, id: String },
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed")]
    BadName(String),
    #[error("{query:?} is ambiguous: it matches containers {}", .ids.join(", "))]
    Ambiguous { query: String, ids: Vec<String> },
    #[error("container {0} is running: stop it first or use rm -f")]
    Running(String),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("Container {0} is paused, unpause the container first")]
    Paused(String),
    #[error("You cannot attach to a stopped container, start it first")]
    AttachStopped,
    #[error("You cannot attach to a paused container, unpause it first")]
    AttachPaused,
    #[error("Container {0} is not paused")]
    NotPaused(String),
    #[error("{flag} {value:?}: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("container {0} is still in use by the process that runs it (its run or monitor)")]
    Busy(String),
    #[error("the monitor of container {id}: {message}")]
    Monitor { id: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container record {path}: {message}")]
    Record { path: PathBuf, message: String },
    #[error(transparent)]
    Snapshot(Box<snapshot::SnapshotError>),
    #[error(transparent)]
    Config(Box<config::ConfigError>),
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Volume(Box<crate::volume::VolumeError>),
    #[error(transparent)]
    Network(Box<crate::network::NetworkError>),
    #[error(transparent)]
    Rootless(Box<crate::rootless::RootlessError>),
}

impl From<crate::rootless::RootlessError> for ContainerError {
    fn from(e: crate::rootless::RootlessError) -> Self {
        ContainerError::Rootless(Box::new(e))
    }
}

impl From<crate::network::NetworkError> for ContainerError {
    fn from(e: crate::network::NetworkError) -> Self {
        ContainerError::Network(Box::new(e))
    }
}

impl From<crate::volume::VolumeError> for ContainerError {
    fn from(e: crate::volume::VolumeError) -> Self {
        ContainerError::Volume(Box::new(e))
    }
}

impl From<snapshot::SnapshotError> for ContainerError {
    fn from(e: snapshot::SnapshotError) -> Self {
        ContainerError::Snapshot(Box::new(e))
    }
}

impl From<config::ConfigError> for ContainerError {
    fn from(e: config::ConfigError) -> Self {
        ContainerError::Config(Box::new(e))
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let path = path.into();
    move |source| ContainerError::Io { path, source }
}
