//! `build`: a Dockerfile executed into an image in the store, stage by stage (only the
//! stages the target needs, in order; [`crate::dockerfile::stages`]). Metadata
//! instructions change the config; RUN, COPY, ADD and WORKDIR each run on an overlay of
//! the layers so far ([`rootfs`]) and their upper dir becomes the step's layer (RUN in a
//! real container of the OCI runtime). Every layer is staged in one store transaction,
//! committed with the `-t` names only when the whole build succeeded; on any failure the
//! transaction and the workspace (container, mounts, upper dirs) are dropped and no
//! name moves. Steps are cached by [`cache`].

pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
pub mod mounts;
pub mod platform;
pub mod progress;
pub mod rootfs;

use crate::container::config::Network;
use crate::digest::{Digest, Hasher};
use crate::dockerfile::instruction::{self, Command, CopyArgs, Instruction};
use crate::dockerfile::parse::{self, RawInstruction};
use crate::dockerfile::stages::{self, Plan, Source};
use crate::dockerfile::{self as df, ParseError};
use crate::image::{self, Image};
use crate::layer::pack;
use crate::layer::Root;
use crate::reference::Reference;
use crate::registry::platform::Platform;
use crate::store::{CommitImage, Store, Txn, MANIFEST_MEDIA_TYPE};
use config::{History, ImageConfig};
use context::Context;
use progress::{Progress, Step};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// The ARGs docker predefines: usable without an ARG line, kept out of the history
/// and the cache key.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A failure of the instruction at `file:line`.
    #[error("{file}:{line}: {instruction}: {cause}")]
    At {
        file: String,
        line: usize,
        instruction: String,
        // Shown in the message, so not the error's source (`{:#}` would say it twice).
        cause: Box<BuildError>,
    },
    #[error("{0}")]
    Step(String),
    #[error("{0} (not implemented yet)")]
    Unsupported(String),
    #[error("process {command:?} did not complete successfully: exit code: {code}")]
    RunFailed { command: String, code: i32 },
    #[error(transparent)]
    Context(#[from] context::ContextError),
    #[error(transparent)]
    Copy(#[from] copy::CopyError),
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Snapshot(Box<crate::container::snapshot::SnapshotError>),
    #[error(transparent)]
    Runtime(#[from] crate::container::runtime::RuntimeError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Pack(#[from] pack::PackError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error("the build was interrupted")]
    Interrupted,
    /// A stage stopped because another one running with it failed.
    #[error("stopped: another stage failed")]
    Cancelled,
}

fn step_err(m: impl Into<String>) -> BuildError {
    BuildError::Step(m.into())
}

/// Pulls a missing base image for a platform (the caller knows the registries);
/// stages running at once may call it together.
pub type Pull<'a> = &'a (dyn Fn(&str, &Platform) -> Result<(), String> + Sync);

pub struct Options {
    /// The Dockerfile's text and its name in messages.
    pub dockerfile: String,
    pub dockerfile_name: String,
    /// `None`: no context (the Dockerfile came on stdin).
    pub context: Option<PathBuf>,
    pub tags: Vec<Reference>,
    pub build_args: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub no_cache: bool,
    pub pull: bool,
    pub network: Network,
    pub runtime: PathBuf,
    pub progress: progress::Mode,
    /// `--target`: the stage to build (default the last one).
    pub target: Option<String>,
    /// `--secret id=ID,src=FILE`: id and content, for `RUN --mount=type=secret`.
    pub secrets: Vec<(String, Vec<u8>)>,
    /// `--platform`: the target platform (default this machine's).
    pub platform: Option<String>,
    /// `--jobs`: how many independent stages may run at once (0: the CPU count).
    pub jobs: usize,
}

pub struct Built {
    pub id: Digest,
    /// The manifest's digest (the image's digest in `--metadata-file`).
    pub manifest: Digest,
    pub warnings: Vec<String>,
}

/// How a step counts and shows: `[i/n] INSTRUCTION`.
fn is_step(keyword: &str) -> bool {
    matches!(keyword, "FROM" | "RUN" | "COPY" | "ADD" | "WORKDIR")
}

fn at<'a>(file: &str, ins: &'a RawInstruction) -> impl FnOnce(BuildError) -> BuildError + 'a {
    let file = file.to_string();
    move |e| match e {
        e @ BuildError::At { .. } | e @ BuildError::Parse(_) => e,
        e => BuildError::At {
            file,
            line: ins.line,
            instruction: ins.original.clone(),
            cause: Box::new(e),
        },
    }
}

/// `--platform`, default this machine's.
fn target_platform(opts: &Options) -> Result<Platform, BuildError> {
    match &opts.platform {
        None => Ok(Platform::host()),
        Some(p) if p.contains(',') => Err(step_err(format!(
            "--platform {p}: one platform at a time (a multi-platform build is not implemented)"
        ))),
        Some(p) => p
            .parse()
            .map_err(|e| step_err(format!("--platform {p}: {e}"))),
    }
}

/// Parses the Dockerfile, checks every instruction and plans the stages before anything
/// runs.
fn check(opts: &Options) -> Result<(parse::Dockerfile, Plan), BuildError> {
    let dockerfile = df::parse(&opts.dockerfile, &opts.dockerfile_name)?;
    let file = &dockerfile.file;
    if dockerfile.instructions.is_empty() {
        return Err(step_err(format!(
            "{file}: the Dockerfile has no instructions"
        )));
    }
    let mut froms = 0;
    for ins in &dockerfile.instructions {
        let err = |m: String| ParseError {
            file: file.clone(),
            line: ins.line,
            message: m,
        };
        // Every variable set, so only the syntax can fail here.
        let typed =
            instruction::resolve(ins, dockerfile.escape, &mut |_| Some("1".into())).map_err(err)?;
        match &typed {
            Instruction::From { .. } => froms += 1,
            Instruction::Arg(_) => {}
            _ if froms == 0 => return Err(err("no build stage in current context".into()).into()),
            Instruction::Run {
                mounts,
                security,
                network,
                ..
            } => {
                // One with variables is checked once they have values, at its step.
                let raw = ins.flags.iter().filter(|f| f.name == "mount");
                for (m, f) in mounts.iter().zip(raw) {
                    if !f.value.as_deref().unwrap_or("").contains('$') {
                        df::mount::parse(m).map_err(|e| err(format!("RUN {e}")))?;
                    }
                }
                match security.as_deref() {
                    // BuildKit's default.
                    None | Some("sandbox") => {}
                    Some("insecure") => {
                        return Err(at(file, ins)(BuildError::Unsupported(
                            "RUN --security=insecure (a privileged RUN; BuildKit's security.insecure entitlement)".into(),
                        )))
                    }
                    Some(o) => {
                        return Err(err(format!(
                            "RUN --security={o}: want sandbox or insecure"
                        ))
                        .into())
                    }
                }
                if let Some(n) = network {
                    if !matches!(n.as_str(), "none" | "host" | "default") {
                        return Err(
                            err(format!("RUN --network={n}: want none, host or default")).into(),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if froms == 0 {
        return Err(step_err(format!("{file}: no FROM instruction")));
    }
    let auto = platform::automatic_args(&Platform::host(), &target_platform(opts)?);
    let plan = stages::plan(&dockerfile, &opts.build_args, &auto, opts.target.as_deref()).map_err(
        |e| match e.line {
            0 => step_err(format!("{}: {}", e.file, e.message)),
            _ => BuildError::Parse(e),
        },
    )?;
    for stage in &plan.stages {
        if let Some(p) = stage.platform.as_deref().filter(|p| !p.is_empty()) {
            if let Err(e) = p.parse::<Platform>() {
                let ins = &dockerfile.instructions[stage.from];
                return Err(at(file, ins)(step_err(format!("FROM --platform={p}: {e}"))));
            }
        }
    }
    Ok((dockerfile, plan))
}

/// A finished stage, kept for the stages after it (`FROM <stage>`, `COPY --from`).
struct Done {
    cfg: ImageConfig,
    layers: Vec<Value>,
    key: String,
    last_created: String,
    ws: rootfs::Workspace,
}

struct Builder<'a> {
    store: &'a Store,
    pull: Pull<'a>,
    opts: &'a Options,
    file: String,
    escape: char,
    progress: &'a Mutex<Progress>,
    ws: rootfs::Workspace,
    context: Option<&'a Context>,
    cfg: ImageConfig,
    /// Manifest descriptors of the layers so far.
    layers: Vec<Value>,
    /// Cache hits not yet on the workspace's stack.
    pending: Vec<cache::Layer>,
    key: String,
    last_created: String,
    /// SOURCE_DATE_EPOCH: the time of every new history entry and the config, and the
    /// latest mtime in a layer.
    epoch: Option<i64>,
    stage_args: Vec<(String, Option<String>)>,
    /// Global ARGs, visible in the stage once an ARG line names them again.
    global_defaults: Vec<(String, Option<String>)>,
    cmd_set: bool,
    consumed: Vec<String>,
    new_entries: Vec<(String, cache::Entry)>,
    total: usize,
    index: usize,
    plan: &'a Plan,
    /// `[name i/n]` in progress when there are several stages.
    stage_label: Option<String>,
    /// The stage being built.
    stage: usize,
    /// The stages finished before this one's wave (read only while stages run).
    done: &'a [Option<Done>],
    /// Set when a stage running at the same time failed: this one stops at its next
    /// instruction.
    cancel: &'a std::sync::atomic::AtomicBool,
    /// `--platform` (default this machine's).
    target_platform: Platform,
    /// The stage's: its `FROM --platform`, else the target's.
    stage_platform: Platform,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// SOURCE_DATE_EPOCH as an RFC 3339 time.
fn epoch_time(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `t` if it is not after `epoch`, else the epoch (what SOURCE_DATE_EPOCH does to every
/// time in the config).
fn clamp_time(t: &str, epoch: Option<i64>) -> String {
    let Some(e) = epoch else {
        return t.to_string();
    };
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) if d.timestamp() < e => t.to_string(),
        _ => epoch_time(e),
    }
}

/// SOURCE_DATE_EPOCH from the build args (buildx passes the environment's as one).
fn source_date_epoch(opts: &Options) -> Result<Option<i64>, BuildError> {
    let v = opts
        .build_args
        .iter()
        .rev()
        .find(|(k, _)| k == "SOURCE_DATE_EPOCH")
        .map(|(_, v)| v.clone());
    match v {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            step_err(format!(
                "SOURCE_DATE_EPOCH={v:?}: want a number of seconds since 1970"
            ))
        }),
    }
}

/// An in-memory image of the build so far, for the container config of a RUN step.
fn as_image(cfg: &ImageConfig) -> Result<Image, BuildError> {
    let mut raw = serde_json::to_value(cfg).expect("config serialises");
    // A RUN's writes into a declared VOLUME stay in the layer (as BuildKit): no
    // volume mounts in build containers.
    if let Some(c) = raw["config"].as_object_mut() {
        c.remove("Volumes");
    }
    let config =
        serde_json::from_value(raw.clone()).map_err(|e| step_err(format!("image config: {e}")))?;
    let zero = format!("sha256:{}", "0".repeat(64));
    let manifest = serde_json::from_value(json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": crate::manifest::CONFIG_MEDIA_TYPE, "digest": zero, "size": 0},
        "layers": [],
    }))
    .expect("manifest parses");
    Ok(Image {
        manifest_digest: Digest::of_bytes(b""),
        manifest_size: 0,
        manifest,
        config_digest: Digest::of_bytes(b"build"),
        config,
        config_raw: raw,
        names: Vec::new(),
    })
}

/// Go's `%q` of a string list, as docker writes CMD/ENTRYPOINT in the history.
fn go_list(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).expect("string serialises"))
        .collect();
    format!("[{}]", items.join(" "))
}

