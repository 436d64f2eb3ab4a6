//! A container's config.json: the bundle spec of its image (runc's defaults, the image's
//! command, env, working dir and user) with the `run` flags applied on top.

use crate::bundle::spec::{self, SpecInputs};
use crate::bundle::user::{self, ExecUser};
use crate::bundle::BundleError;
use crate::image::Image;
use crate::layer::Root;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{flag} {value:?}: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("volume source {0} does not exist")]
    VolumeSource(PathBuf),
    #[error("reading --env-file {path}: {source}")]
    EnvFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading seccomp profile {path}: {source}")]
    Profile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("user: {0}")]
    User(#[from] user::UserError),
}

pub(crate) fn flag(flag: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Flag {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Network {
    #[default]
    None,
    Host,
    /// A CNI bridge network of the store (`bridge`, docker's default, or a user-defined
    /// one), by name.
    Bridge(String),
    /// `container:NAME`: another container's network namespace.
    Container(String),
}

impl std::str::FromStr for Network {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "none" => Ok(Network::None),
            "host" => Ok(Network::Host),
            "" => Err(flag(
                "--network",
                s,
                "want none, host, bridge, NAME or container:NAME",
            )),
            "default" => Ok(Network::Bridge(
                crate::network::store::DEFAULT_NETWORK.into(),
            )),
            _ => match s.strip_prefix("container:") {
                Some("") => Err(flag("--network", s, "container: needs a container name")),
                Some(c) => Ok(Network::Container(c.to_string())),
                None => Ok(Network::Bridge(s.to_string())),
            },
        }
    }
}

/// What `create` made for a bridge or `container:` network: the namespace the runtime
/// joins and the files bind-mounted over /etc/hosts, /etc/resolv.conf, /etc/hostname.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    pub netns: PathBuf,
    /// (source on the host, destination in the container).
    pub files: Vec<(PathBuf, String)>,
    /// The hostname to set (a joined container's own, for `container:`).
    pub hostname: Option<String>,
}

/// What a `-v`/`--mount`/`--tmpfs` mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeKind {
    /// A host path.
    Bind,
    /// A named volume of the store (made on first use); `source` is set to its data
    /// directory when the container is created.
    Named(String),
    /// A new anonymous volume (`-v /path`, an image VOLUME); named at creation.
    Anonymous,
    /// A tmpfs with these extra mount options (size=, mode=).
    Tmpfs(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub kind: VolumeKind,
    pub source: PathBuf,
    pub target: String,
    pub readonly: bool,
}

impl Volume {
    fn new(kind: VolumeKind, source: &str, target: &str, readonly: bool) -> Volume {
        Volume {
            kind,
            source: PathBuf::from(source),
            target: target.to_string(),
            readonly,
        }
    }
}

fn mount_target(flag_name: &'static str, whole: &str, t: &str) -> Result<(), ConfigError> {
    if !t.starts_with('/') {
        return Err(flag(
            flag_name,
            whole,
            "the container path must be absolute",
        ));
    }
    if t == "/" {
        return Err(flag(
            flag_name,
            whole,
            "the container's root cannot be a mount",
        ));
    }
    Ok(())
}

/// docker's `-v`: HOST:CONTAINER[:ro|rw], NAME:CONTAINER[:ro|rw] (a named volume), or
/// CONTAINER alone (an anonymous volume).
impl std::str::FromStr for Volume {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let parts: Vec<&str> = s.split(':').collect();
        let (src, dst, ro) = match parts.as_slice() {
            [a] => {
                mount_target("-v", s, a)?;
                return Ok(Volume::new(VolumeKind::Anonymous, "", a, false));
            }
            [a, b] => (*a, *b, false),
            [a, b, "ro"] => (*a, *b, true),
            [a, b, "rw"] => (*a, *b, false),
            [_, _, o] => return Err(flag("-v", s, format!("unknown option {o:?} (ro or rw)"))),
            _ => {
                return Err(flag(
                    "-v",
                    s,
                    "want HOST:CONTAINER[:ro], NAME:CONTAINER[:ro] or CONTAINER",
                ))
            }
        };
        mount_target("-v", s, dst)?;
        if src.starts_with('/') {
            return Ok(Volume::new(VolumeKind::Bind, src, dst, ro));
        }
        crate::volume::valid_name(src).map_err(|e| flag("-v", s, e.to_string()))?;
        Ok(Volume::new(VolumeKind::Named(src.to_string()), "", dst, ro))
    }
}

