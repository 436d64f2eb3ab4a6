//! containerd-shim-sangja-v2: a containerd shim v2 (task API v2) that runs the
//! `sangja` binary the way containerd's Go runc shim runs runc.

pub mod checkpoint;
pub mod events;
pub mod info;
pub mod metrics;
pub mod mounts;
pub mod oom;
pub mod restore;
pub mod runtime;
pub mod service;
pub mod shim;
pub mod state;
pub mod stdio;

/// The runtime type containerd selects this shim by.
pub const RUNTIME_TYPE: &str = "io.containerd.sangja.v2";
