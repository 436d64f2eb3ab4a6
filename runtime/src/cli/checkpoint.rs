//! `checkpoint` and `restore`: runc's flags, CRIU underneath (see crate::checkpoint).

use std::path::PathBuf;

use super::Globals;
use crate::checkpoint::{self, criu};

/// The flags both commands take.
#[derive(clap::Args, Debug)]
pub struct CriuFlags {
    /// Path for saving criu image files [default: ./checkpoint]
    #[arg(long = "image-path", value_name = "DIR")]
    pub image_path: Option<PathBuf>,
    /// Path for saving work files and logs [default: the image path]
    #[arg(long = "work-path", value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks, for safety
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Use userfaultfd to lazily restore memory pages
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// Enable auto deduplication of memory images
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Cgroups mode: soft|full|strict|ignore [default: soft]
    #[arg(long = "manage-cgroups-mode", value_name = "MODE")]
    pub manage_cgroups_mode: Option<criu::CgroupMode>,
    /// Create a namespace, but don't restore its properties
    #[arg(long = "empty-ns", value_name = "NS")]
    pub empty_ns: Vec<String>,
}

impl CriuFlags {
    fn common(&self, g: &Globals) -> anyhow::Result<criu::Common> {
        let image_path = match &self.image_path {
            Some(p) => std::path::absolute(p)?,
            None => std::env::current_dir()?.join("checkpoint"),
        };
        let work_path = self
            .work_path
            .as_ref()
            .map(std::path::absolute)
            .transpose()?;
        Ok(criu::Common {
            criu: g.criu.clone(),
            image_path,
            work_path,
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            lazy_pages: self.lazy_pages,
            auto_dedup: self.auto_dedup,
            manage_cgroups_mode: self.manage_cgroups_mode,
            empty_ns: self.empty_ns.clone(),
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path for previous criu image files in pre-dump
    #[arg(long = "parent-path", value_name = "DIR")]
    pub parent_path: Option<PathBuf>,
    /// Leave the process running after checkpointing
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Criu writes \0 to this FD once lazy-pages is ready
    #[arg(long = "status-fd", value_name = "FD")]
    pub status_fd: Option<i32>,
    /// ADDRESS:PORT of the page server
    #[arg(long = "page-server", value_name = "ADDRESS:PORT")]
    pub page_server: Option<String>,
    /// Dump container's memory information only, leave the container running after this
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let opts = checkpoint::DumpOpts {
        common: a.criu.common(g)?,
        parent_path: a.parent_path,
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
        status_fd: a.status_fd,
        page_server: a.page_server,
    };
    checkpoint::checkpoint(&g.root, &a.id, &opts)?;
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Disable the use of the subreaper used to reap reparented processes
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Label to restore the process with (no LSM on this kernel decides it)
    #[arg(long = "lsm-profile", value_name = "TYPE:LABEL")]
    pub lsm_profile: Option<String>,
    /// Label to restore mounts with
    #[arg(long = "lsm-mount-context", value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

pub fn restore(g: &Globals, a: RestoreArgs) -> anyhow::Result<i32> {
    for (flag, set) in [
        ("--lsm-profile", a.lsm_profile.is_some()),
        ("--lsm-mount-context", a.lsm_mount_context.is_some()),
    ] {
        if set
            && !crate::security::lsm::apparmor_enabled()
            && !crate::security::lsm::selinux_enabled()
        {
            anyhow::bail!("{flag}: this kernel has neither AppArmor nor SELinux to apply it");
        }
    }
    let opts = checkpoint::RestoreOpts {
        common: a.criu.common(g)?,
        bundle: a.bundle,
        detach: a.detach,
        pid_file: a.pid_file,
        no_subreaper: a.no_subreaper,
        no_pivot: a.no_pivot,
        console_socket: a.console_socket,
        systemd_cgroup: g.systemd_cgroup,
    };
    Ok(checkpoint::restore(&g.root, &a.id, &opts)?)
}
