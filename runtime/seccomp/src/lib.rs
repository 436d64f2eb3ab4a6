//! Seccomp for sangja: OCI `linux.seccomp` profiles compiled with libseccomp.
//!
//! How the runtime uses it (runc's order):
//! 1. At `create`, before any container process exists: [`spec_json::parse`] (or the
//!    typed config) and [`compile`], so a bad profile fails early with the field named.
//! 2. In the container init, after namespaces, mounts and the rest of the setup:
//!    - without `process.noNewPrivileges`, [`Filter::load`] *before* dropping capabilities
//!      and changing uid (loading needs CAP_SYS_ADMIN when no_new_privs is unset);
//!    - with `noNewPrivileges`, set no_new_privs, drop capabilities, change uid, then
//!      [`Filter::load`] as the last step before execve.
//!
//!    The filter never sets no_new_privs itself.
//! 3. When [`Filter::needs_listener`], `load` returns the notify fd: the init passes it
//!    to the runtime process ([`listener::send_fd`] over its sync socket; write(2) is never
//!    a NOTIFY target for that reason), which sends it to `listenerPath` with
//!    [`send_listener_fd`] and the container state (status "creating"), then closes it.

mod action;
mod arch;
pub mod docker_profile;
mod enosys;
mod errno_name;
mod error;
mod features;
mod filter;
mod flag;
mod kernel;
pub mod listener;
mod operator;
pub mod spec_json;

pub use error::FilterError;
pub use features::{features, SeccompFeatures};
pub use filter::{compile, Filter, Prepared};
pub use listener::{process_state, send_listener_fd, ListenerError};
pub use oci_spec::runtime::ContainerProcessState;
pub use spec_json::compile_json;

/// The error of validating, compiling and loading a profile.
pub type Error = FilterError;