/// docker's `--mount type=bind|volume|tmpfs,source=...,target=...[,readonly]
/// [,tmpfs-size=N][,tmpfs-mode=M]`.
pub fn parse_mount(s: &str) -> Result<Volume, ConfigError> {
    let (mut kind, mut source, mut target, mut ro) =
        ("volume", String::new(), String::new(), false);
    let mut tmpfs = Vec::new();
    for field in s.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k.trim() {
            "type" => {
                kind = match v {
                    "bind" => "bind",
                    "volume" => "volume",
                    "tmpfs" => "tmpfs",
                    _ => {
                        return Err(flag(
                            "--mount",
                            s,
                            format!("type {v:?}: want bind, volume or tmpfs"),
                        ))
                    }
                }
            }
            "source" | "src" => source = v.to_string(),
            "target" | "destination" | "dst" => target = v.to_string(),
            "readonly" | "ro" => {
                ro = match v {
                    "" | "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(flag(
                            "--mount",
                            s,
                            format!("readonly={v:?}: want true or false"),
                        ))
                    }
                }
            }
            "tmpfs-size" => tmpfs.push(format!("size={}", parse_size("--mount", v)?)),
            "tmpfs-mode" => {
                u32::from_str_radix(v, 8)
                    .map_err(|_| flag("--mount", s, format!("tmpfs-mode={v:?}: want octal")))?;
                tmpfs.push(format!("mode={v}"));
            }
            other => return Err(flag("--mount", s, format!("unsupported key {other:?}"))),
        }
    }
    if target.is_empty() {
        return Err(flag("--mount", s, "target is required"));
    }
    mount_target("--mount", s, &target)?;
    match kind {
        "bind" => {
            if !source.starts_with('/') {
                return Err(flag(
                    "--mount",
                    s,
                    "a bind source must be an absolute host path",
                ));
            }
            Ok(Volume::new(VolumeKind::Bind, &source, &target, ro))
        }
        "tmpfs" => {
            if !source.is_empty() {
                return Err(flag("--mount", s, "a tmpfs has no source"));
            }
            Ok(Volume::new(VolumeKind::Tmpfs(tmpfs), "", &target, ro))
        }
        _ if source.is_empty() => Ok(Volume::new(VolumeKind::Anonymous, "", &target, ro)),
        _ => {
            crate::volume::valid_name(&source).map_err(|e| flag("--mount", s, e.to_string()))?;
            Ok(Volume::new(
                VolumeKind::Named(source.clone()),
                "",
                &target,
                ro,
            ))
        }
    }
}

/// docker's `--tmpfs /path[:opts]` (opts: size=, mode=, ro, and mount flags).
pub fn parse_tmpfs(s: &str) -> Result<Volume, ConfigError> {
    let (target, opts) = s.split_once(':').unwrap_or((s, ""));
    mount_target("--tmpfs", s, target)?;
    let mut extra = Vec::new();
    let mut ro = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", v)) => extra.push(format!("size={}", parse_size("--tmpfs", v)?)),
            Some(("mode", v)) => {
                u32::from_str_radix(v, 8)
                    .map_err(|_| flag("--tmpfs", s, format!("mode={v:?}: want octal")))?;
                extra.push(format!("mode={v}"));
            }
            None if o == "ro" => ro = true,
            None if ["rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev"].contains(&o) => {
                extra.push(o.to_string())
            }
            _ => return Err(flag("--tmpfs", s, format!("unsupported option {o:?}"))),
        }
    }
    Ok(Volume::new(VolumeKind::Tmpfs(extra), "", target, ro))
}

