//! Starting a container process: the protected runtime executable, the channel between
//! the runtime and the init it starts, and the init itself.
//!
//! The runtime (parent) forks a child that immediately re-executes sangja from a
//! read-only copy of its own binary (`exe`), as `sangja init`. That stage-1 process joins
//! and creates namespaces (all but the cgroup namespace), then clones the container init
//! (stage 2) as a sibling, so the runtime can wait on it. The runtime moves stage 2 into
//! the container's cgroup and says Go; stage 2 makes its cgroup namespace there, builds
//! the root filesystem, drops privileges and waits on the exec FIFO until `start`.

pub mod channel;
pub mod exe;
pub mod init;
pub mod spawn;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The environment variable naming the init's end of the channel.
pub const INIT_FD_ENV: &str = "_SANGJA_INIT_FD";

/// What kind of process the init will become.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitKind {
    /// A new container: namespaces created, rootfs built, held at the FIFO until `start`.
    Create,
    /// A process joining a running container's namespaces.
    Exec,
}

/// Everything the init needs, sent as the first message on the channel.
#[derive(Debug, Serialize, Deserialize)]
pub struct Bootstrap {
    pub kind: InitKind,
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub spec: oci_spec::runtime::Spec,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// The exec FIFO, opened O_PATH by the runtime and inherited.
    pub fifo_fd: Option<i32>,
    /// A connected console socket when the process has a terminal.
    pub console_fd: Option<i32>,
    pub log_fd: Option<i32>,
    pub log_json: bool,
    pub debug: bool,
    /// For exec: the namespaces to join, as (type, /proc/<pid>/ns/<name>) in join order.
    #[serde(default)]
    pub join: Vec<(String, PathBuf)>,
    /// Send the pty master back to the runtime instead of a console socket.
    #[serde(default)]
    pub relay_tty: bool,
}

/// Messages on the runtime <-> init channel.
#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    Bootstrap(Box<Bootstrap>),
    /// init -> runtime: write uid_map/gid_map for the stage-1 process.
    WriteMaps,
    /// runtime -> init: maps written.
    MapsWritten,
    /// stage 1 -> runtime: the container process's host pid.
    Child(i32),
    /// runtime -> stage 2: in the container's cgroup now, go on; carries the state JSON
    /// hooks will read.
    Go(String),
    /// stage 2 -> runtime: run prestart and createRuntime hooks now.
    RunHooks,
    /// runtime -> stage 2: hooks ran.
    HooksDone,
    /// runtime -> stage 2: the idmapping of the tree just sent is set.
    IdmapSet,
    /// stage 2 -> runtime: a descriptor follows (seccomp listener or pty master).
    Fd(FdKind),
    /// stage 2 -> runtime: set up, waiting for start (or about to exec).
    Ready,
    /// runtime -> stage 2: state saved; carries the state JSON for startContainer hooks.
    Ack(String),
    /// init -> runtime: setup failed.
    Error(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FdKind {
    SeccompListener,
    PtyMaster,
    /// A detached clone of `mounts[i]`'s source that the runtime gives its idmapping.
    IdmapTree(usize),
}
