//! The command line, flag for flag runc 1.1.5's (plus the newer flags sangja supports).
//! One file per subcommand; each turns its flags into a call into the library.

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec_cmd;
mod start;
mod state;
mod update;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging;

pub const DEFAULT_ROOT: &str = "/run/sangja";

#[derive(Parser, Debug)]
#[command(name = "sangja", version = version(), about = "An OCI container runtime with runc's command line", disable_version_flag = true)]
pub struct Cli {
    /// Print the version
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Enable debug logging
    #[arg(long)]
    pub debug: bool,
    /// Set the log file to write sangja logs to (default is stderr)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", default_value = "text", value_name = "FORMAT")]
    pub log_format: logging::Format,
    /// Root directory for storage of container state (this should be located in tmpfs)
    /// [default: /run/sangja, or $XDG_RUNTIME_DIR/sangja when rootless]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Path to the criu binary used for checkpoint and restore
    #[arg(long, default_value = "criu", value_name = "PATH")]
    pub criu: PathBuf,
    /// Enable systemd cgroup support: cgroupsPath is then slice:prefix:name
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// Ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, default_value = "auto", value_name = "MODE")]
    pub rootless: Rootless,
    #[command(subcommand)]
    pub command: Command,
}

fn version() -> &'static str {
    concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rootless {
    True,
    False,
    Auto,
}

impl std::str::FromStr for Rootless {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "true" => Ok(Rootless::True),
            "false" => Ok(Rootless::False),
            "auto" => Ok(Rootless::Auto),
            other => Err(format!(
                "invalid value {other:?} for --rootless: expected true, false or auto"
            )),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container
    Create(create::Args),
    /// Execute the user-defined process in a created container
    Start(start::Args),
    /// Create and run a container
    Run(run::Args),
    /// Execute new process inside the container
    Exec(exec::Args),
    /// Output the state of a container
    State(state::Args),
    /// Send a signal to the container's init process
    Kill(kill::Args),
    /// Delete any resources held by the container
    Delete(delete::Args),
    /// Suspend all processes inside the container
    Pause(pause::Args),
    /// Resume all processes that have been previously paused
    Resume(pause::Args),
    /// Display the processes running inside a container
    Ps(ps::Args),
    /// Display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(events::Args),
    /// Update container resource constraints
    Update(update::Args),
    /// List containers started by sangja with the given root
    List(list::Args),
    /// Create a new specification file
    Spec(spec_cmd::Args),
    /// Show the enabled features
    Features(features::Args),
    /// Checkpoint a running container (through CRIU)
    Checkpoint(checkpoint::Args),
    /// Restore a container from a previous checkpoint
    Restore(checkpoint::RestoreArgs),
}

/// Everything a subcommand gets besides its own flags.
pub struct Globals {
    pub root: PathBuf,
    pub log: Option<logging::LogTarget>,
    pub systemd_cgroup: bool,
    pub debug: bool,
    pub log_json: bool,
    /// Rootless mode (`--rootless`, or auto-detected): cgroup permission errors are not
    /// fatal while the container asks for no limits.
    pub rootless: bool,
    /// `--criu`: the CRIU binary checkpoint and restore run.
    pub criu: PathBuf,
}

/// `--rootless auto` as runc decides it: rootless when not running as root, or when
/// running as root of a user namespace that does not map the whole id range.
fn resolve_rootless(flag: Rootless) -> bool {
    match flag {
        Rootless::True => true,
        Rootless::False => false,
        Rootless::Auto => nix::unistd::geteuid().as_raw() != 0 || in_user_namespace(),
    }
}

/// The initial user namespace maps every id onto itself: "0 0 4294967295".
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

/// runc's default state directory: $XDG_RUNTIME_DIR/sangja for a rootless caller that
/// has one, /run/sangja otherwise.
fn default_root(rootless: bool) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if rootless && !dir.is_empty() => PathBuf::from(dir).join("sangja"),
        _ => PathBuf::from(DEFAULT_ROOT),
    }
}

/// Runs the parsed command line; returns the process exit status.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let rootless = resolve_rootless(cli.rootless);
    if cli.systemd_cgroup && !std::path::Path::new("/run/systemd/system").exists() {
        anyhow::bail!("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); use the cgroupfs driver (drop --systemd-cgroup)");
    }
    let log = logging::init(cli.log.as_deref(), cli.log_format, cli.debug).map_err(|e| {
        anyhow::anyhow!(
            "--log {}: {e}",
            cli.log
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )
    })?;
    let g = Globals {
        criu: cli.criu.clone(),
        // Absolute, as runc makes it: the path is stored in state and used from any cwd.
        root: std::path::absolute(cli.root.clone().unwrap_or_else(|| default_root(rootless)))
            .map_err(|e| anyhow::anyhow!("--root: {e}"))?,
        rootless,
        log: Some(log),
        systemd_cgroup: cli.systemd_cgroup,
        debug: cli.debug,
        log_json: cli.log_format == logging::Format::Json,
    };
    match cli.command {
        Command::Create(a) => create::run(&g, a),
        Command::Start(a) => start::run(&g, a),
        Command::Run(a) => run::run(&g, a),
        Command::State(a) => state::run(&g, a),
        Command::Exec(a) => exec::run(&g, a),
        Command::Kill(a) => kill::run(&g, a),
        Command::Delete(a) => delete::run(&g, a),
        Command::List(a) => list::run(&g, a),
        Command::Pause(a) => pause::pause(&g, a),
        Command::Resume(a) => pause::resume(&g, a),
        Command::Ps(a) => ps::run(&g, a),
        Command::Events(a) => events::run(&g, a),
        Command::Update(a) => update::run(&g, a),
        Command::Spec(a) => spec_cmd::run(&g, a),
        Command::Features(a) => features::run(&g, a),
        Command::Checkpoint(a) => checkpoint::run(&g, a),
        Command::Restore(a) => checkpoint::restore(&g, a),
    }
}

/// The flags `create` and `run` share.
#[derive(clap::Args, Debug, Clone)]
pub struct CreateFlags {
    /// Path to the root of the bundle directory, defaults to the current directory
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot root to jail process inside rootfs (for a rootfs on a ramdisk)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Path to an AF_UNIX socket which will receive the pidfd of the container's process (runc 1.2)
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

impl CreateFlags {
    pub fn opts(&self, g: &Globals, relay_tty: bool) -> crate::container::CreateOpts {
        crate::container::CreateOpts {
            root: g.root.clone(),
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            console_socket: self.console_socket.clone(),
            pid_file: self.pid_file.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            listen_fds: listen_fds(),
            log_fd: g.log.as_ref().and_then(|l| l.fd),
            log_json: g.log_json,
            debug: g.debug,
            systemd_cgroup: g.systemd_cgroup,
            rootless: g.rootless,
            relay_tty,
            pidfd_socket: self.pidfd_socket.clone(),
        }
    }
}

/// Socket activation: LISTEN_FDS descriptors meant for us pass through to the container.
fn listen_fds() -> u32 {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !pid_ok {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
