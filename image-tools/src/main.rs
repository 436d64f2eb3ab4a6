//! `sangja-image`: docker-like image commands over an OCI image layout store.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use sangja_image::archive::{self, docker::SaveItem};
use sangja_image::bundle;
use sangja_image::image::{self, Image};
use sangja_image::import;
use sangja_image::inspect;
use sangja_image::listing;
use sangja_image::reference::Reference;
use sangja_image::remove;
use sangja_image::store::{self, Store, DEFAULT_STORE};
use sangja_image::template::Template;
use sangja_image::unpack;
use std::io::Write;
use std::path::PathBuf;

mod build_cli;
mod containers_cli;
mod remote;

#[derive(Parser)]
#[command(
    name = "sangja-image",
    version,
    about = "Images for sangja: store, inspect, save, load, import, unpack, bundle"
)]
struct Cli {
    /// The OCI image layout directory holding the images.
    #[arg(long, global = true, env = "SANGJA_IMAGE_STORE", default_value = DEFAULT_STORE)]
    store: PathBuf,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ArchiveFormat {
    DockerArchive,
    OciArchive,
}

#[derive(Subcommand)]
enum Command {
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
    Build(Box<build_cli::BuildArgs>),
    /// Run a command in a new container of an image (pulled if missing).
    Run(Box<containers_cli::RunArgs>),
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
enum ContainerCommand {
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
struct NetArgs {
    /// Allow plain http to this registry when TLS fails.
    #[arg(long)]
    insecure: bool,
    /// A directory with the registry's CA (*.crt) and client certificate (*.cert, *.key).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(cli) {
        eprintln!("sangja-image: {e:#}");
        std::process::exit(1);
    }
}

fn find(store: &Store, query: &str) -> Result<Image> {
    Ok(image::find(store, query)?)
}

/// The unpacked snapshots of images that are gone and no container uses.
fn prune_snapshots(store: &Store) -> Result<()> {
    let containers = sangja_image::container::record::Containers::new(store.root());
    sangja_image::container::snapshot::prune(store, &containers)
        .context("removing unused container snapshots")?;
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
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
    let mut out = std::io::stdout().lock();
    match command {
        Command::Images {
            format,
            quiet,
            no_trunc,
        } => {
            let _lock = store.lock_shared()?;
            let rows = listing::image_rows(&image::list(&store)?);
            if quiet {
                let mut seen = std::collections::HashSet::new();
                for r in rows.iter().filter(|r| seen.insert(r.id.clone())) {
                    writeln!(
                        out,
                        "{}",
                        if no_trunc {
                            r.id.clone()
                        } else {
                            r.id[7..19].to_string()
                        }
                    )?;
                }
            } else {
                match format {
                    ListFormat::Table => write!(out, "{}", listing::images_table(&rows, no_trunc))?,
                    ListFormat::Json => {
                        for r in &rows {
                            writeln!(out, "{}", serde_json::to_string(r)?)?;
                        }
                    }
                }
            }
        }
        Command::Tag { source, target } => {
            let image = find(&store, &source)?;
            let name: Reference = target
                .parse::<Reference>()
                .context("tag target")?
                .with_default_tag();
            if name.digest().is_some() {
                bail!("tag target {target:?}: a tag cannot name a digest");
            }
            let _lock = store.lock_shared()?;
            store.update_index(|entries| {
                // The new name keeps the manifest's media type (a pulled Docker manifest
                // stays one).
                let media_type = entries
                    .iter()
                    .find(|e| e.digest == image.manifest_digest)
                    .map(|e| e.media_type.clone())
                    .unwrap_or_else(|| store::MANIFEST_MEDIA_TYPE.to_string());
                store::set_name(
                    entries,
                    &name,
                    &image.manifest_digest,
                    image.manifest_size,
                    &media_type,
                );
                Ok(())
            })?;
        }
        Command::Rm { force, images } => {
            for q in images {
                let report =
                    remove::remove(&store, &q, force).with_context(|| format!("removing {q}"))?;
                for n in &report.untagged {
                    writeln!(out, "Untagged: {}", n.familiar())?;
                }
                for d in &report.deleted {
                    writeln!(out, "Deleted: {d}")?;
                }
            }
            prune_snapshots(&store)?;
        }
        Command::Prune => {
            let report = remove::prune(&store)?;
            prune_snapshots(&store)?;
            for d in &report.removed {
                writeln!(out, "deleted: {d}")?;
            }
            writeln!(
                out,
                "Total reclaimed space: {}",
                sangja_image::humanize::size(report.bytes)
            )?;
        }
        Command::Inspect { format, images } => {
            let _lock = store.lock_shared()?;
            let template = format.as_deref().map(Template::parse).transpose()?;
            let mut docs = Vec::new();
            for q in &images {
                docs.push(inspect::inspect(&find(&store, q)?));
            }
            match template {
                Some(t) => {
                    for d in &docs {
                        writeln!(out, "{}", t.render(d)?)?;
                    }
                }
                None => writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?,
            }
        }
        Command::History {
            format,
            no_trunc,
            image,
        } => {
            let _lock = store.lock_shared()?;
            let rows = inspect::history(&find(&store, &image)?);
            match format {
                ListFormat::Table => write!(out, "{}", listing::history_table(&rows, no_trunc))?,
                ListFormat::Json => {
                    for r in &rows {
                        writeln!(out, "{}", serde_json::to_string(r)?)?;
                    }
                }
            }
        }
        Command::Save {
            output,
            format,
            images,
        } => {
            let _lock = store.lock_shared()?;
            let mut items: Vec<SaveItem> = Vec::new();
            for q in &images {
                let image = find(&store, q)?;
                let name = q
                    .parse::<Reference>()
                    .ok()
                    .map(Reference::with_default_tag)
                    .filter(|r| {
                        r.tag().is_some() && r.digest().is_none() && image.names.contains(r)
                    });
                match items
                    .iter_mut()
                    .find(|i| i.image.manifest_digest == image.manifest_digest)
                {
                    Some(item) => item.names.extend(name.filter(|n| !item.names.contains(n))),
                    None => items.push(SaveItem {
                        image,
                        names: name.into_iter().collect(),
                    }),
                }
            }
            drop(out);
            archive::write_output(output.as_deref(), |w| match format {
                ArchiveFormat::DockerArchive => archive::docker::save(&store, &items, w),
                ArchiveFormat::OciArchive => archive::oci::save(&store, &items, w),
            })?;
            return Ok(());
        }
        Command::Load { input, quiet } => {
            let loaded = match &input {
                Some(p) => {
                    let f = std::fs::File::open(p)
                        .with_context(|| format!("opening archive {}", p.display()))?;
                    archive::load(&store, f)
                }
                None => archive::load(&store, std::io::stdin().lock()),
            }
            .with_context(|| {
                format!(
                    "loading {}",
                    input
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "stdin".into())
                )
            })?;
            if !quiet {
                for l in &loaded {
                    if l.names.is_empty() {
                        writeln!(out, "Loaded image ID: {}", l.id)?;
                    }
                    for n in &l.names {
                        writeln!(out, "Loaded image: {}", n.familiar())?;
                    }
                }
            }
        }
        Command::Import {
            change,
            message,
            source,
            name,
        } => {
            let name = name
                .map(|n| n.parse::<Reference>().context("import name"))
                .transpose()?;
            let path = PathBuf::from(&source);
            let src = if source == "-" {
                import::Source::Stdin
            } else {
                import::Source::Path(&path)
            };
            let opts = import::Options {
                changes: change,
                message,
            };
            let loaded = import::import(&store, src, name, &opts)
                .with_context(|| format!("importing {source}"))?;
            writeln!(out, "{}", loaded.id)?;
        }
        Command::Unpack { image, dir } => {
            let _lock = store.lock_shared()?;
            let img = find(&store, &image)?;
            unpack::unpack(&store, &img, &dir)
                .with_context(|| format!("unpacking {image} into {}", dir.display()))?;
        }
        Command::Bundle {
            seccomp_profile,
            no_seccomp,
            image,
            dir,
            args,
        } => {
            let _lock = store.lock_shared()?;
            let img = find(&store, &image)?;
            let opts = bundle::Options {
                args,
                seccomp_profile: if no_seccomp {
                    None
                } else {
                    Some(seccomp_profile)
                },
            };
            bundle::bundle(&store, &img, &dir, &opts)
                .with_context(|| format!("making a bundle of {image} in {}", dir.display()))?;
        }
        Command::Fsck => {
            let _lock = store.lock_shared()?;
            let report = store.fsck()?;
            for p in &report.problems {
                writeln!(out, "{p}")?;
            }
            if !report.ok() {
                bail!(
                    "{} problem(s) in {}",
                    report.problems.len(),
                    store.root().display()
                );
            }
            writeln!(out, "ok: {} blobs verified", report.blobs_checked)?;
        }
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
            build_cli::build(&store, *args)?;
        }
        Command::Run(args) => {
            drop(out);
            let code = containers_cli::run(&store, *args)?;
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
            containers_cli::ps(&store, all, quiet, no_trunc)?;
        }
        Command::Logs { follow, container } => {
            drop(out);
            containers_cli::logs(&store, follow, &container)?;
        }
        Command::Stop { time, containers } => containers_cli::stop(&store, time, &containers)?,
        Command::Kill { signal, containers } => containers_cli::kill(&store, &signal, &containers)?,
        Command::Commit {
            message,
            container,
            name,
        } => {
            drop(out);
            containers_cli::commit(&store, &container, name.as_deref(), message.as_deref())?;
        }
        Command::Start { containers } => containers_cli::start(&store, &containers)?,
        Command::Container(ContainerCommand::Rm { force, containers }) => {
            containers_cli::rm(&store, force, &containers)?
        }
        Command::Login { .. } | Command::Logout { .. } | Command::ContainerMonitor { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(())
}