/// `/a/b` + `c` → `/a/b/c`; absolute paths replace; cleaned.
fn join_dir(base: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", if base.is_empty() { "/" } else { base })
    };
    let c = df::ignore::clean(&joined);
    if c == "." {
        "/".into()
    } else {
        format!("/{c}")
    }
}

/// Locks a mutex; a panicked holder's data is still good here (the panic ends the
/// build anyway).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the stages share while they run.
struct Shared<'a> {
    store: &'a Store,
    pull: Pull<'a>,
    opts: &'a Options,
    dockerfile: &'a parse::Dockerfile,
    plan: &'a Plan,
    context: Option<&'a Context>,
    progress: &'a Mutex<Progress>,
    epoch: Option<i64>,
    target_platform: Platform,
    cancel: &'a std::sync::atomic::AtomicBool,
}

impl<'a> Shared<'a> {
    /// A builder for one stage (or the export), on a new workspace.
    fn builder(&self, done: &'a [Option<Done>]) -> Result<Builder<'a>, BuildError> {
        Ok(Builder {
            store: self.store,
            pull: self.pull,
            opts: self.opts,
            file: self.dockerfile.file.clone(),
            escape: self.dockerfile.escape,
            progress: self.progress,
            ws: rootfs::Workspace::new(self.store)?,
            context: self.context,
            cfg: ImageConfig::scratch(),
            layers: Vec::new(),
            pending: Vec::new(),
            key: String::new(),
            last_created: now(),
            epoch: self.epoch,
            stage_args: Vec::new(),
            global_defaults: Vec::new(),
            cmd_set: false,
            consumed: Vec::new(),
            new_entries: Vec::new(),
            total: 0,
            index: 0,
            plan: self.plan,
            stage_label: None,
            stage: 0,
            done,
            cancel: self.cancel,
            target_platform: self.target_platform.clone(),
            stage_platform: Platform::host(),
        })
    }
}

/// A stage's result and what its builder gathered for the whole build.
type StageResult = (Done, Vec<String>, Vec<(String, cache::Entry)>);

/// `--jobs`, default the CPU count.
fn jobs(opts: &Options) -> usize {
    match opts.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Builds the stages the target needs in waves: every stage whose stages are built
/// runs, up to `--jobs` at once, each on its own thread and workspace.
fn run_stages(
    sh: &Shared<'_>,
    txn: &Mutex<Txn<'_>>,
    consumed: &mut Vec<String>,
    entries: &mut Vec<(String, cache::Entry)>,
) -> Result<Vec<Option<Done>>, BuildError> {
    let plan = sh.plan;
    let mut done: Vec<Option<Done>> = (0..plan.stages.len()).map(|_| None).collect();
    let wanted: Vec<&stages::Stage> = plan
        .stages
        .iter()
        .filter(|s| s.index <= plan.target)
        .collect();
    for stage in &wanted {
        if !plan.needed[stage.index] {
            let target = plan.stages[plan.target].label();
            let mut p = lock(sh.progress);
            let step = p.begin(&format!(
                "[{}] skipped: the target {target} does not need this stage",
                stage.label()
            ));
            p.done(step);
        }
    }
    let jobs = jobs(sh.opts);
    loop {
        let ready: Vec<&stages::Stage> = wanted
            .iter()
            .copied()
            .filter(|s| plan.needed[s.index] && done[s.index].is_none())
            .filter(|s| s.deps.iter().all(|d| done[*d].is_some()))
            .take(jobs)
            .collect();
        if ready.is_empty() {
            return Ok(done);
        }
        if rootfs::interrupted() {
            return Err(BuildError::Interrupted);
        }
        // COPY --from and bind mounts read the built stages through their views,
        // mounted here, before the stages that read them start.
        for d in done.iter_mut().flatten() {
            d.ws.view()?;
        }
        if ready.len() > 1 {
            let names: Vec<String> = ready.iter().map(|s| s.label()).collect();
            let mut p = lock(sh.progress);
            let step = p.begin(&format!(
                "[internal] stages {} run at once (--jobs {jobs})",
                names.join(", ")
            ));
            p.done(step);
        }
        let results: Vec<(usize, Result<StageResult, BuildError>)> = {
            let done_ref: &[Option<Done>] = &done;
            let one = |stage: &stages::Stage| -> Result<StageResult, BuildError> {
                let mut b = sh.builder(done_ref)?;
                let r = b.run_stage(sh.dockerfile, stage, txn);
                if r.is_err() {
                    sh.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Ok((r?, b.consumed, b.new_entries))
            };
            if ready.len() == 1 {
                vec![(ready[0].index, one(ready[0]))]
            } else {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = ready
                        .iter()
                        .map(|stage| (stage.index, scope.spawn(|| one(stage))))
                        .collect();
                    handles
                        .into_iter()
                        .map(|(i, h)| {
                            (
                                i,
                                h.join().unwrap_or_else(|_| {
                                    Err(step_err(format!("stage {i}: its thread panicked")))
                                }),
                            )
                        })
                        .collect()
                })
            }
        };
        let mut first_err = None;
        for (i, r) in results {
            match r {
                Ok((d, c, e)) => {
                    done[i] = Some(d);
                    consumed.extend(c);
                    entries.extend(e);
                }
                // The failure itself, not a stage it stopped.
                Err(BuildError::Cancelled) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if sh.cancel.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BuildError::Cancelled);
        }
    }
}

pub fn build(store: &Store, opts: &Options, pull: Pull<'_>) -> Result<Built, BuildError> {
    let (dockerfile, plan) = check(opts)?;
    let epoch = source_date_epoch(opts)?;
    let context = match &opts.context {
        Some(dir) => Some(Context::open(dir)?),
        None => None,
    };
    rootfs::catch_signals();
    let mut progress = Progress::new(opts.progress);
    let s = progress.begin(&format!(
        "[internal] load build definition from {}",
        dockerfile.file
    ));
    progress.done(s);
    let progress = Mutex::new(progress);
    let txn = Mutex::new(store.begin()?);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let sh = Shared {
        store,
        pull,
        opts,
        dockerfile: &dockerfile,
        plan: &plan,
        context: context.as_ref(),
        progress: &progress,
        epoch,
        target_platform: target_platform(opts)?,
        cancel: &cancel,
    };
    // The global ARGs count as used; so does BuildKit's own SOURCE_DATE_EPOCH.
    let mut consumed: Vec<String> = plan.globals.iter().map(|(k, _)| k.clone()).collect();
    consumed.push("SOURCE_DATE_EPOCH".into());
    let mut entries = Vec::new();
    let result = run_stages(&sh, &txn, &mut consumed, &mut entries).and_then(|done| {
        let target = done[plan.target]
            .as_ref()
            .expect("the target stage is built");
        let mut b = sh.builder(&[])?;
        b.cfg = target.cfg.clone();
        b.layers = target.layers.clone();
        b.last_created = target.last_created.clone();
        b.new_entries = std::mem::take(&mut entries);
        let r = b.export(txn);
        // The stages' workspaces (views, upper dirs) go after the export.
        drop(done);
        r
    });
    lock(&progress).finish(result.is_ok());
    let (id, manifest) = result?;
    let mut warnings = Vec::new();
    let unused: Vec<&str> = opts
        .build_args
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !consumed.iter().any(|c| c == k) && !PROXY_ARGS.contains(k))
        .collect();
    if !unused.is_empty() {
        warnings.push(format!(
            "[Warning] One or more build-args [{}] were not consumed",
            unused.join(" ")
        ));
    }
    Ok(Built {
        id,
        manifest,
        warnings,
    })
}