/// Bytes of a size like 64m (any size, unlike the memory limit's minimum).
fn parse_size(flag_name: &'static str, s: &str) -> Result<i64, ConfigError> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    num.parse::<f64>()
        .ok()
        .filter(|n| *n >= 0.0 && n.is_finite())
        .map(|n| (n * mult as f64) as i64)
        .ok_or_else(|| flag(flag_name, s, "want a size like 64m"))
}

/// What `run` was asked for.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    pub args: Vec<String>,
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub env_files: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub network: Network,
    /// `-p`, parsed (host port 0: picked when the network is attached).
    pub publish: Vec<crate::network::ports::PortMapping>,
    /// `-P`: every EXPOSEd port too.
    pub publish_all: bool,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<String>,
    /// `--dns IP`.
    pub dns: Vec<String>,
    /// Set by `create` once the network is attached.
    pub joined: Option<Joined>,
    pub read_only: bool,
    pub volumes: Vec<Volume>,
    pub tty: bool,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `None`: no seccomp filter.
    pub seccomp_profile: Option<PathBuf>,
    /// `--privileged`, `--ulimit`, `--device`, `--pid/--ipc/--uts`, ...
    pub isolation: super::isolation::Isolation,
    /// `--label`/`--label-file`: the container's labels (config.json annotations, as
    /// inspect and `ps --filter label=` read them), over the image's.
    pub labels: Vec<(String, String)>,
    /// `--init`: this host binary runs as PID 1 (see [`super::init`]).
    pub init: Option<PathBuf>,
}

/// Docker's default capabilities: one list, kept with the docker profile conversion.
pub use sangja_seccomp::docker_profile::DOCKER_DEFAULT_CAPABILITIES as DEFAULT_CAPS;

/// Names in the kernel's bit order (CAP_CHOWN first), as config.json lists them.
fn names(set: caps::CapsHashSet) -> Vec<String> {
    let mut list: Vec<caps::Capability> = set.into_iter().collect();
    list.sort_by_key(|c| c.index());
    list.iter().map(ToString::to_string).collect()
}

/// Every capability the caps crate (and so the runtime) knows: `--cap-add ALL`.
fn all_caps() -> Vec<String> {
    names(caps::all())
}

/// The names of the capabilities in one of this process's sets (bounding, effective).
pub(crate) fn own_capabilities(set: caps::CapSet) -> Vec<String> {
    names(caps::read(None, set).unwrap_or_default())
}

fn cap_name(flag_name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let up = raw.to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if name.parse::<caps::Capability>().is_err() {
        return Err(flag(flag_name, raw, "unknown capability"));
    }
    Ok(name)
}

/// Docker's byte sizes: 100, 100k, 64m, 1g (binary units).
pub fn parse_bytes(flag_name: &'static str, s: &str) -> Result<i64, ConfigError> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| flag(flag_name, s, "want a size like 64m or 1g"))?;
    let bytes = (n * mult as f64) as i64;
    if bytes < 6 << 20 {
        return Err(flag(flag_name, s, "the minimum memory limit is 6m"));
    }
    Ok(bytes)
}

fn env_key(e: &str) -> &str {
    e.split('=').next().unwrap_or(e)
}

fn read_env_file(path: &Path) -> Result<Vec<String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::EnvFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// `K=V` as given; a bare `K` takes the host's value (and is dropped when unset).
fn resolve_env(entries: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for e in entries {
        if e.is_empty() || e.starts_with('=') {
            return Err(flag("-e", e, "want KEY=VALUE"));
        }
        if e.contains('=') {
            out.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            out.push(format!("{e}={v}"));
        }
    }
    Ok(out)
}

