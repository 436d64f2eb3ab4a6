//! sangja-image's command-line edges, one file per verb group, each a thin translation
//! of arguments into library calls and of results into docker's output: `images.rs`
//! (images, tag, rm, prune, inspect, history), `archives.rs` (save, load, import),
//! `layout.rs` (unpack, bundle, fsck), `remote.rs` (pull, push, login, logout),
//! `containers.rs` (run, create, start, ps, logs, stop, kill, rm, exec, pause, unpause,
//! rename, top, wait, cp, export, commit), `inspect.rs` (container or image, as docker
//! resolves a name), `build.rs`, `networks.rs` (network create, ls, inspect, rm, prune;
//! port), `volumes.rs`. The grammar is docker's: the `image` and `container`
//! groups and the top-level shortcuts (`ps`, `images`, `rmi`, `rm` for containers).

pub mod archives;
pub mod build;
pub mod containers;
pub mod images;
pub mod inspect;
pub mod layout;
pub mod networks;
pub mod output;
pub mod remote;
pub mod search;
pub mod stats;
pub mod volumes;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use sangja_image::bundle;
use sangja_image::image::{self, Image};
use sangja_image::store::{Store, DEFAULT_STORE};
use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Parser)]
#[command(
    name = "sangja-image",
    version,
    about = "Images and containers for sangja, with docker's command line: images, pull, push, build, run, exec, cp, ..."
)]
pub struct Cli {
    /// The OCI image layout directory holding the images [default: /var/lib/sangja/images;
    /// without root $XDG_DATA_HOME/sangja-image, XDG's default ~/.local/share].
    #[arg(long, global = true, env = "SANGJA_IMAGE_STORE")]
    pub store: Option<PathBuf>,
    /// The OCI runtime's state directory (its --root) [default: the store's
    /// containers/.state; without root $XDG_RUNTIME_DIR/sangja-image].
    #[arg(
        long,
        global = true,
        env = "SANGJA_IMAGE_RUNROOT",
        visible_alias = "root"
    )]
    pub runroot: Option<PathBuf>,
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

/// The verbs with the same name at the top level and in the `image` group.
#[derive(Subcommand)]
pub enum ImageVerb {
    /// Give an image another name.
    Tag { source: String, target: String },
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
}

/// `images` / `image ls`.
#[derive(clap::Args)]
pub struct ImagesArgs {
    /// table, json, a Go template ('{{.Repository}}:{{.Tag}}') or 'table TEMPLATE'.
    #[arg(long)]
    pub format: Option<String>,
    /// Only image ids.
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long)]
    pub no_trunc: bool,
    /// Show each image's manifest digest.
    #[arg(long)]
    pub digests: bool,
    /// Every image (the store keeps no intermediate images: the same list).
    #[arg(short, long)]
    pub all: bool,
    /// KEY=VALUE: dangling, reference, label, before, since.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Only images of this repository (REPOSITORY[:TAG], wildcards allowed).
    pub reference: Option<String>,
}

