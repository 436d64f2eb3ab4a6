//! sangja: an OCI runtime-spec 1.2 container runtime with runc's command line.
//!
//! The library holds the engine; the `sangja` binary is command-line glue over [`cli`].
//! The process stays single-threaded on purpose: `unshare(CLONE_NEWUSER)` and mount
//! namespace `setns` refuse threaded callers, and a single thread lets forked children
//! do the whole container setup before they exec.

pub mod cgroup;
pub mod cli;
pub mod container;
pub mod exec;
pub mod foreground;
pub mod hooks;
pub mod logging;
pub mod namespaces;
pub mod netdev;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod signal;
pub mod spec;
pub mod state;
pub mod syscall;
pub mod tty;
