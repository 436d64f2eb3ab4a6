//! sangja-image's command-line edges, one file per verb group, each a thin translation
//! of arguments into library calls and of results into docker's output: `images.rs`
//! (images, tag, rm, prune, inspect, history), `archives.rs` (save, load, import),
//! `layout.rs` (unpack, bundle, fsck), `remote.rs` (pull, push, login, logout),
//! `containers.rs` (run, ps, logs, stop, kill, start, container rm, commit), `build.rs`.

pub mod archives;
pub mod build;
pub mod containers;
pub mod images;
pub mod layout;
pub mod remote;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use sangja_image::bundle;
use sangja_image::image::{self, Image};
use sangja_image::store::{Store, DEFAULT_STORE};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sangja-image",
    version,
    about = "Images for sangja: store, inspect, save, load, import, unpack, bundle"
)]
pub struct Cli {
    /// The OCI image layout directory holding the images.
    #[arg(long, global = true, env = "SANGJA_IMAGE_STORE", default_value = DEFAULT_STORE)]
    pub store: PathBuf,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ArchiveFormat {
    DockerArchive,
    OciArchive,
}

#[derive(Subcommand)]
pub enum Command {
    /// List images.
    Images {
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Only image ids.
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        no_trunc: bool,
    },
    /// Give an image another name.
    Tag { source: String, target: String },
    /// Untag or delete images; blobs nothing else uses are removed.
    #[command(alias = "rmi")]
    Rm {
        /// Delete an image id even when several names share it.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove every blob no image uses.
    Prune,
    /// Show images as `docker image inspect` does.
    Inspect {
        /// A Go template, e.g. '{{.Config.Env}}' or '{{json .Config}}'.
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Show an image's history.
    History {
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
        #[arg(long)]
        no_trunc: bool,
        image: String,
    },
    /// Write images to an archive (stdout without -o).
    Save {
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "docker-archive")]
        format: ArchiveFormat,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from a docker-archive or oci-archive (stdin without -i).
    Load {
        #[arg(short, long)]
        input: Option<PathBuf>,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Make a one-layer image from a rootfs tarball ('-' for stdin) or directory.
    Import {
        /// A Dockerfile instruction to apply (CMD, ENTRYPOINT, ENV, WORKDIR, USER, VOLUME, LABEL, EXPOSE, STOPSIGNAL).
        #[arg(short, long)]
        change: Vec<String>,
        #[arg(short, long)]
        message: Option<String>,
        source: String,
        name: Option<String>,
    },
    /// Apply an image's layers onto a new directory.
    Unpack { image: String, dir: PathBuf },
    /// Make an OCI runtime bundle (rootfs + config.json) from an image.
    Bundle {
        /// The docker-format seccomp profile to convert.
        #[arg(long, default_value = bundle::DEFAULT_SECCOMP_PROFILE, conflicts_with = "no_seccomp")]
        seccomp_profile: PathBuf,
        /// No seccomp filter in config.json.
        #[arg(long)]
        no_seccomp: bool,
        image: String,
        dir: PathBuf,
        /// The command to run instead of the image's Entrypoint and Cmd.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Verify every blob and every index entry of the store.
    Fsck,
    /// Pull an image (by tag or digest) from a registry.
    Pull {
        /// Every tag of the repository.
        #[arg(short = 'a', long)]
        all_tags: bool,
        /// Print only the image reference.
        #[arg(short, long)]
        quiet: bool,
        /// The platform to pick from a multi-platform image (os/arch[/variant]).
        #[arg(long)]
        platform: Option<String>,
        #[command(flatten)]
        net: NetArgs,
        image: String,
    },
    /// Push an image to a registry.
    Push {
        /// Every tag of the repository in the store.
        #[arg(short = 'a', long)]
        all_tags: bool,
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        net: NetArgs,
        image: String,
    },
    /// Log in to a registry; credentials go where docker keeps them.
    Login {
        #[arg(short, long)]
        username: Option<String>,
        #[arg(short, long)]
        password: Option<String>,
        /// Read the password from stdin.
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        #[command(flatten)]
        net: NetArgs,
        registry: Option<String>,
    },
    /// Forget a registry's credentials.
    Logout { registry: Option<String> },
    /// Build an image from a Dockerfile (RUN steps run in containers of the OCI runtime).
    Build(Box<build::BuildArgs>),
    /// Run a command in a new container of an image (pulled if missing).
    Run(Box<containers::RunArgs>),
    /// List containers (running ones without -a).
    Ps {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        no_trunc: bool,
    },
    /// Show a detached container's output.
    Logs {
        #[arg(short, long)]
        follow: bool,
        container: String,
    },
    /// Stop containers: the stop signal, then SIGKILL after --time seconds.
    Stop {
        #[arg(short, long, default_value_t = 10)]
        time: u64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to containers.
    Kill {
        #[arg(short, long, default_value = "SIGKILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Start stopped containers again (detached, same writable layer).
    Start {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Make an image of a container's changes on top of its image.
    Commit {
        #[arg(short, long)]
        message: Option<String>,
        container: String,
        name: Option<String>,
    },
    /// Container commands (`container rm`: `rm` itself removes images).
    #[command(subcommand)]
    Container(ContainerCommand),
    /// A detached container's monitor (started by `run -d` and `start`).
    #[command(name = "container-monitor", hide = true)]
    ContainerMonitor {
        /// The container's owner lock, inherited.
        #[arg(long)]
        owner_fd: i32,
        id: String,
    },
}

#[derive(Subcommand)]
pub enum ContainerCommand {
    /// Remove containers: runtime state, snapshot, bundle and record.
    Rm {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List containers (as `ps`).
    Ls {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        no_trunc: bool,
    },
}

#[derive(clap::Args)]
pub struct NetArgs {
    /// Allow plain http to this registry when TLS fails.
    #[arg(long)]
    pub insecure: bool,
    /// A directory with the registry's CA (*.crt) and client certificate (*.cert, *.key).
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,
}

pub(crate) fn find(store: &Store, query: &str) -> Result<Image> {
    Ok(image::find(store, query)?)
}

/// The unpacked snapshots of images that are gone and no container uses.
pub(crate) fn prune_snapshots(store: &Store) -> Result<()> {
    let containers = sangja_image::container::record::Containers::new(store.root());
    sangja_image::container::snapshot::prune(store, &containers)
        .context("removing unused container snapshots")?;
    Ok(())
}

pub fn run(cli: Cli) -> Result<()> {
    let command = match cli.command {
        Command::Login {
            username,
            password,
            password_stdin,
            net,
            registry,
        } => return remote::login(username, password, password_stdin, &net, registry),
        Command::Logout { registry } => return remote::logout(registry),
        Command::ContainerMonitor { owner_fd, id } => std::process::exit(
            sangja_image::container::monitor::main(&cli.store, &id, owner_fd),
        ),
        other => other,
    };
    let store = Store::open(&cli.store)
        .with_context(|| format!("opening image store {}", cli.store.display()))?;
    sangja_image::container::lifecycle::sweep_interrupted_removals(
        &sangja_image::container::record::Containers::new(store.root()),
    );
    let mut out = std::io::stdout().lock();
    match command {
        Command::Images {
            format,
            quiet,
            no_trunc,
        } => images::images(&store, &mut out, format, quiet, no_trunc)?,
        Command::Tag { source, target } => images::tag(&store, &source, &target)?,
        Command::Rm { force, images } => images::rm(&store, &mut out, force, images)?,
        Command::Prune => images::prune(&store, &mut out)?,
        Command::Inspect { format, images } => images::inspect(&store, &mut out, format, images)?,
        Command::History {
            format,
            no_trunc,
            image,
        } => images::history(&store, &mut out, format, no_trunc, &image)?,
        Command::Save {
            output,
            format,
            images,
        } => {
            drop(out);
            return archives::save(&store, output, format, images);
        }
        Command::Load { input, quiet } => archives::load(&store, &mut out, input, quiet)?,
        Command::Import {
            change,
            message,
            source,
            name,
        } => archives::import(&store, &mut out, change, message, source, name)?,
        Command::Unpack { image, dir } => layout::unpack(&store, &image, &dir)?,
        Command::Bundle {
            seccomp_profile,
            no_seccomp,
            image,
            dir,
            args,
        } => layout::bundle(&store, seccomp_profile, no_seccomp, &image, &dir, args)?,
        Command::Fsck => layout::fsck(&store, &mut out)?,
        Command::Pull {
            all_tags,
            quiet,
            platform,
            net,
            image,
        } => {
            drop(out);
            return remote::pull(&store, &image, all_tags, quiet, platform, &net);
        }
        Command::Push {
            all_tags,
            quiet,
            net,
            image,
        } => {
            drop(out);
            return remote::push(&store, &image, all_tags, quiet, &net);
        }
        Command::Build(args) => {
            drop(out);
            build::build(&store, *args)?;
        }
        Command::Run(args) => {
            drop(out);
            let code = containers::run(&store, *args)?;
            if code != 0 {
                let _ = std::io::stdout().flush();
                std::process::exit(code);
            }
        }
        Command::Ps {
            all,
            quiet,
            no_trunc,
        }
        | Command::Container(ContainerCommand::Ls {
            all,
            quiet,
            no_trunc,
        }) => {
            drop(out);
            containers::ps(&store, all, quiet, no_trunc)?;
        }
        Command::Logs { follow, container } => {
            drop(out);
            containers::logs(&store, follow, &container)?;
        }
        Command::Stop { time, containers } => containers::stop(&store, time, &containers)?,
        Command::Kill { signal, containers } => containers::kill(&store, &signal, &containers)?,
        Command::Commit {
            message,
            container,
            name,
        } => {
            drop(out);
            containers::commit(&store, &container, name.as_deref(), message.as_deref())?;
        }
        Command::Start { containers } => containers::start(&store, &containers)?,
        Command::Container(ContainerCommand::Rm { force, containers }) => {
            containers::rm(&store, force, &containers)?
        }
        Command::Login { .. } | Command::Logout { .. } | Command::ContainerMonitor { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(())
}
