//! `build`'s edge: docker's flags to [`sangja_image::build::Options`], the Dockerfile
//! and context read (a directory, or `-`: a tar context or a lone Dockerfile on
//! stdin), `-q` printing only the image id, and what goes out besides the store
//! (`--output`, `--iidfile`, `--metadata-file`).

use anyhow::{bail, Context, Result};
use sangja_image::build::{self, progress::Mode};
use sangja_image::container::config::Network;
use sangja_image::container::runtime;
use sangja_image::layer::Root;
use sangja_image::reference::Reference;
use sangja_image::store::Store;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The Dockerfile (default CONTEXT/Dockerfile; '-' reads it from stdin).
    #[arg(short, long)]
    file: Option<PathBuf>,
    /// Name the image (NAME[:TAG]); may repeat.
    #[arg(short, long = "tag")]
    tag: Vec<String>,
    /// A build-time variable KEY=VALUE (KEY alone takes ours).
    #[arg(long)]
    build_arg: Vec<String>,
    /// Run every step again, ignoring the layer cache.
    #[arg(long)]
    no_cache: bool,
    /// Pull the base image even when the store has it.
    #[arg(long)]
    pull: bool,
    /// auto (a live view on a terminal), plain or quiet.
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// A label KEY=VALUE on the image; may repeat.
    #[arg(long)]
    label: Vec<String>,
    /// The network of RUN steps: none (loopback only, the default: there is no bridge
    /// networking yet) or host.
    #[arg(long, default_value = "none")]
    network: String,
    /// The OCI runtime that executes RUN steps (default: sangja beside sangja-image).
    #[arg(long, env = "SANGJA_IMAGE_RUNTIME")]
    runtime: Option<PathBuf>,
    /// Build only this stage (and the stages it needs); default the last one.
    #[arg(long)]
    target: Option<String>,
    /// Also write the image out: type=oci,dest=FILE.tar | type=docker,dest=FILE.tar |
    /// type=local,dest=DIR (the final root filesystem).
    #[arg(short, long)]
    output: Option<String>,
    /// Write the image id to this file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Write the build's result (config and manifest digests, names) as JSON here.
    #[arg(long)]
    metadata_file: Option<PathBuf>,
    /// A secret for RUN --mount=type=secret: id=ID,src=FILE (or env=VAR); may repeat.
    #[arg(long)]
    secret: Vec<String>,
    /// The target platform OS/ARCH[/VARIANT] (default this machine's): picks it from a
    /// base image's index and sets TARGETPLATFORM.
    #[arg(long)]
    platform: Option<String>,
    /// How many independent stages may run at once (default the CPU count).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    jobs: usize,
    /// The build context: a directory, or '-' for a tar (or a Dockerfile) on stdin.
    context: String,
}

/// Where `--output` goes.
enum Output {
    Oci(PathBuf),
    Docker(PathBuf),
    Local(PathBuf),
}

fn parse_output(s: &str) -> Result<Output> {
    let mut kind = None;
    let mut dest = None;
    for kv in s.split(',') {
        match kv.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", v)) if !v.is_empty() => dest = Some(PathBuf::from(v)),
            _ => bail!("--output {s:?}: {kv:?} is not type=... or dest=..."),
        }
    }
    let dest = dest.ok_or_else(|| anyhow::anyhow!("--output {s:?}: want dest=PATH"))?;
    Ok(match kind.as_deref() {
        Some("oci") => Output::Oci(dest),
        Some("docker") => Output::Docker(dest),
        Some("local") => Output::Local(dest),
        Some(t) => bail!("--output {s:?}: type {t:?}: want oci, docker or local"),
        None => bail!("--output {s:?}: want type=oci|docker|local"),
    })
}