impl<'a> Builder<'a> {
    /// The time of a new history entry.
    fn now(&self) -> String {
        match self.epoch {
            Some(e) => epoch_time(e),
            None => now(),
        }
    }

    fn build_arg(&self, name: &str) -> Option<String> {
        self.opts
            .build_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn lookup(&self) -> impl FnMut(&str) -> Option<String> + '_ {
        move |name: &str| {
            self.cfg.env_get(name).or_else(|| {
                self.stage_args
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| v.clone())
            })
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'a, Progress> {
        lock(self.progress)
    }

    /// Builds one stage (the stages it needs are in `done`).
    fn run_stage(
        &mut self,
        dockerfile: &parse::Dockerfile,
        stage: &stages::Stage,
        txn: &Mutex<Txn<'_>>,
    ) -> Result<Done, BuildError> {
        let globals = self.plan.globals.clone();
        let multi = self.plan.stages.len() > 1;
        {
            let stage = stage.clone();
            let steps = dockerfile.instructions[stage.body.clone()]
                .iter()
                .filter(|i| is_step(&i.keyword))
                .count();
            self.start_stage(&stage, &globals, multi, 1 + steps);
            let ins = &dockerfile.instructions[stage.from];
            let file = self.file.clone();
            let triggers = self.stage_base_step(ins, &stage).map_err(at(&file, ins))?;
            // The base image's ONBUILD triggers run first, as docker.
            let mut queue: VecDeque<(RawInstruction, bool)> = VecDeque::new();
            for t in triggers {
                let mut raw = parse::instruction(&t, self.escape)
                    .map_err(|m| at(&file, ins)(step_err(format!("ONBUILD {t}: {m}"))))?;
                raw.line = ins.line;
                raw.end_line = ins.end_line;
                queue.push_back((raw, true));
            }
            queue.extend(
                dockerfile.instructions[stage.body.clone()]
                    .iter()
                    .cloned()
                    .map(|i| (i, false)),
            );
            while let Some((ins, trigger)) = queue.pop_front() {
                if rootfs::interrupted() {
                    return Err(BuildError::Interrupted);
                }
                if self.cancel.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(BuildError::Cancelled);
                }
                self.instruction(&ins, trigger, txn)
                    .map_err(at(&file, &ins))?;
            }
            self.finish_stage(txn)
        }
    }

    /// Resets the per-stage state for `stage`.
    fn start_stage(
        &mut self,
        stage: &stages::Stage,
        globals: &[(String, Option<String>)],
        multi: bool,
        total: usize,
    ) {
        self.stage = stage.index;
        self.index = 0;
        self.total = total;
        self.stage_label = multi.then(|| stage.label());
        self.cfg = ImageConfig::scratch();
        self.layers = Vec::new();
        self.pending = Vec::new();
        self.key = String::new();
        self.last_created = self.now();
        self.stage_args = Vec::new();
        self.global_defaults = globals.to_vec();
        self.cmd_set = false;
    }

    /// Keeps the finished stage for the stages after it; the next one gets a new
    /// workspace.
    fn finish_stage(&mut self, txn: &Mutex<Txn<'_>>) -> Result<Done, BuildError> {
        self.materialize(txn)?;
        let ws = std::mem::replace(&mut self.ws, rootfs::Workspace::new(self.store)?);
        Ok(Done {
            cfg: self.cfg.clone(),
            layers: self.layers.clone(),
            key: self.key.clone(),
            last_created: self.last_created.clone(),
            ws,
        })
    }

    /// The stage's FROM: an earlier stage, or an image. Returns the ONBUILD triggers.
    fn stage_base_step(
        &mut self,
        ins: &RawInstruction,
        stage: &stages::Stage,
    ) -> Result<Vec<String>, BuildError> {
        self.stage_platform = match stage.platform.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => p
                .parse()
                .map_err(|e| step_err(format!("FROM --platform={p}: {e}")))?,
            None => self.target_platform.clone(),
        };
        match &stage.base {
            Source::Image(name) => self.base_step(ins, name),
            Source::Stage(j) => {
                let label = self.label(ins, false);
                let step = self.progress().begin(&label);
                let d = self.done[*j]
                    .as_ref()
                    .expect("a needed stage is built first");
                self.cfg = d.cfg.clone();
                self.layers = d.layers.clone();
                self.key = d.key.clone();
                self.last_created = d.last_created.clone();
                let lowers = d.ws.lowers().to_vec();
                self.ws.set_lowers(lowers);
                self.progress().done(step);
                Ok(self.cfg.config.on_build.take().unwrap_or_default())
            }
        }
    }

    /// The root filesystem a `--from` names: an earlier stage's (mounted read-only) or
    /// an image's (pulled if missing).
    fn root_named_by_from(&mut self, v: &str) -> Result<PathBuf, BuildError> {
        match self.plan.source(self.stage, v).map_err(step_err)? {
            Source::Stage(j) => self.done[j]
                .as_ref()
                .and_then(|d| d.ws.view_path())
                .ok_or_else(|| step_err(format!("--from={v}: stage {j} is not built (internal)"))),
            Source::Image(name) => {
                let img = self.find_image(&name).map_err(|e| {
                    step_err(format!(
                        "--from={v}: no stage named {v} before this line, and no image: {e}"
                    ))
                })?;
                let _shared = self.store.lock_shared()?;
                crate::container::snapshot::lower_dir(self.store, &img)
                    .map_err(|e| BuildError::Snapshot(Box::new(e)))
            }
        }
    }

    fn label(&mut self, ins: &RawInstruction, trigger: bool) -> String {
        if trigger {
            format!("[ONBUILD] {}", ins.original)
        } else {
            self.index += 1;
            match &self.stage_label {
                Some(s) => format!("[{s} {}/{}] {}", self.index, self.total, ins.original),
                None => format!("[{}/{}] {}", self.index, self.total, ins.original),
            }
        }
    }

    /// FROM: the base image (pulled when missing or with --pull), or scratch. Returns
    /// the base image's ONBUILD triggers.
    fn base_step(&mut self, ins: &RawInstruction, name: &str) -> Result<Vec<String>, BuildError> {
        let label = self.label(ins, false);
        let step = self
            .progress()
            .begin(&label.replace(&ins.original, &format!("FROM {name}")));
        match self.load_base(name) {
            Ok(t) => {
                self.progress().done(step);
                Ok(t)
            }
            Err(e) => {
                self.progress().error(step, &e.to_string());
                Err(e)
            }
        }
    }

    /// A RUN needs this stage's platform to execute here.
    fn check_platform_can_run(&self) -> Result<(), BuildError> {
        platform::can_run(
            &self.stage_platform,
            &Platform::host(),
            Path::new("/proc/sys/fs/binfmt_misc"),
        )
        .map_err(step_err)
    }

    fn load_base(&mut self, name: &str) -> Result<Vec<String>, BuildError> {
        if name.eq_ignore_ascii_case("scratch") {
            self.cfg = ImageConfig::scratch();
            self.cfg.architecture = self.stage_platform.architecture.clone();
            self.cfg.os = self.stage_platform.os.clone();
            if let Some(v) = &self.stage_platform.variant {
                self.cfg.extra.insert("variant".into(), json!(v));
            }
            self.default_path();
            self.key = cache::key(&json!({ "base": "scratch" }));
            self.ws.set_base(self.store, None)?;
            return Ok(Vec::new());
        }
        let base = self.find_image(name)?;
        self.cfg = serde_json::from_value(base.config_raw.clone())
            .map_err(|e| step_err(format!("the config of {name}: {e}")))?;
        self.layers = base
            .manifest
            .layers()
            .iter()
            .map(|l| serde_json::to_value(l).expect("descriptor serialises"))
            .collect();
        self.key = cache::key(&json!({ "base": base.id().to_string() }));
        if let Some(c) = &self.cfg.created {
            self.last_created = c.clone();
        }
        self.default_path();
        self.ws.set_base(self.store, Some(&base))?;
        Ok(self.cfg.config.on_build.take().unwrap_or_default())
    }

    /// An image from the store, pulled when missing (or always with --pull).
    /// An image for the stage's platform: one in the store for another platform is
    /// pulled again for this one (picked from the index, as docker).
    fn find_image(&self, name: &str) -> Result<Image, BuildError> {
        let want = &self.stage_platform;
        let platform_of = |i: &Image| Platform {
            os: i.config_raw["os"].as_str().unwrap_or_default().to_string(),
            architecture: i.config_raw["architecture"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            variant: i.config_raw["variant"].as_str().map(str::to_string),
        };
        let found = image::find(self.store, name).ok();
        let why = match &found {
            Some(i) if !self.opts.pull && want.matches(&platform_of(i)) => return Ok(i.clone()),
            Some(i) if !self.opts.pull => {
                format!("the store's {name} is for {}, not {want}", platform_of(i))
            }
            Some(_) => format!("--pull {name}"),
            None => format!("{name}: not in the store"),
        };
        if let Err(m) = (self.pull)(name, want) {
            return Err(step_err(format!(
                "{why}, and pulling it for {want} failed: {m}"
            )));
        }
        Ok(image::find(self.store, name)?)
    }

    /// An image without PATH gets docker's default one, first (as BuildKit and buildah).
    fn default_path(&mut self) {
        if self.cfg.env_get("PATH").is_none() {
            let env = self.cfg.config.env.get_or_insert_with(Vec::new);
            env.insert(0, crate::bundle::spec::DEFAULT_PATH.to_string());
        }
    }

    fn history(&mut self, created_by: String) {
        self.cfg.history.push(History {
            created: Some(self.last_created.clone()),
            created_by: Some(created_by),
            empty_layer: true,
            ..History::default()
        });
    }

    fn instruction(
        &mut self,
        ins: &RawInstruction,
        trigger: bool,
        txn: &Mutex<Txn<'_>>,
    ) -> Result<(), BuildError> {
        let typed = {
            let mut lookup = self.lookup();
            instruction::resolve(ins, self.escape, &mut lookup).map_err(step_err)?
        };
        let pairs = |p: &[(String, String)]| {
            p.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match typed {
            Instruction::Arg(list) => {
                let mut shown = Vec::new();
                for (k, default) in list {
                    let global = self
                        .global_defaults
                        .iter()
                        .rev()
                        .find(|(g, _)| *g == k)
                        .and_then(|(_, v)| v.clone());
                    let v = self.build_arg(&k).or(default).or(global);
                    self.consumed.push(k.clone());
                    shown.push(match &v {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    });
                    self.stage_args.retain(|(a, _)| *a != k);
                    self.stage_args.push((k, v));
                }
                self.history(format!("ARG {}", shown.join(" ")));
            }
            Instruction::Env(p) => {
                for (k, v) in &p {
                    self.cfg.env_set(k, v);
                }
                self.history(format!("ENV {}", pairs(&p)));
            }
            Instruction::Label(p) => {
                let labels = self.cfg.config.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in &p {
                    labels.insert(k.clone(), v.clone());
                }
                self.history(format!("LABEL {}", pairs(&p)));
            }
            Instruction::Maintainer(m) => {
                self.cfg.author = Some(m.clone());
                self.history(format!("MAINTAINER {m}"));
            }
            Instruction::Expose(ports) => {
                let map = self
                    .cfg
                    .config
                    .exposed_ports
                    .get_or_insert_with(BTreeMap::new);
                for p in &ports {
                    map.insert(p.clone(), json!({}));
                }
                let mut sorted = ports.clone();
                sorted.sort();
                sorted.dedup();
                let shown: Vec<String> = sorted.iter().map(|p| format!("{p}:{{}}")).collect();
                self.history(format!("EXPOSE map[{}]", shown.join(" ")));
            }
            Instruction::Volume(v) => {
                let map = self.cfg.config.volumes.get_or_insert_with(BTreeMap::new);
                for p in &v {
                    map.insert(p.clone(), json!({}));
                }
                self.history(format!("VOLUME [{}]", v.join(" ")));
            }
            Instruction::User(u) => {
                self.cfg.config.user = Some(u.clone());
                self.history(format!("USER {u}"));
            }
            Instruction::Shell(v) => {
                self.cfg.config.shell = Some(v.clone());
                self.history(format!("SHELL [{}]", v.join(" ")));
            }
            Instruction::StopSignal(s) => {
                if !valid_signal(&s) {
                    return Err(step_err(format!("Invalid signal: {s}")));
                }
                self.cfg.config.stop_signal = Some(s.clone());
                self.history(format!("STOPSIGNAL {s}"));
            }
            Instruction::Healthcheck(h) => {
                let h = h.unwrap_or_else(|| instruction::Healthcheck {
                    test: vec!["NONE".into()],
                    ..Default::default()
                });
                let shown = format!(
                    "HEALTHCHECK &{{{} {:?} {:?} {:?} {:?} '\\x{:02x}'}}",
                    go_list(&h.test),
                    crate::humanize::go_duration(h.interval),
                    crate::humanize::go_duration(h.timeout),
                    crate::humanize::go_duration(h.start_period),
                    crate::humanize::go_duration(h.start_interval),
                    h.retries
                );
                self.cfg.config.healthcheck = Some(h);
                self.history(shown);
            }
            Instruction::Cmd(c) => {
                let args = self.command_args(c);
                self.history(format!("CMD {}", go_list(&args)));
                self.cfg.config.cmd = Some(args);
                self.cfg.config.args_escaped = Some(true);
                self.cmd_set = true;
            }
            Instruction::Entrypoint(c) => {
                let args = self.command_args(c);
                self.history(format!("ENTRYPOINT {}", go_list(&args)));
                self.cfg.config.entrypoint = Some(args);
                self.cfg.config.args_escaped = Some(true);
                // An inherited CMD does not go with a new ENTRYPOINT (docker).
                if !self.cmd_set {
                    self.cfg.config.cmd = None;
                }
            }
            Instruction::Onbuild(t) => {
                self.cfg
                    .config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(t.clone());
                self.history(format!("ONBUILD {t}"));
            }
            Instruction::Run {
                command,
                network,
                heredocs,
                mounts,
                ..
            } => {
                let mounts = mounts
                    .iter()
                    .map(|m| df::mount::parse(m).map_err(|e| step_err(format!("RUN {e}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                self.run_step(ins, trigger, command, network, &heredocs, &mounts, txn)?
            }
            Instruction::Copy(c) => self.copy_step(ins, trigger, c, false, txn)?,
            Instruction::Add(c) => self.copy_step(ins, trigger, c, true, txn)?,
            Instruction::Workdir(w) => {
                let base = self.cfg.config.working_dir.clone().unwrap_or_default();
                let path = join_dir(&base, &w);
                self.cfg.config.working_dir = Some(path.clone());
                let user = self.cfg.config.user.clone().filter(|u| !u.is_empty());
                let parts = json!({ "workdir": path, "user": user });
                self.fs_step(
                    ins,
                    trigger,
                    format!("WORKDIR {path}"),
                    parts,
                    txn,
                    |_, m, _| make_workdir(&m.rootfs, &path, user.as_deref()),
                )?;
            }
            Instruction::From { .. } => unreachable!("checked before the build"),
        }
        Ok(())
    }

    fn command_args(&self, c: Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v,
            Command::Shell(s) => {
                let mut sh = self.cfg.shell();
                sh.push(s);
                sh
            }
        }
    }

    /// A RUN's command with its heredocs, as BuildKit runs them: a lone `<<EOF` whose
    /// body starts with `#!` is a script executed from a read-only /dev/pipes/EOF; a
    /// lone `<<EOF` otherwise is the shell's command; any other use goes to the shell
    /// whole (the command line, then each body and its delimiter), which reads the
    /// heredocs itself. Returns the arguments and the mounts they need.
    fn heredoc_command(
        &mut self,
        command: Command,
        docs: &[parse::Heredoc],
    ) -> Result<(Vec<String>, Vec<Value>), BuildError> {
        let text = match (&command, docs) {
            (Command::Shell(t), [_, ..]) => t.clone(),
            _ => return Ok((self.command_args(command), Vec::new())),
        };
        let words = df::words::split_words(&text, self.escape);
        if let ([doc], [only]) = (docs, words.as_slice()) {
            if parse::heredoc_marker(only).is_some() {
                let body = doc.body();
                if !body.starts_with("#!") {
                    return Ok((self.command_args(Command::Shell(body)), Vec::new()));
                }
                let dir = self.ws.dir().join(format!("heredoc-{}", self.index));
                std::fs::create_dir_all(&dir).map_err(|e| BuildError::Io {
                    path: dir.clone(),
                    error: e,
                })?;
                let script = dir.join(&doc.name);
                std::fs::write(&script, &body)
                    .and_then(|()| {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                    })
                    .map_err(|e| BuildError::Io {
                        path: script.clone(),
                        error: e,
                    })?;
                let mount = json!({
                    "destination": "/dev/pipes",
                    "type": "bind",
                    "source": dir.display().to_string(),
                    "options": ["rbind", "ro"],
                });
                return Ok((vec![format!("/dev/pipes/{}", doc.name)], vec![mount]));
            }
        }
        let mut full = text;
        for d in docs {
            full.push('\n');
            full.push_str(&d.content);
            full.push_str(&d.name);
        }
        Ok((self.command_args(Command::Shell(full)), Vec::new()))
    }

    /// The ARGs with a value that ENV does not override, as `K=V`.
    fn arg_env(&self) -> Vec<String> {
        self.stage_args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .filter(|(k, _)| self.cfg.env_get(k).is_none())
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// What each bind mount shows (`from=` a stage or image, else the context) and
    /// what the cache keys it on: the stage's key, the image's id, or the content of
    /// the context's files (a changed file runs the step again, as BuildKit).
    fn bind_roots(
        &mut self,
        mounts: &[df::mount::Mount],
    ) -> Result<(Vec<mounts::BindRoot>, Vec<String>), BuildError> {
        let mut roots = Vec::new();
        let mut keys = Vec::new();
        for m in mounts {
            let df::mount::Mount::Bind { from, source, .. } = m else {
                continue;
            };
            if let Some(v) = from {
                keys.push(
                    match self.plan.source(self.stage, v).map_err(step_err)? {
                        Source::Stage(j) => self.done[j].as_ref().map(|d| d.key.clone()),
                        Source::Image(name) => Some(self.find_image(&name)?.id().to_string()),
                    }
                    .unwrap_or_default(),
                );
                roots.push(mounts::BindRoot::Dir(self.root_named_by_from(v)?));
                continue;
            }
            let ctx = self.context.as_ref().ok_or_else(|| {
                step_err(
                    "RUN --mount=type=bind: there is no build context (the Dockerfile came on stdin)",
                )
            })?;
            let want = if source.is_empty() { "." } else { source };
            let found = ctx.sources(want)?;
            let [src] = found.as_slice() else {
                return Err(step_err(format!(
                    "RUN --mount=type=bind,source={source}: names {} files; want one",
                    found.len()
                )));
            };
            let entries = ctx.entries(src)?;
            let placed: Vec<copy::Placed<'_>> = entries
                .iter()
                .map(|e| copy::Placed {
                    dest: e.rel.clone(),
                    entry: e,
                })
                .collect();
            keys.push(copy::content_key(&placed)?);
            roots.push(if ctx.has_ignore() {
                mounts::BindRoot::Entries(entries)
            } else {
                mounts::BindRoot::Dir(ctx.root().to_path_buf())
            });
        }
        Ok((roots, keys))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_step(
        &mut self,
        ins: &RawInstruction,
        trigger: bool,
        command: Command,
        network: Option<String>,
        heredocs: &[parse::Heredoc],
        run_mounts: &[df::mount::Mount],
        txn: &Mutex<Txn<'_>>,
    ) -> Result<(), BuildError> {
        self.check_platform_can_run()?;
        let (bind_roots, bind_keys) = self.bind_roots(run_mounts)?;
        let (args, mounts) = self.heredoc_command(command, heredocs)?;
        let args_env = self.arg_env();
        let mut env: Vec<String> = self.cfg.env().to_vec();
        env.extend(args_env.iter().cloned());
        let proxies: Vec<String> = self
            .opts
            .build_args
            .iter()
            .filter(|(k, _)| PROXY_ARGS.contains(&k.as_str()))
            .filter(|(k, _)| !self.stage_args.iter().any(|(a, _)| a == k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let network = match network.as_deref() {
            Some("none") => Network::None,
            Some("host") => Network::Host,
            _ => self.opts.network.clone(),
        };
        let prefix = if args_env.is_empty() {
            String::new()
        } else {
            format!("|{} {} ", args_env.len(), args_env.join(" "))
        };
        let created_by = format!("RUN {prefix}{} # buildkit", args.join(" "));
        let parts = json!({
            "run": args,
            "env": env,
            "user": self.cfg.config.user,
            "workdir": self.cfg.config.working_dir,
            "network": format!("{network:?}"),
            "heredocs": heredocs
                .iter()
                .map(|h| json!([h.name, h.content, h.chomp]))
                .collect::<Vec<_>>(),
            // The mounts as written: never a secret's or a cache's content (BuildKit).
            "mounts": run_mounts.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>(),
            "bind_content": bind_keys,
        });
        env.extend(proxies);
        let command = args.join(" ");
        let runtime = self.opts.runtime.clone();
        let run_mounts = run_mounts.to_vec();
        self.fs_step(ins, trigger, created_by, parts, txn, move |b, m, step| {
            let img = as_image(&b.cfg)?;
            let scratch = b.ws.dir().join(format!("mounts-{}", b.index));
            let prepared = mounts::prepare(
                &run_mounts,
                mounts::Inputs {
                    store_root: b.store.root(),
                    scratch: scratch.clone(),
                    bind_roots,
                    secrets: &b.opts.secrets,
                },
            );
            let result = prepared.and_then(|prepared| {
                let mut all = mounts.clone();
                all.extend(prepared.mounts.iter().cloned());
                let mut env = env.clone();
                env.extend(prepared.env.iter().cloned());
                let rs = rootfs::RunStep {
                    args: args.clone(),
                    mounts: all,
                    env,
                    network,
                    runtime: runtime.clone(),
                    mount_points: prepared.targets.clone(),
                };
                let progress = b.progress;
                b.ws.run(m, &img, &rs, &mut |l| lock(progress).line(step, l))
            });
            // Secrets and rw copies go as soon as the step is done.
            let _ = std::fs::remove_dir_all(&scratch);
            let code = result?;
            if rootfs::interrupted() {
                return Err(BuildError::Interrupted);
            }
            if code != 0 {
                return Err(BuildError::RunFailed {
                    command: command.clone(),
                    code,
                });
            }
            Ok(())
        })
    }

    fn copy_step(
        &mut self,
        ins: &RawInstruction,
        trigger: bool,
        args: CopyArgs,
        add: bool,
        txn: &Mutex<Txn<'_>>,
    ) -> Result<(), BuildError> {
        let kw = if add { "ADD" } else { "COPY" };
        let workdir = self.cfg.config.working_dir.clone().unwrap_or_default();
        let dest_dir_syntax =
            args.dest.ends_with('/') || args.dest == "." || args.dest.ends_with("/.");
        let dest = join_dir(&workdir, &args.dest);
        let excludes = df::ignore::Ignore::parse(&args.excludes.join("\n"));
        let mut srcs: Vec<Src> = Vec::new();
        let from_ctx = match &args.from {
            Some(v) => Some(Context::plain(&self.root_named_by_from(v)?)?),
            None => None,
        };
        if !args.heredocs.is_empty() {
            let (ctx, names) = self.heredoc_files(&args.heredocs)?;
            for n in names {
                for source in ctx.sources(&n)? {
                    let entries = ctx.entries(&source)?;
                    srcs.push(Src::Ctx(source, entries));
                }
            }
        }
        for (i, s) in args.sources.iter().enumerate() {
            if add && (s.starts_with("http://") || s.starts_with("https://")) {
                let into = self.ws.dir().join(format!("download-{}-{i}", self.index));
                let f = copy::fetch(s, &into)?;
                if let Some(sum) = &args.checksum {
                    if *sum != f.digest.to_string() {
                        return Err(step_err(format!(
                            "{s}: the content's digest is {}, not the --checksum {sum}",
                            f.digest
                        )));
                    }
                }
                srcs.push(Src::Url(f));
                continue;
            }
            let ctx = match &from_ctx {
                Some(c) => c,
                None => self.context.as_ref().ok_or_else(|| {
                    step_err(format!(
                        "{kw} {s}: there is no build context (the Dockerfile came on stdin)"
                    ))
                })?,
            };
            let pivot = args.parents.then(|| parents_pivot(s));
            for source in ctx.sources(s)? {
                let entries = ctx.entries(&source)?;
                if let Some(e) = exclude_entries(&excludes, source, entries) {
                    srcs.push(match &pivot {
                        Some(p) => with_parents(p, e.0, e.1),
                        None => Src::Ctx(e.0, e.1),
                    });
                }
            }
        }
        if args.parents && !dest_dir_syntax {
            return Err(step_err(format!(
                "{kw} --parents: the destination must be a directory and end with a /"
            )));
        }
        if srcs.len() > 1 && !dest_dir_syntax {
            return Err(step_err(format!(
                "When using {kw} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let mut content = Vec::new();
        for (i, s) in srcs.iter().enumerate() {
            content.push(match s {
                Src::Url(f) => {
                    json!({"url": f.digest.to_string(), "name": f.name, "mtime": f.mtime})
                }
                Src::Ctx(source, entries) => {
                    let placed: Vec<copy::Placed<'_>> = entries
                        .iter()
                        .map(|e| copy::Placed {
                            dest: format!("{i}/{}", e.rel),
                            entry: e,
                        })
                        .collect();
                    json!({
                        "rel": source.rel,
                        "archive": add && !source.is_dir && copy::is_archive(&source.path),
                        "content": copy::content_key(&placed)?,
                    })
                }
            });
        }
        // --link: the owner comes from the layers below, resolved now (the step runs on
        // an empty root), and is part of the key instead of the parent.
        let linked = if args.link {
            Some(self.link_owner(&args, txn)?)
        } else {
            None
        };
        let parts = json!({
            kw: {"sources": args.sources, "dest": dest, "dir": dest_dir_syntax,
                 "chown": args.chown, "chmod": args.chmod, "from": args.from,
                 "parents": args.parents, "exclude": args.excludes, "link": linked},
            "content": content,
        });
        let created_by = format!("{kw} {} {} # buildkit", args.sources.join(" "), args.dest);
        let single = srcs.len() == 1;
        let link = args.link;
        self.fs_step_as(
            ins,
            trigger,
            created_by,
            parts,
            link,
            txn,
            move |b, m, _| {
                place(
                    b.ws.dir(),
                    m,
                    &srcs,
                    &args,
                    &dest,
                    dest_dir_syntax || !single,
                    add,
                    linked,
                )
            },
        )
    }

    /// `COPY <<NAME`: each heredoc as the file NAME (mode 0644, mtime 0, variables
    /// expanded unless the delimiter was quoted) in a directory of the workspace.
    fn heredoc_files(
        &mut self,
        docs: &[parse::Heredoc],
    ) -> Result<(Context, Vec<String>), BuildError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.ws.dir().join(format!("heredoc-{}", self.index + 1));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |error| BuildError::Io { path, error }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut names = Vec::new();
        for d in docs {
            if d.name.contains('/') || d.name == "." || d.name == ".." {
                return Err(step_err(format!("<<{}: not a file name", d.name)));
            }
            let body = if d.expand {
                let mut lookup = self.lookup();
                df::words::expand_vars(&d.body(), self.escape, &mut lookup).map_err(step_err)?
            } else {
                d.body()
            };
            let f = dir.join(&d.name);
            std::fs::write(&f, body).map_err(io(&f))?;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).map_err(io(&f))?;
            std::fs::File::options()
                .write(true)
                .open(&f)
                .and_then(|file| file.set_modified(std::time::UNIX_EPOCH))
                .map_err(io(&f))?;
            names.push(d.name.clone());
        }
        Ok((Context::plain(&dir)?, names))
    }

    /// `COPY --link --chown`: the owner, looked up in the layers so far.
    fn link_owner(
        &mut self,
        args: &CopyArgs,
        txn: &Mutex<Txn<'_>>,
    ) -> Result<Option<(u32, u32)>, BuildError> {
        let Some(spec) = args.chown.as_deref() else {
            return Ok(None);
        };
        self.materialize(txn)?;
        let m = self.ws.mount()?;
        let r = Root::open(&m.rootfs)
            .map_err(|e| io_at(&m.rootfs, e))
            .and_then(|root| chown(&root, spec));
        self.ws.finish(m)?;
        r.map(Some)
    }

    /// A step that changes the filesystem: from the cache, or run on a new overlay
    /// whose upper dir then becomes the step's layer (none when it stayed empty).
    fn fs_step(
        &mut self,
        ins: &RawInstruction,
        trigger: bool,
        created_by: String,
        parts: Value,
        txn: &Mutex<Txn<'_>>,
        exec: impl FnOnce(&mut Self, &rootfs::Mounted, &Step) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        self.fs_step_as(ins, trigger, created_by, parts, false, txn, exec)
    }

    /// [`Self::fs_step`]; a `link`ed step runs on an empty root and its cache key does
    /// not depend on the steps before it (`COPY --link`), so a changed base still hits.
    #[allow(clippy::too_many_arguments)]
    fn fs_step_as(
        &mut self,
        ins: &RawInstruction,
        trigger: bool,
        created_by: String,
        parts: Value,
        link: bool,
        txn: &Mutex<Txn<'_>>,
        exec: impl FnOnce(&mut Self, &rootfs::Mounted, &Step) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let label = self.label(ins, trigger);
        let step = self.progress().begin(&label);
        let key = if link {
            cache::key(&json!({ "linked": parts }))
        } else {
            cache::key(&json!({ "parent": self.key, "step": parts }))
        };
        // What the steps after this one build on.
        let next_key = if link {
            cache::key(&json!({ "parent": self.key, "linked": key }))
        } else {
            key.clone()
        };
        if !self.opts.no_cache {
            if let Some(entry) = cache::get(self.store, &key) {
                let created = clamp_time(&entry.created, self.epoch);
                self.add_layer(entry.layer, created, created_by, true);
                self.key = next_key;
                self.progress().cached(step);
                return Ok(());
            }
        }
        match self.execute(&step, txn, link, exec) {
            Ok(layer) => {
                let created = self.now();
                self.add_layer(layer.clone(), created.clone(), created_by, false);
                self.new_entries
                    .push((key.clone(), cache::Entry { layer, created }));
                self.key = next_key;
                self.progress().done(step);
                Ok(())
            }
            Err(e) => {
                self.progress().error(step, &e.to_string());
                Err(e)
            }
        }
    }

    fn execute(
        &mut self,
        step: &Step,
        txn: &Mutex<Txn<'_>>,
        link: bool,
        exec: impl FnOnce(&mut Self, &rootfs::Mounted, &Step) -> Result<(), BuildError>,
    ) -> Result<Option<cache::Layer>, BuildError> {
        self.materialize(txn)?;
        let m = if link {
            self.ws.mount_empty()?
        } else {
            self.ws.mount()?
        };
        let r = exec(self, &m, step);
        let upper = self.ws.finish(m)?;
        r?;
        let empty = std::fs::read_dir(&upper)
            .map_err(|e| BuildError::Io {
                path: upper.clone(),
                error: e,
            })?
            .next()
            .is_none();
        if empty {
            return Ok(None);
        }
        let writer = lock(txn).blob_writer()?;
        let epoch = self.epoch.map(|e| e.max(0) as u64);
        let hashed = pack::pack_overlay_upper_clamped(&upper, Hasher::new(writer), epoch)?;
        let (writer, _, _) = hashed.finish();
        let blob = lock(txn).finish_blob(writer, None)?;
        Ok(Some(cache::Layer {
            digest: blob.digest.to_string(),
            diff_id: blob.digest.to_string(),
            size: blob.size,
            media_type: LAYER_MEDIA_TYPE.into(),
        }))
    }

    fn add_layer(
        &mut self,
        layer: Option<cache::Layer>,
        created: String,
        created_by: String,
        cached: bool,
    ) {
        if let Some(l) = &layer {
            self.layers.push(json!({
                "mediaType": l.media_type,
                "digest": l.digest,
                "size": l.size,
            }));
            self.cfg.rootfs.diff_ids.push(l.diff_id.clone());
            if cached {
                self.pending.push(l.clone());
            }
        }
        self.cfg.history.push(History {
            created: Some(created.clone()),
            created_by: Some(created_by),
            empty_layer: layer.is_none(),
            ..History::default()
        });
        self.last_created = created;
    }

    /// Cached layers the next step builds on are applied onto one new upper dir.
    fn materialize(&mut self, txn: &Mutex<Txn<'_>>) -> Result<(), BuildError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let m = self.ws.mount()?;
        let result = (|| {
            let root = Root::open(&m.rootfs).map_err(|e| io_at(&m.rootfs, e))?;
            for l in self.pending.drain(..) {
                let digest: Digest = l.digest.parse().map_err(|e| step_err(format!("{e}")))?;
                let diff_id: Digest = l.diff_id.parse().map_err(|e| step_err(format!("{e}")))?;
                let blob = lock(txn).open_blob(&digest)?;
                crate::layer::apply_blob(&root, blob, Some(&digest), Some(&diff_id))?;
            }
            Ok::<(), BuildError>(())
        })();
        self.ws.finish(m)?;
        result
    }

    fn export(&mut self, txn: Mutex<Txn<'_>>) -> Result<(Digest, Digest), BuildError> {
        let mut txn = txn.into_inner().unwrap_or_else(|e| e.into_inner());
        let step = self.progress().begin("exporting to image");
        match self.export_inner(&mut txn, &step) {
            Ok(id) => {
                let manifest = id.1.digest.clone();
                txn_commit(txn, &self.opts.tags, id.1)?;
                for t in &self.opts.tags {
                    self.progress().note(&step, &format!("naming to {t} done"));
                }
                for (k, e) in &self.new_entries {
                    if let Err(err) = cache::put(self.store, k, e) {
                        tracing::warn!(error = %err, "writing a build cache entry");
                    }
                }
                self.progress().done(step);
                Ok((id.0, manifest))
            }
            Err(e) => {
                self.progress().error(step, &e.to_string());
                Err(e)
            }
        }
    }

    fn export_inner(
        &mut self,
        txn: &mut Txn<'_>,
        step: &Step,
    ) -> Result<(Digest, crate::store::BlobInfo), BuildError> {
        if !self.opts.labels.is_empty() {
            let labels = self.cfg.config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in &self.opts.labels {
                labels.insert(k.clone(), v.clone());
            }
        }
        self.cfg.created = Some(clamp_time(&self.last_created, self.epoch));
        if self.epoch.is_some() {
            for h in &mut self.cfg.history {
                h.created = h.created.as_deref().map(|t| clamp_time(t, self.epoch));
            }
        }
        let config = txn.write_bytes(&serde_json::to_vec(&self.cfg).expect("config serialises"))?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": crate::manifest::CONFIG_MEDIA_TYPE,
                "digest": config.digest.to_string(),
                "size": config.size,
            },
            "layers": self.layers,
        });
        let manifest =
            txn.write_bytes(&serde_json::to_vec(&manifest).expect("manifest serialises"))?;
        self.progress()
            .note(step, &format!("writing image {} done", config.digest));
        Ok((config.digest, manifest))
    }
}

fn txn_commit(
    txn: Txn<'_>,
    tags: &[Reference],
    manifest: crate::store::BlobInfo,
) -> Result<(), BuildError> {
    txn.commit(&[CommitImage {
        manifest,
        media_type: MANIFEST_MEDIA_TYPE.to_string(),
        names: tags
            .iter()
            .cloned()
            .map(Reference::with_default_tag)
            .collect(),
    }])?;
    Ok(())
}

fn io_at(path: &Path, e: nix::Error) -> BuildError {
    BuildError::Io {
        path: path.to_path_buf(),
        error: e.into(),
    }
}

/// A signal as docker accepts it in STOPSIGNAL and `--stop-signal`: a number, a name with or
/// without SIG, or SIGRTMIN+N.
pub fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>().is_ok()
        || name
            .strip_prefix("SIGRTMIN")
            .or_else(|| name.strip_prefix("SIGRTMAX"))
            .is_some_and(|r| {
                r.is_empty() || r.trim_start_matches(['+', '-']).parse::<u32>().is_ok()
            })
}

enum Src {
    Ctx(context::Source, Vec<context::Entry>),
    Url(copy::Fetched),
}

/// `--chown` in the image's /etc/passwd and /etc/group; a bare numeric user is also the
/// group (docker).
fn chown(root: &Root, spec: &str) -> Result<(u32, u32), BuildError> {
    let u = crate::bundle::user::resolve(root, spec)
        .map_err(|e| step_err(format!("--chown={spec}: {e}")))?;
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if group.is_none() && user.parse::<u32>().is_ok() {
        return Ok((u.uid, u.uid));
    }
    Ok((u.uid, u.gid))
}

fn join_rel(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => dir.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

/// The part of a `COPY --parents` source kept at the destination starts after a `/./`
/// (BuildKit's pivot); without one the whole path is kept. Returns the cleaned prefix
/// that is dropped.
fn parents_pivot(src: &str) -> String {
    match src.find("/./") {
        Some(i) => df::ignore::clean(&src[..i]),
        None => String::new(),
    }
}

/// A source whose entries land under its path in the context (minus `pivot`).
fn with_parents(pivot: &str, mut source: context::Source, entries: Vec<context::Entry>) -> Src {
    let rel = source.rel.trim_start_matches('/');
    let kept = match pivot {
        "" | "." => rel.to_string(),
        p => rel
            .strip_prefix(p)
            .map(|r| r.trim_start_matches('/').to_string())
            .unwrap_or_else(|| rel.to_string()),
    };
    let entries = entries
        .into_iter()
        .map(|mut e| {
            e.rel = join_rel(&kept, &e.rel);
            e
        })
        .collect();
    // Placed like a directory's contents: each entry at its own relative path.
    source.is_dir = true;
    Src::Ctx(source, entries)
}

/// `--exclude`: the source's entries that no pattern leaves out, matched against the
/// path in the source and in the context (as BuildKit); `None` when the source itself
/// is excluded.
fn exclude_entries(
    excludes: &df::ignore::Ignore,
    source: context::Source,
    entries: Vec<context::Entry>,
) -> Option<(context::Source, Vec<context::Entry>)> {
    if excludes.patterns.is_empty() {
        return Some((source, entries));
    }
    let name = source.rel.rsplit('/').next().unwrap_or("").to_string();
    if excludes.excluded(&source.rel) || (!name.is_empty() && excludes.excluded(&name)) {
        return None;
    }
    if !source.is_dir {
        return Some((source, entries));
    }
    let kept = entries
        .into_iter()
        .filter(|e| {
            !excludes.excluded(&e.rel) && !excludes.excluded(&join_rel(&source.rel, &e.rel))
        })
        .collect();
    Some((source, kept))
}

/// Writes a COPY/ADD's sources onto the mounted step.
#[allow(clippy::too_many_arguments)]
fn place(
    ws_dir: &Path,
    m: &rootfs::Mounted,
    srcs: &[Src],
    args: &CopyArgs,
    dest: &str,
    dest_dir: bool,
    add: bool,
    // `COPY --link`: the owner found in the layers below (the step's own rootfs is
    // empty then) and no look at the destination.
    linked: Option<Option<(u32, u32)>>,
) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let root = Root::open(&m.rootfs).map_err(|e| io_at(&m.rootfs, e))?;
    let owner = match linked {
        Some(o) => o,
        None => args.chown.as_deref().map(|c| chown(&root, c)).transpose()?,
    };
    let chmod = match args.chmod.as_deref() {
        None => None,
        Some(c) => Some(
            u32::from_str_radix(c, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| step_err(format!("invalid chmod parameter: {c:?}")))?,
        ),
    };
    let ov = copy::Overrides {
        owner,
        chmod,
        keep_owner: args.from.is_some(),
    };
    let dest_rel = dest.trim_start_matches('/').to_string();
    let dest_is_dir = dest_dir
        || dest_rel.is_empty()
        || linked.is_none()
            && crate::layer::inroot::InPath::parse(dest_rel.as_bytes())
                .ok()
                .is_some_and(|p| root.open_dir(&p).is_ok());
    let mut placed: Vec<copy::Placed<'_>> = Vec::new();
    let mut archives: Vec<&Path> = Vec::new();
    let url_entries: Vec<Option<context::Entry>> = srcs
        .iter()
        .map(|s| match s {
            Src::Url(f) => {
                let _ = std::fs::set_permissions(&f.file, std::fs::Permissions::from_mode(0o600));
                if let Some(t) = f.mtime {
                    let when =
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
                    if let Ok(file) = std::fs::File::options().write(true).open(&f.file) {
                        let _ = file.set_modified(when);
                    }
                }
                std::fs::symlink_metadata(&f.file)
                    .ok()
                    .map(|meta| context::Entry {
                        rel: String::new(),
                        path: f.file.clone(),
                        meta,
                    })
            }
            Src::Ctx(..) => None,
        })
        .collect();
    for (s, url_entry) in srcs.iter().zip(&url_entries) {
        match s {
            Src::Ctx(source, entries) if source.is_dir => {
                for e in entries {
                    placed.push(copy::Placed {
                        dest: join_rel(&dest_rel, &e.rel),
                        entry: e,
                    });
                }
            }
            Src::Ctx(source, _) if add && copy::is_archive(&source.path) => {
                archives.push(&source.path);
            }
            Src::Ctx(source, entries) => {
                let name = source.rel.rsplit('/').next().unwrap_or(&source.rel);
                let target = if dest_is_dir {
                    join_rel(&dest_rel, name)
                } else {
                    dest_rel.clone()
                };
                placed.push(copy::Placed {
                    dest: target,
                    entry: &entries[0],
                });
            }
            Src::Url(f) => {
                let entry = url_entry.as_ref().ok_or_else(|| {
                    step_err(format!("{}: the download is gone", f.file.display()))
                })?;
                let target = if dest_is_dir {
                    if f.name.is_empty() {
                        return Err(step_err(
                            "cannot name the downloaded file: the URL has no file name; give a destination file",
                        ));
                    }
                    join_rel(&dest_rel, &f.name)
                } else {
                    dest_rel.clone()
                };
                placed.push(copy::Placed {
                    dest: target,
                    entry,
                });
            }
        }
    }
    if let Some((uid, gid)) = owner {
        make_parents(&root, &placed, uid, gid)?;
    }
    if placed
        .iter()
        .any(|p| p.dest.is_empty() && !p.entry.meta.is_dir())
    {
        return Err(step_err("cannot copy a file onto /"));
    }
    let tar = ws_dir.join("copy.tar");
    let file = std::fs::File::create(&tar).map_err(|e| BuildError::Io {
        path: tar.clone(),
        error: e,
    })?;
    let mut w = std::io::BufWriter::new(file);
    w = copy::write_entries(&placed, ov, w)?;
    drop(w);
    apply_tar(&root, &tar)?;
    for a in archives {
        let file = std::fs::File::create(&tar).map_err(|e| BuildError::Io {
            path: tar.clone(),
            error: e,
        })?;
        drop(copy::write_archive(
            a,
            &dest_rel,
            std::io::BufWriter::new(file),
        )?);
        apply_tar(&root, &tar)?;
    }
    let _ = std::fs::remove_file(&tar);
    Ok(())
}

/// The directories a `--chown` copy creates belong to that owner too (as buildah and
/// BuildKit): every missing parent of a destination is made and chowned here first.
fn make_parents(
    root: &Root,
    placed: &[copy::Placed<'_>],
    uid: u32,
    gid: u32,
) -> Result<(), BuildError> {
    use crate::layer::inroot::InPath;
    let mut dirs: Vec<String> = Vec::new();
    for p in placed {
        let comps: Vec<&str> = p.dest.split('/').filter(|c| !c.is_empty()).collect();
        let parents = if p.entry.meta.is_dir() {
            comps.len()
        } else {
            comps.len().saturating_sub(1)
        };
        for i in 1..=parents {
            let d = comps[..i].join("/");
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    for d in dirs {
        let path = InPath::parse(d.as_bytes()).map_err(|e| step_err(e.to_string()))?;
        if root.open_dir(&path).is_ok() {
            continue;
        }
        root.open_dir_create(&path)
            .map_err(|e| io_at(&root.path().join(&d), e))?;
        let fd = root
            .open_dir_rw(&path)
            .map_err(|e| io_at(&root.path().join(&d), e))?;
        nix::unistd::fchown(
            &fd,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(|e| io_at(&root.path().join(&d), e))?;
    }
    Ok(())
}

/// WORKDIR's directory, made if missing; what it makes belongs to the USER in effect
/// (as buildah and BuildKit), root otherwise.
fn make_workdir(rootfs: &Path, path: &str, user: Option<&str>) -> Result<(), BuildError> {
    use crate::layer::inroot::InPath;
    let root = Root::open(rootfs).map_err(|e| io_at(rootfs, e))?;
    let owner = match user {
        Some(u) => {
            let e = crate::bundle::user::resolve(&root, u)
                .map_err(|e| step_err(format!("USER {u}: {e}")))?;
            Some((e.uid, e.gid))
        }
        None => None,
    };
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for i in 1..=comps.len() {
        let rel = comps[..i].join("/");
        let p = InPath::parse(rel.as_bytes()).map_err(|e| step_err(e.to_string()))?;
        if root.open_dir(&p).is_ok() {
            continue;
        }
        let at = rootfs.join(&rel);
        root.open_dir_create(&p).map_err(|e| io_at(&at, e))?;
        if let Some((uid, gid)) = owner {
            let fd = root.open_dir_rw(&p).map_err(|e| io_at(&at, e))?;
            nix::unistd::fchown(
                &fd,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(|e| io_at(&at, e))?;
        }
    }
    Ok(())
}

fn apply_tar(root: &Root, tar: &Path) -> Result<(), BuildError> {
    let f = std::fs::File::open(tar).map_err(|e| BuildError::Io {
        path: tar.to_path_buf(),
        error: e,
    })?;
    crate::layer::extract::apply(root, std::io::BufReader::new(f))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(crate::humanize::go_duration(0), "0s");
        assert_eq!(crate::humanize::go_duration(300_000_000_000), "5m0s");
        assert_eq!(crate::humanize::go_duration(1_500_000_000), "1.5s");
        assert_eq!(crate::humanize::go_duration(3_723_000_000_000), "1h2m3s");
        assert_eq!(crate::humanize::go_duration(300_000_000), "300ms");
        assert_eq!(go_list(&["a".into(), "b c".into()]), r#"["a" "b c"]"#);
    }

    #[test]
    fn workdir_joins() {
        assert_eq!(join_dir("", "a"), "/a");
        assert_eq!(join_dir("/a", "b/../c"), "/a/c");
        assert_eq!(join_dir("/a", "/x"), "/x");
        assert_eq!(join_dir("/a", "."), "/a");
    }

    #[test]
    fn signals() {
        assert!(valid_signal("SIGKILL"));
        assert!(valid_signal("term"));
        assert!(valid_signal("9"));
        assert!(valid_signal("SIGRTMIN+3"));
        assert!(!valid_signal("SIGNOPE"));
        assert!(!valid_signal("99"));
    }

    #[test]
    fn checks_before_running() {
        let opts = |text: &str| Options {
            dockerfile: text.into(),
            dockerfile_name: "Dockerfile".into(),
            context: None,
            tags: vec![],
            build_args: vec![],
            labels: vec![],
            no_cache: false,
            pull: false,
            network: Network::None,
            runtime: PathBuf::from("sangja"),
            progress: progress::Mode::Quiet,
            target: None,
            secrets: vec![],
            platform: None,
            jobs: 1,
        };
        for (text, want) in [
            ("FROM a\nRUNN x", "Dockerfile:2: unknown instruction: RUNN"),
            (
                "ENV a=b\nFROM x",
                "Dockerfile:1: no build stage in current context",
            ),
            (
                "FROM a AS x\nCOPY --from=x a b",
                "Dockerfile:2: circular dependency detected on stage: x",
            ),
            (
                "FROM a\nCOPY --from=y a b\nFROM b AS y",
                "Dockerfile:2: COPY --from=y: stage y is defined later (line 3)",
            ),
            (
                "FROM a\nADD --from=x a b",
                "Dockerfile:2: unknown flag: --from",
            ),
            (
                "FROM a\nRUN --mount=type=nfs,target=/x true",
                "Dockerfile:2: RUN --mount \"type=nfs,target=/x\": unsupported mount type \"nfs\"",
            ),
            (
                "FROM a\nRUN --mount=type=cache,target=/x,colour=red true",
                "Dockerfile:2: RUN --mount",
            ),
            (
                "FROM --platform=linux a\nRUN true",
                "Dockerfile:1: FROM --platform=linux a: FROM --platform=linux:",
            ),
            (
                "ARG P=nope\nFROM --platform=$P a\nRUN true",
                "Dockerfile:2: FROM --platform=$P a: FROM --platform=nope",
            ),
            ("ARG A=1", "no FROM instruction"),
            ("# only a comment\n", "no instructions"),
            (
                "FROM a\nRUN --network=bridge x",
                "Dockerfile:2: RUN --network=bridge",
            ),
            (
                "FROM a\nRUN --mount=type=tmpfs,target=/t --network=bridge x",
                "Dockerfile:2: RUN --network=bridge",
            ),
            (
                "FROM a\nRUN --security=insecure x",
                "RUN --security=insecure (a privileged RUN",
            ),
            (
                "FROM a\nRUN --security=odd x",
                "Dockerfile:2: RUN --security=odd: want sandbox or insecure",
            ),
        ] {
            let e = check(&opts(text)).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