/// `rmi` / `image rm`.
#[derive(clap::Args)]
pub struct RmiArgs {
    /// Delete an image id even when several names share it.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `inspect` and the groups' `inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// A Go template, e.g. '{{.Config.Env}}' or '{{json .Config}}'; `json` for the array.
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `inspect --type`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum InspectType {
    Container,
    Image,
}

#[derive(Subcommand)]
pub enum Command {
    #[command(flatten)]
    Image(ImageVerb),
    #[command(flatten)]
    Container(containers::ContainerVerb),
    /// List images.
    Images(ImagesArgs),
    /// Untag or delete images; blobs nothing else uses are removed.
    Rmi(RmiArgs),
    /// Remove containers (images: `rmi`).
    Rm(containers::RmArgs),
    /// List containers (running ones without -a).
    Ps(containers::PsArgs),
    /// Show containers or images as docker inspect does (a container name first).
    Inspect {
        /// Only this kind of object.
        #[arg(long = "type", value_enum)]
        kind: Option<InspectType>,
        #[command(flatten)]
        args: InspectArgs,
    },
    /// Remove every blob no image uses.
    Prune,
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
    /// Image commands (as `docker image`).
    #[command(name = "image", subcommand)]
    ImageGroup(ImageCommand),
    /// Container commands (as `docker container`).
    #[command(name = "container", subcommand)]
    ContainerGroup(ContainerCommand),
    /// Volume commands (as `docker volume`).
    #[command(subcommand)]
    Volume(volumes::VolumeCommand),
    /// Network commands (as `docker network`): CNI bridge networks.
    #[command(subcommand)]
    Network(networks::NetworkCommand),
    /// List a container's published ports.
    Port(PortArgs),
    /// Find repositories on a registry (its catalog API).
    Search(search::SearchArgs),
    /// A detached container's monitor (started by `run -d` and `start`).
    #[command(name = "container-monitor", hide = true)]
    ContainerMonitor {
        /// The container's owner lock, inherited.
        #[arg(long)]
        owner_fd: i32,
        id: String,
    },
    /// A container's health checker (started beside it by its monitor or run).
    #[command(name = "container-health", hide = true)]
    ContainerHealth { id: String },
    /// Rootless work as the container's ids, in a user namespace its parent maps
    /// (sangja_image::rootless::userns).
    #[command(name = "userns-helper", hide = true)]
    UsernsHelper {
        #[arg(long)]
        ready_fd: i32,
        #[arg(long)]
        go_fd: i32,
        #[command(subcommand)]
        op: HelperOp,
    },
}

#[derive(Subcommand)]
pub enum HelperOp {
    /// Applies an image's layers onto an existing directory.
    Unpack { image: String, dir: PathBuf },
    /// Removes a directory tree.
    Remove { dir: PathBuf },
}

/// What the global flags say about where containers' runtime state goes.
struct StatePlace {
    runroot: Option<PathBuf>,
    store_given: bool,
}

static STATE_PLACE: OnceLock<StatePlace> = OnceLock::new();

/// The runtime's `--root` for new containers: `--runroot`; else, rootless,
/// `$XDG_RUNTIME_DIR/sangja-image` (the store's own when `--store` is given and
/// XDG_RUNTIME_DIR is not set); else `None`, the store's `containers/.state`.
pub(crate) fn state_root() -> Result<Option<PathBuf>> {
    let place = STATE_PLACE.get().expect("run() sets the state place");
    if let Some(r) = &place.runroot {
        return Ok(Some(std::path::absolute(r).unwrap_or_else(|_| r.clone())));
    }
    if !sangja_image::rootless::active() {
        return Ok(None);
    }
    match sangja_image::rootless::runroot() {
        Ok(dir) => Ok(Some(dir)),
        Err(sangja_image::rootless::RootlessError::NoVar { .. }) if place.store_given => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `--store`, else the default for root or for a rootless caller.
fn store_path(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None if sangja_image::rootless::active() => Ok(sangja_image::rootless::default_store()?),
        None => Ok(PathBuf::from(DEFAULT_STORE)),
    }
}

/// The hidden `userns-helper`: into the namespace first (a single thread still), then
/// the work.
fn userns_helper(store: Option<PathBuf>, ready_fd: i32, go_fd: i32, op: HelperOp) -> Result<()> {
    sangja_image::rootless::userns::enter(ready_fd, go_fd)?;
    match op {
        HelperOp::Unpack { image, dir } => {
            let path = store_path(store)?;
            let store = Store::open(&path)
                .with_context(|| format!("opening image store {}", path.display()))?;
            let img = image::find(&store, &image)?;
            sangja_image::unpack::unpack_into(&store, &img, &dir)?;
        }
        HelperOp::Remove { dir } => {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum ImageCommand {
    #[command(flatten)]
    Verb(ImageVerb),
    /// List images.
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Untag or delete images.
    #[command(visible_alias = "rmi", visible_alias = "remove")]
    Rm(RmiArgs),
    /// Show images as `docker image inspect` does.
    Inspect(InspectArgs),
    /// Remove every blob no image uses.
    Prune,
}

/// `port` / `container port`.
#[derive(clap::Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]: only this one.
    pub private_port: Option<String>,
}

#[derive(Subcommand)]
pub enum ContainerCommand {
    #[command(flatten)]
    Verb(containers::ContainerVerb),
    /// List containers (as `ps`).
    #[command(visible_alias = "list", visible_alias = "ps")]
    Ls(containers::PsArgs),
    /// Remove containers: runtime state, snapshot, bundle and record.
    #[command(visible_alias = "remove")]
    Rm(containers::RmArgs),
    /// Show containers as `docker container inspect` does.
    Inspect(InspectArgs),
    /// Remove every stopped container.
    Prune {
        /// Do not ask.
        #[arg(short, long)]
        force: bool,
    },
    /// List a container's published ports.
    Port(PortArgs),
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

/// Runs the command; returns the process exit status (docker's: 0, 1 for most failures,
/// 125 for run/create, the container's or exec'd process's own status).
pub fn run(cli: Cli) -> Result<i32> {
    if let Command::UsernsHelper {
        ready_fd,
        go_fd,
        op,
    } = cli.command
    {
        userns_helper(cli.store, ready_fd, go_fd, op)?;
        return Ok(0);
    }
    let _ = STATE_PLACE.set(StatePlace {
        runroot: cli.runroot.clone(),
        store_given: cli.store.is_some(),
    });
    let store_path = store_path(cli.store)?;
    let command = match cli.command {
        Command::Login {
            username,
            password,
            password_stdin,
            net,
            registry,
        } => {
            remote::login(username, password, password_stdin, &net, registry)?;
            return Ok(0);
        }
        Command::Logout { registry } => {
            remote::logout(registry)?;
            return Ok(0);
        }
        Command::ContainerMonitor { owner_fd, id } => std::process::exit(
            sangja_image::container::monitor::main(&store_path, &id, owner_fd),
        ),
        Command::ContainerHealth { id } => {
            std::process::exit(sangja_image::container::health::main(&store_path, &id))
        }
        // Refused before the store is touched: each step is an overlay of the layers
        // before it, and a caller without root cannot mount one on the host.
        Command::Build(_) if sangja_image::rootless::active() => bail!(
            "build: not available rootless: each build step is an overlay mount over the \
             previous layers, which needs root on the host; build as root (or elsewhere) \
             and `load` or `pull` the image"
        ),
        other => other,
    };
    let store = Store::open(&store_path)
        .with_context(|| format!("opening image store {}", store_path.display()))?;
    let containers = sangja_image::container::record::Containers::new(store.root());
    sangja_image::container::lifecycle::sweep_interrupted_removals(&containers);
    sangja_image::container::run::sweep_abandoned_creations(&containers);
    let mut out = std::io::stdout().lock();
    match command {
        Command::Image(v) | Command::ImageGroup(ImageCommand::Verb(v)) => {
            drop(out);
            images::verb(&store, v)?;
        }
        Command::Container(v) | Command::ContainerGroup(ContainerCommand::Verb(v)) => {
            drop(out);
            return containers::verb(&store, v);
        }
        Command::Images(a) | Command::ImageGroup(ImageCommand::Ls(a)) => {
            images::images(&store, &mut out, &a)?
        }
        Command::Rmi(a) | Command::ImageGroup(ImageCommand::Rm(a)) => {
            images::rm(&store, &mut out, a.force, a.images)?
        }
        Command::Prune | Command::ImageGroup(ImageCommand::Prune) => {
            images::prune(&store, &mut out)?
        }
        Command::ImageGroup(ImageCommand::Inspect(a)) => {
            images::inspect(&store, &mut out, a.format, a.names)?
        }
        Command::Inspect { kind, args } => {
            drop(out);
            return inspect::inspect(&store, kind, args);
        }
        Command::ContainerGroup(ContainerCommand::Inspect(a)) => {
            drop(out);
            return inspect::inspect(&store, Some(InspectType::Container), a);
        }
        Command::Rm(a) | Command::ContainerGroup(ContainerCommand::Rm(a)) => {
            drop(out);
            return containers::rm(&store, &a);
        }
        Command::Ps(a) | Command::ContainerGroup(ContainerCommand::Ls(a)) => {
            drop(out);
            containers::ps(&store, &a)?;
        }
        Command::ContainerGroup(ContainerCommand::Prune { force }) => {
            drop(out);
            containers::prune(&store, force)?;
        }
        Command::Volume(v) => {
            drop(out);
            return volumes::volume(&store, v);
        }
        Command::Network(v) => {
            drop(out);
            return networks::network(&store, v);
        }
        Command::Port(a) | Command::ContainerGroup(ContainerCommand::Port(a)) => {
            drop(out);
            return networks::port(&store, &a.container, a.private_port.as_deref());
        }
        Command::Unpack { image, dir } => layout::unpack(&store, &image, &dir)?,
        Command::Bundle {
            seccomp_profile,
            no_seccomp,
            image,
            dir,
            args,
        } => layout::bundle(&store, seccomp_profile, no_seccomp, &image, &dir, args)?,
        Command::Fsck => layout::fsck(&store, &mut out)?,
        Command::Search(a) => search::search(&a)?,
        Command::Build(args) => {
            drop(out);
            build::build(&store, *args)?;
        }
        Command::Login { .. }
        | Command::Logout { .. }
        | Command::ContainerMonitor { .. }
        | Command::ContainerHealth { .. }
        | Command::UsernsHelper { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(0)
}
