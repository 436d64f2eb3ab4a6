//! sangja: an OCI runtime-spec 1.2 container runtime with runc's command line.
//!
//! The library holds the engine; the `sangja` binary is command-line glue over [`cli`].
//! The process stays single-threaded on purpose: `unshare(CLONE_NEWUSER)` and mount
//! namespace `setns` refuse threaded callers, and a single thread lets forked children
//! do the whole container setup before they exec.

// The break-* features (runtime/Cargo.toml) switch protections off for the proof test
// (`make prove-protections`). They build only with debug assertions, so no release or
// dist build can carry one.
#[cfg(all(feature = "broken-build", not(debug_assertions)))]
compile_error!(
    "the break-* features exist only for `make prove-protections` (cargo --profile break); \
     a release or dist build must never enable one"
);

pub mod cgroup;
pub mod checkpoint;
pub mod cli;
pub mod container;
pub mod crash;
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