/// Checks what can be checked before anything is created: volume sources, env files,
/// sizes, capabilities, the seccomp profile.
pub fn validate(cfg: &RunConfig) -> Result<(), ConfigError> {
    if crate::rootless::active() {
        super::rootless::validate(cfg)?;
    }
    let bridge = matches!(cfg.network, Network::Bridge(_));
    if let Some(p) = cfg.publish.first().filter(|_| !bridge) {
        return Err(flag(
            "-p/--publish",
            &p.to_string(),
            "ports are published only on a bridge network (not with --network none, host or container:)",
        ));
    }
    if cfg.publish_all && !bridge {
        return Err(flag(
            "-P/--publish-all",
            "",
            "ports are published only on a bridge network",
        ));
    }
    for h in &cfg.add_hosts {
        crate::network::hosts::parse_add_host(h)
            .map_err(|e| flag("--add-host", h, e.to_string()))?;
        if !bridge {
            return Err(flag(
                "--add-host",
                h,
                "only with a bridge network (the container's /etc/hosts is written then)",
            ));
        }
    }
    for d in &cfg.dns {
        crate::network::hosts::parse_dns(d).map_err(|e| flag("--dns", d, e.to_string()))?;
        if !bridge {
            return Err(flag(
                "--dns",
                d,
                "only with a bridge network (the container's /etc/resolv.conf is written then)",
            ));
        }
    }
    if let (Network::Container(_), Some(h)) = (&cfg.network, &cfg.hostname) {
        return Err(flag(
            "--hostname",
            h,
            "conflicting options: hostname and the network mode container:",
        ));
    }
    for v in &cfg.volumes {
        if v.kind == VolumeKind::Bind && !v.source.exists() {
            return Err(ConfigError::VolumeSource(v.source.clone()));
        }
    }
    for f in &cfg.env_files {
        read_env_file(f)?;
    }
    resolve_env(&cfg.env)?;
    if let Some(m) = &cfg.memory {
        parse_bytes("--memory", m)?;
    }
    if let Some(c) = &cfg.cpus {
        cpus(c)?;
    }
    for c in &cfg.cap_add {
        cap_name("--cap-add", c)?;
    }
    for c in &cfg.cap_drop {
        cap_name("--cap-drop", c)?;
    }
    if let Some(w) = &cfg.workdir {
        if !w.starts_with('/') {
            return Err(flag("-w", w, "the working directory must be absolute"));
        }
    }
    if let Some(p) = &cfg.seccomp_profile {
        std::fs::metadata(p).map_err(|source| ConfigError::Profile {
            path: p.clone(),
            source,
        })?;
    }
    Ok(())
}

fn cpus(s: &str) -> Result<i64, ConfigError> {
    let n: f64 = s
        .parse()
        .map_err(|_| flag("--cpus", s, "want a number like 1.5"))?;
    if n <= 0.0 || !n.is_finite() {
        return Err(flag("--cpus", s, "must be more than 0"));
    }
    Ok((n * 100_000.0) as i64)
}

/// The args docker would run.
pub fn command(image: &Image, cfg: &RunConfig) -> Vec<String> {
    let conf = image
        .config_raw
        .get("config")
        .cloned()
        .unwrap_or(Value::Null);
    let strings = |k: &str| crate::bundle::spec::config_strings(&conf, k);
    let mut args = match &cfg.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => strings("Entrypoint"),
    };
    if !cfg.args.is_empty() {
        args.extend(cfg.args.iter().cloned());
    } else if cfg.entrypoint.is_none() {
        args.extend(strings("Cmd"));
    }
    args
}