/// Writes the built image to `out` (the store has it already).
fn write_output(store: &Store, id: &str, tags: &[Reference], out: &Output) -> Result<()> {
    use sangja_image::archive::{self, docker::SaveItem};
    let image = super::find(store, id)?;
    let items = [SaveItem {
        image,
        names: tags.to_vec(),
    }];
    match out {
        Output::Oci(dest) => {
            archive::write_output(Some(dest), |w| archive::oci::save(store, &items, w))
                .with_context(|| format!("--output type=oci,dest={}", dest.display()))?
        }
        Output::Docker(dest) => {
            archive::write_output(Some(dest), |w| archive::docker::save(store, &items, w))
                .with_context(|| format!("--output type=docker,dest={}", dest.display()))?
        }
        Output::Local(dest) => sangja_image::unpack::unpack(store, &items[0].image, dest)
            .with_context(|| format!("--output type=local,dest={}", dest.display()))?,
    }
    Ok(())
}

/// `--secret id=ID[,type=file|env][,src=FILE|,env=VAR]` as buildx takes it: the id
/// and the content (a file that cannot be read fails here, naming the flag).
fn parse_secret(s: &str) -> Result<(String, Vec<u8>)> {
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for kv in s.split(',') {
        match kv.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(v.to_string()),
            Some(("env", v)) => env = Some(v.to_string()),
            Some(("type", v)) => kind = Some(v.to_string()),
            _ => bail!("--secret {s:?}: {kv:?} is not id=, src=, env= or type="),
        }
    }
    let id = id
        .or_else(|| src.clone().or(env.clone()))
        .filter(|i| !i.is_empty())
        .ok_or_else(|| anyhow::anyhow!("--secret {s:?}: want id=ID"))?;
    match (kind.as_deref(), src, env) {
        (None | Some("file"), Some(f), _) => {
            let data = std::fs::read(&f).with_context(|| format!("--secret {s:?}: {f}"))?;
            Ok((id, data))
        }
        (None | Some("env"), None, Some(var)) | (Some("env"), Some(var), None) => {
            let v = std::env::var(&var).with_context(|| {
                format!("--secret {s:?}: the environment variable {var} is not set")
            })?;
            Ok((id, v.into_bytes()))
        }
        (Some(k), ..) if k != "file" && k != "env" => {
            bail!("--secret {s:?}: type {k:?}: want file or env")
        }
        _ => bail!("--secret {s:?}: want src=FILE or env=VAR"),
    }
}

fn key_value(flag: &str, s: &str, from_env: bool) -> Result<Option<(String, String)>> {
    match s.split_once('=') {
        Some(("", _)) => bail!("{flag} {s:?}: want KEY=VALUE"),
        Some((k, v)) => Ok(Some((k.to_string(), v.to_string()))),
        None if from_env => Ok(std::env::var(s).ok().map(|v| (s.to_string(), v))),
        None => bail!("{flag} {s:?}: want KEY=VALUE"),
    }
}

/// A context that came on stdin as a tar, unpacked; removed on drop.
struct TempContext(PathBuf);

impl Drop for TempContext {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn looks_like_tar(data: &[u8]) -> bool {
    let Ok((mut d, _)) =
        sangja_image::layer::compression::Decompressor::new(std::io::BufReader::new(data))
    else {
        return false;
    };
    let mut head = [0u8; 512];
    d.read_exact(&mut head).is_ok() && &head[257..262] == b"ustar"
}

pub fn build(store: &Store, a: BuildArgs) -> Result<()> {
    let mode: Mode = if a.quiet {
        Mode::Quiet
    } else {
        a.progress.parse().map_err(anyhow::Error::msg)?
    };
    let network = match a.network.as_str() {
        "none" | "default" => Network::None,
        "host" => Network::Host,
        n => bail!("--network {n:?}: want none or host (bridge networking is not implemented)"),
    };
    let mut build_args = Vec::new();
    for b in &a.build_arg {
        build_args.extend(key_value("--build-arg", b, true)?);
    }
    // As buildx: SOURCE_DATE_EPOCH in the environment is a build arg (one given
    // with --build-arg wins), so `ARG SOURCE_DATE_EPOCH` sees it either way.
    if !build_args.iter().any(|(k, _)| k == "SOURCE_DATE_EPOCH") {
        if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
            build_args.push(("SOURCE_DATE_EPOCH".into(), v));
        }
    }
    let mut labels = Vec::new();
    for l in &a.label {
        labels.extend(key_value("--label", l, false)?);
    }
    let tags = a
        .tag
        .iter()
        .map(|t| {
            let r: Reference = t.parse().with_context(|| format!("-t {t:?}"))?;
            if r.digest().is_some() {
                bail!("-t {t:?}: a tag cannot name a digest");
            }
            Ok(r.with_default_tag())
        })
        .collect::<Result<Vec<_>>>()?;
    let runtime = runtime::locate(a.runtime.as_deref())?;
    let secrets = a
        .secret
        .iter()
        .map(|s| parse_secret(s))
        .collect::<Result<Vec<_>>>()?;
    let output = a.output.as_deref().map(parse_output).transpose()?;

