use std::path::PathBuf;

use anyhow::Context;
use nix::unistd::Pid;

use super::Globals;
use crate::exec::{self, ExecOpts};
use crate::foreground::Foreground;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Path to an AF_UNIX socket which will receive the pidfd of the process (runc 1.2)
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Path to the process.json
    #[arg(short = 'p', long = "process", value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,
    /// Set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass N additional file descriptors to the process (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.
    #[arg(long)]
    pub cgroup: Option<String>,
    /// Allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let opts = ExecOpts {
        root: g.root.clone(),
        id: a.id.clone(),
        process_file: a.process.clone(),
        args: a.command.clone(),
        tty: a.tty,
        cwd: a.cwd.clone(),
        env: a.env.clone(),
        user: a.user.clone(),
        additional_gids: a.additional_gids.clone(),
        no_new_privs: a.no_new_privs,
        caps: a.cap.clone(),
        apparmor: a.apparmor.clone(),
        process_label: a.process_label.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        // As runc: socket activation is for the container's init, not for exec.
        preserve_fds: a.preserve_fds,
        cgroup: a.cgroup.clone(),
        ignore_paused: a.ignore_paused,
        relay_tty: !a.detach && a.console_socket.is_none(),
        log_fd: g.log.as_ref().and_then(|l| l.fd),
        log_json: g.log_json,
        debug: g.debug,
    };
    let fg = if a.detach {
        None
    } else {
        Some(Foreground::prepare(true)?)
    };
    let started = exec::exec(&opts).context("exec failed")?;
    match fg {
        None => Ok(0),
        Some(fg) => Ok(fg.wait(Pid::from_raw(started.pid), started.pty_master)?),
    }
}