/// The spec for a container of `image` whose root is mounted at `rootfs`.
pub fn build(
    image: &Image,
    rootfs: &Path,
    id: &str,
    cfg: &RunConfig,
) -> Result<Value, ConfigError> {
    let root = Root::open(rootfs).map_err(|e| {
        ConfigError::Bundle(BundleError::Write {
            path: rootfs.to_path_buf(),
            source: e.into(),
        })
    })?;
    let user_spec = match &cfg.user {
        Some(u) => u.clone(),
        None => image
            .config_raw
            .get("config")
            .and_then(|c| c.get("User"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    let exec_user: ExecUser = user::resolve(&root, &user_spec)?;
    let uid = exec_user.uid;
    let args = command(image, cfg);
    let mut spec = spec::build(SpecInputs {
        image,
        user: exec_user,
        args,
        seccomp_profile: None,
    })?;

    // Environment: the image's, then --env-file, then -e, later ones winning.
    let mut env: Vec<String> = spec["process"]["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut extra = Vec::new();
    for f in &cfg.env_files {
        extra.extend(read_env_file(f)?);
    }
    extra.extend(cfg.env.iter().cloned());
    for e in resolve_env(&extra)? {
        env.retain(|x| env_key(x) != env_key(&e));
        env.push(e);
    }
    if !env.iter().any(|e| env_key(e) == "HOSTNAME") {
        env.push(format!(
            "HOSTNAME={}",
            cfg.hostname.clone().unwrap_or_else(|| id[..12].to_string())
        ));
    }
    let process = &mut spec["process"];
    process["env"] = json!(env);
    process["terminal"] = json!(cfg.tty);
    if let Some(w) = &cfg.workdir {
        process["cwd"] = json!(w);
    }

    // Capabilities: docker's defaults, then --cap-add / --cap-drop; a non-root user
    // keeps only the bounding set.
    // docker's order: ALL in --cap-add or --cap-drop picks the base set, then the
    // named additions, then the named drops.
    let adds = cfg
        .cap_add
        .iter()
        .map(|c| cap_name("--cap-add", c))
        .collect::<Result<Vec<_>, _>>()?;
    let drops = cfg
        .cap_drop
        .iter()
        .map(|c| cap_name("--cap-drop", c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut caps: Vec<String> = if adds.iter().any(|c| c == "ALL") {
        all_caps()
    } else if drops.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    for c in adds.iter().filter(|c| *c != "ALL") {
        if !caps.contains(c) {
            caps.push(c.clone());
        }
    }
    for c in drops.iter().filter(|c| *c != "ALL") {
        caps.retain(|x| x != c);
    }
    let effective = if uid == 0 { caps.clone() } else { Vec::new() };
    process["capabilities"] = json!({
        "bounding": caps,
        "effective": effective,
        "permitted": effective,
    });

    spec["root"]["readonly"] = json!(cfg.read_only);
    match &cfg.network {
        Network::None => {
            spec["hostname"] = json!(cfg.hostname.clone().unwrap_or_else(|| id[..12].to_string()));
        }
        Network::Host => {
            let ns = spec["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces");
            ns.retain(|n| n["type"] != "network");
            match &cfg.hostname {
                Some(h) => spec["hostname"] = json!(h),
                None => {
                    // docker --network host shares the host's name too.
                    ns.retain(|n| n["type"] != "uts");
                    spec.as_object_mut().expect("spec").remove("hostname");
                }
            }
        }
        Network::Bridge(_) | Network::Container(_) => {
            let joined = cfg.joined.as_ref().ok_or_else(|| {
                flag(
                    "--network",
                    "",
                    "the network was not attached before config.json",
                )
            })?;
            for n in spec["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
            {
                if n["type"] == "network" {
                    n["path"] = json!(joined.netns);
                }
            }
            let name = joined
                .hostname
                .clone()
                .or_else(|| cfg.hostname.clone())
                .unwrap_or_else(|| id[..12].to_string());
            spec["hostname"] = json!(name);
        }
    }

    if let Some(init) = &cfg.init {
        let args = super::init::wrap(command(image, cfg));
        spec["process"]["args"] = json!(args);
        spec["mounts"]
            .as_array_mut()
            .expect("runc spec has mounts")
            .push(super::init::mount(init));
    }
    let mounts = spec["mounts"].as_array_mut().expect("runc spec has mounts");
    if cfg.network == Network::Host {
        for f in ["/etc/resolv.conf", "/etc/hosts"] {
            if Path::new(f).is_file() && !cfg.volumes.iter().any(|v| v.target == f) {
                mounts.push(json!({
                    "destination": f, "type": "bind", "source": f,
                    "options": ["rbind", "rprivate", "ro"],
                }));
            }
        }
    }
    if let Some(j) = &cfg.joined {
        for (source, dest) in &j.files {
            if !cfg.volumes.iter().any(|v| v.target == *dest) {
                mounts.push(json!({
                    "destination": dest, "type": "bind", "source": source,
                    "options": ["rbind", "rprivate"],
                }));
            }
        }
    }
    for v in &cfg.volumes {
        mounts.retain(|m| m["destination"] != v.target.as_str());
        if let VolumeKind::Tmpfs(extra) = &v.kind {
            // docker's tmpfs defaults.
            let mut options: Vec<String> = ["nosuid", "nodev", "noexec"].map(String::from).to_vec();
            options.retain(|o| {
                !extra
                    .iter()
                    .any(|e| e.trim_start_matches("no") == o.trim_start_matches("no"))
            });
            options.extend(extra.iter().cloned());
            if !extra.iter().any(|e| e.starts_with("mode=")) {
                options.push("mode=1777".into());
            }
            if v.readonly {
                options.push("ro".into());
            }
            mounts.push(json!({
                "destination": v.target, "type": "tmpfs", "source": "tmpfs", "options": options,
            }));
            continue;
        }
        let mut options = vec!["rbind", "rprivate"];
        if v.readonly {
            options.push("ro");
        }
        mounts.push(json!({
            "destination": v.target,
            "type": "bind",
            "source": v.source,
            "options": options,
        }));
    }

    let resources = &mut spec["linux"]["resources"];
    if let Some(m) = &cfg.memory {
        let bytes = parse_bytes("--memory", m)?;
        resources["memory"] = json!({ "limit": bytes });
    }
    if let Some(c) = &cfg.cpus {
        resources["cpu"] = json!({ "quota": cpus(c)?, "period": 100_000 });
    }
    if let Some(p) = cfg.pids_limit {
        resources["pids"] = json!({ "limit": p });
    }

    if let Some(p) = &cfg.seccomp_profile {
        let profile = std::fs::read(p).map_err(|source| ConfigError::Profile {
            path: p.clone(),
            source,
        })?;
        spec::apply_seccomp(&mut spec, &profile)?;
    }
    for (k, v) in &cfg.labels {
        spec["annotations"][k.as_str()] = json!(v);
    }
    super::isolation::apply(&mut spec, &cfg.isolation);
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone())
        .map_err(|e| BundleError::Spec(e.to_string()))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_in_bit_order() {
        let all = all_caps();
        assert_eq!(all.first().map(String::as_str), Some("CAP_CHOWN"));
        assert_eq!(
            all.get(40).map(String::as_str),
            Some("CAP_CHECKPOINT_RESTORE")
        );
        let bounding = own_capabilities(caps::CapSet::Bounding);
        assert!(bounding.iter().all(|c| all.contains(c)), "{bounding:?}");
        assert_eq!(cap_name("--cap-add", "net_raw").unwrap(), "CAP_NET_RAW");
        assert_eq!(cap_name("--cap-add", "all").unwrap(), "ALL");
        let err = cap_name("--cap-add", "CAP_NOPE").unwrap_err().to_string();
        assert!(
            err.contains("--cap-add") && err.contains("unknown capability"),
            "{err}"
        );
    }
}
