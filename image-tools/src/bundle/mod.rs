//! `bundle`: an OCI runtime bundle (rootfs + config.json) from an image.

pub mod spec;
pub mod user;

use crate::image::Image;
use crate::layer::Root;
use crate::store::Store;
use crate::unpack::{self, Cleanup, UnpackError};
use std::path::{Path, PathBuf};

pub const DEFAULT_SECCOMP_PROFILE: &str = "/usr/share/containers/seccomp.json";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("image {0} has no command: it sets neither Entrypoint nor Cmd (give one after --)")]
    NoCommand(String),
    #[error("image user: {0}")]
    User(#[from] user::UserError),
    #[error("seccomp profile: {0}")]
    Seccomp(String),
    #[error(
        "reading seccomp profile {path}: {source} (use --seccomp-profile PATH or --no-seccomp)"
    )]
    Profile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("building config.json: {0}")]
    Spec(String),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
}

pub struct Options {
    pub args: Vec<String>,
    /// `None`: no seccomp filter.
    pub seccomp_profile: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            args: Vec::new(),
            seccomp_profile: Some(PathBuf::from(DEFAULT_SECCOMP_PROFILE)),
        }
    }
}

/// Writes `dir/rootfs` and `dir/config.json`. `dir` must be missing or empty; on any
/// error it is left as it was.
pub fn bundle(store: &Store, image: &Image, dir: &Path, opts: &Options) -> Result<(), BundleError> {
    // Read the profile before writing anything, so a bad path leaves nothing behind.
    let profile = match &opts.seccomp_profile {
        Some(p) => Some(std::fs::read(p).map_err(|source| BundleError::Profile {
            path: p.clone(),
            source,
        })?),
        None => None,
    };
    if opts.args.is_empty() && !spec::has_command(image) {
        return Err(BundleError::NoCommand(image.label()));
    }
    let cleanup = Cleanup::claim(dir)?;
    let rootfs = dir.join("rootfs");
    std::fs::create_dir(&rootfs).map_err(|source| UnpackError::Io {
        path: rootfs.clone(),
        source,
    })?;
    unpack::unpack_into(store, image, &rootfs)?;
    let root = Root::open(&rootfs).map_err(|e| UnpackError::Io {
        path: rootfs.clone(),
        source: e.into(),
    })?;
    let user_spec = image
        .config_raw
        .get("config")
        .and_then(|c| c.get("User"))
        .and_then(|u| u.as_str())
        .unwrap_or("");
    let exec_user = user::resolve(&root, user_spec)?;
    let mut spec = spec::build(spec::SpecInputs {
        image,
        user: exec_user,
        args: opts.args.clone(),
        seccomp_profile: profile,
    })?;
    // Without root the files unpacked are all the caller's: a bundle for a rootless
    // runtime, mapping just the caller's ids, as `runc spec --rootless`.
    if crate::rootless::active() {
        crate::rootless::rootless_spec(&mut spec, &crate::rootless::Mapping::own());
    }
    let path = dir.join("config.json");
    let data = serde_json::to_vec_pretty(&spec).map_err(|e| BundleError::Spec(e.to_string()))?;
    std::fs::write(&path, data).map_err(|source| BundleError::Write { path, source })?;
    cleanup.keep();
    Ok(())
}