    let mut _temp = None;
    let mut stdin_dockerfile = None;
    let context = if a.context == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading the build context from stdin")?;
        if looks_like_tar(&data) {
            let dir =
                std::env::temp_dir().join(sangja_image::store::unique_name("sangja-build-context"));
            std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let t = TempContext(dir.clone());
            let root = Root::open(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            let (d, _) = sangja_image::layer::compression::Decompressor::new(
                std::io::BufReader::new(&data[..]),
            )?;
            sangja_image::layer::extract::apply(&root, d)
                .context("unpacking the build context from stdin")?;
            _temp = Some(t);
            Some(dir)
        } else {
            stdin_dockerfile =
                Some(String::from_utf8(data).context("the Dockerfile on stdin is not UTF-8")?);
            None
        }
    } else {
        Some(PathBuf::from(&a.context))
    };
    if let Some(c) = &context {
        let meta = std::fs::metadata(c)
            .map_err(|_| anyhow::anyhow!("unable to prepare context: path {:?} not found", c))?;
        if !meta.is_dir() {
            bail!(
                "unable to prepare context: context must be a directory: {}",
                c.display()
            );
        }
    }
    let (dockerfile, name) = match (&a.file, stdin_dockerfile) {
        (Some(f), _) if f == Path::new("-") => {
            if a.context == "-" {
                bail!("-f - and a context on stdin: only one can read stdin");
            }
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("reading the Dockerfile from stdin")?;
            (t, "Dockerfile".to_string())
        }
        (Some(f), _) => (
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the Dockerfile {}", f.display()))?,
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Dockerfile".into()),
        ),
        (None, Some(t)) => (t, "Dockerfile".to_string()),
        (None, None) => {
            let f = context.as_ref().expect("a context").join("Dockerfile");
            (
                std::fs::read_to_string(&f)
                    .with_context(|| format!("reading the Dockerfile {}", f.display()))?,
                "Dockerfile".to_string(),
            )
        }
    };
    let opts = build::Options {
        dockerfile,
        dockerfile_name: name,
        context,
        tags,
        build_args,
        labels,
        no_cache: a.no_cache,
        pull: a.pull,
        network,
        runtime,
        progress: mode,
        target: a.target,
        secrets,
        platform: a.platform,
        jobs: a.jobs,
    };
    let pull = |image: &str,
                platform: &sangja_image::registry::platform::Platform|
     -> std::result::Result<(), String> {
        super::remote::pull_platform(store, image, Some(platform.clone()))
            .map_err(|e| format!("{e:#}"))
    };
    let built = build::build(store, &opts, &pull)?;
    for w in &built.warnings {
        eprintln!("{w}");
    }
    if let Some(out) = &output {
        write_output(store, &built.id.to_string(), &opts.tags, out)?;
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, built.id.to_string())
            .with_context(|| format!("--iidfile {}", f.display()))?;
    }
    if let Some(f) = &a.metadata_file {
        let names: Vec<String> = opts.tags.iter().map(|t| t.to_string()).collect();
        let meta = serde_json::json!({
            "containerimage.config.digest": built.id.to_string(),
            "containerimage.digest": built.manifest.to_string(),
            "image.name": names.join(","),
        });
        std::fs::write(
            f,
            serde_json::to_vec_pretty(&meta).expect("json serialises"),
        )
        .with_context(|| format!("--metadata-file {}", f.display()))?;
    }
    if a.quiet {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", built.id)?;
    }
    Ok(())
}
