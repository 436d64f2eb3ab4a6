//! A RUN step's `--mount`s made real for one container: cache directories kept in the
//! store (`build-mounts/cache/<digest of id>`, never in a layer) with their sharing
//! lock; binds of the context or of another stage's or image's root, read-only, or with
//! `rw` through a throwaway overlay (or copy, for a file) so the writes go nowhere;
//! tmpfs; secrets copied into the workspace (mode 0400 by default) and bound read-only.
//! [`Prepared`] holds the OCI mounts, the locks and the overlays; dropping it releases
//! them.

use super::BuildError;
use crate::container::snapshot;
use crate::digest::Digest;
use crate::dockerfile::mount::{Mount, Sharing};
use nix::fcntl::{Flock, FlockArg};
use serde_json::{json, Value};
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What a mount needs that only the builder knows.
pub struct Inputs<'a> {
    /// The store's folder (cache mounts live there).
    pub store_root: &'a Path,
    /// A directory of this step in the workspace, removed with it.
    pub scratch: PathBuf,
    /// Per bind mount, in order: what it shows.
    pub bind_roots: Vec<BindRoot>,
    /// `build --secret`: id and content.
    pub secrets: &'a [(String, Vec<u8>)],
}

#[derive(Default)]
pub struct Prepared {
    /// OCI runtime mounts, in the order written.
    pub mounts: Vec<Value>,
    /// `KEY=VALUE` for secrets given as `env=`.
    pub env: Vec<String>,
    /// Where mounts appear, relative to the rootfs (their empty mount points are taken
    /// out of the layer).
    pub targets: Vec<String>,
    locks: Vec<Flock<File>>,
    overlays: Vec<PathBuf>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        for o in self.overlays.drain(..).rev() {
            if let Err(e) = snapshot::unmount(&o) {
                tracing::warn!(error = %e, "unmounting a RUN --mount overlay");
            }
        }
        self.locks.clear();
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |error| BuildError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn step(m: String) -> BuildError {
    BuildError::Step(m)
}

fn bind(target: &str, source: &Path, ro: bool) -> Value {
    let mut options = vec!["rbind"];
    if ro {
        options.push("ro");
    }
    json!({
        "destination": target,
        "type": "bind",
        "source": source.display().to_string(),
        "options": options,
    })
}

fn set_owner_mode(path: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), BuildError> {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(|e| io_err(path)(e.into()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

/// `source` inside `root`, every symlink resolved and still inside.
fn resolve_in(root: &Path, source: &str) -> Result<PathBuf, BuildError> {
    let rel = crate::dockerfile::ignore::clean(source.trim_start_matches('/'));
    if rel == ".." || rel.starts_with("../") {
        return Err(step(format!("source={source}: outside the mount's root")));
    }
    let root = fs::canonicalize(root).map_err(io_err(root))?;
    let path = if rel == "." {
        root.clone()
    } else {
        root.join(&rel)
    };
    let real = fs::canonicalize(&path)
        .map_err(|e| step(format!("source={source}: {}: {e}", path.display())))?;
    if !real.starts_with(&root) {
        return Err(step(format!(
            "source={source}: a symlink leads outside the mount's root"
        )));
    }
    Ok(real)
}

/// What a bind mount shows.
pub enum BindRoot {
    /// The mount's `source` inside this directory (a stage's or an image's root, or a
    /// context without .dockerignore).
    Dir(PathBuf),
    /// The source's entries in a context with .dockerignore: copied for the step so the
    /// files it excludes are not there (as BuildKit, which never sends them).
    Entries(Vec<super::context::Entry>),
}

/// Copies `entries` (relative to their source; `""` for a file source) into `dir`.
/// Returns the path the mount shows.
fn materialize(entries: &[super::context::Entry], dir: &Path) -> Result<PathBuf, BuildError> {
    let root_dir = dir.join("root");
    fs::create_dir_all(&root_dir).map_err(io_err(&root_dir))?;
    let file_source = matches!(entries, [e] if e.rel.is_empty());
    let placed: Vec<super::copy::Placed<'_>> = entries
        .iter()
        .map(|e| super::copy::Placed {
            dest: if e.rel.is_empty() {
                "file".into()
            } else {
                e.rel.clone()
            },
            entry: e,
        })
        .collect();
    let tar = dir.join("source.tar");
    let f = File::create(&tar).map_err(io_err(&tar))?;
    drop(super::copy::write_entries(
        &placed,
        super::copy::Overrides::default(),
        std::io::BufWriter::new(f),
    )?);
    let root = crate::layer::Root::open(&root_dir).map_err(|e| io_err(&root_dir)(e.into()))?;
    let f = File::open(&tar).map_err(io_err(&tar))?;
    crate::layer::extract::apply(&root, std::io::BufReader::new(f))?;
    let _ = fs::remove_file(&tar);
    Ok(if file_source {
        root_dir.join("file")
    } else {
        root_dir
    })
}

/// Makes the step's mounts.
pub fn prepare(list: &[Mount], inputs: Inputs<'_>) -> Result<Prepared, BuildError> {
    let mut out = Prepared::default();
    let mut roots = inputs.bind_roots.into_iter();
    for (i, m) in list.iter().enumerate() {
        let scratch = inputs.scratch.join(i.to_string());
        match m {
            Mount::Bind {
                target, source, rw, ..
            } => {
                let src = match roots.next().expect("a root per bind mount") {
                    BindRoot::Dir(root) => resolve_in(&root, source)?,
                    BindRoot::Entries(entries) => materialize(&entries, &scratch.join("source"))?,
                };
                if !rw {
                    out.mounts.push(bind(target, &src, true));
                } else if src.is_dir() {
                    // Writes land in an upper dir the workspace throws away.
                    fs::create_dir_all(&scratch).map_err(io_err(&scratch))?;
                    let merged = scratch.join("merged");
                    let src = fs::canonicalize(&src).map_err(io_err(&src))?;
                    snapshot::mount_overlay_stack_in(
                        &scratch,
                        std::slice::from_ref(&src),
                        &scratch.join("upper"),
                        &scratch.join("work"),
                        &merged,
                    )
                    .map_err(|e| BuildError::Snapshot(Box::new(e)))?;
                    out.overlays.push(merged.clone());
                    out.mounts.push(bind(target, &merged, false));
                } else {
                    fs::create_dir_all(&scratch).map_err(io_err(&scratch))?;
                    let copy = scratch.join("file");
                    fs::copy(&src, &copy).map_err(io_err(&src))?;
                    out.mounts.push(bind(target, &copy, false));
                }
                out.targets.push(target.clone());
            }
            Mount::Cache {
                target,
                id,
                sharing,
                readonly,
                mode,
                uid,
                gid,
            } => {
                // Absolute: the runtime gets it as a mount source.
                let base = std::path::absolute(inputs.store_root)
                    .map_err(io_err(inputs.store_root))?
                    .join("build-mounts")
                    .join("cache");
                fs::create_dir_all(&base).map_err(io_err(&base))?;
                let name = Digest::of_bytes(id.as_bytes()).hex().to_string();
                let lock_path = base.join(format!("{name}.lock"));
                let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
                let arg = match sharing {
                    Sharing::Shared => FlockArg::LockShared,
                    Sharing::Locked => FlockArg::LockExclusive,
                    Sharing::Private => FlockArg::LockExclusiveNonblock,
                };
                let dir = match Flock::lock(lock, arg) {
                    Ok(l) => {
                        out.locks.push(l);
                        base.join(&name)
                    }
                    // `private`: someone else uses it, so this step gets its own.
                    Err((_, nix::Error::EWOULDBLOCK)) if *sharing == Sharing::Private => {
                        scratch.join("private-cache")
                    }
                    Err((_, e)) => return Err(io_err(&lock_path)(e.into())),
                };
                if !dir.exists() {
                    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                    set_owner_mode(&dir, *mode, *uid, *gid)?;
                }
                out.mounts.push(bind(target, &dir, *readonly));
                out.targets.push(target.clone());
            }
            Mount::Tmpfs { target, size } => {
                let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
                if let Some(s) = size {
                    options.push(format!("size={s}"));
                }
                out.mounts.push(json!({
                    "destination": target,
                    "type": "tmpfs",
                    "source": "tmpfs",
                    "options": options,
                }));
                out.targets.push(target.clone());
            }
            Mount::Secret {
                id,
                env,
                required,
                mode,
                uid,
                gid,
                ..
            } => {
                let Some((_, content)) = inputs.secrets.iter().rev().find(|(k, _)| k == id) else {
                    if *required {
                        return Err(step(format!(
                            "secret {id}: not found (give it with build --secret id={id},src=FILE)"
                        )));
                    }
                    // Not given and not required: no mount at all (BuildKit).
                    continue;
                };
                if let Some(var) = env {
                    let text = String::from_utf8(content.clone())
                        .map_err(|_| step(format!("secret {id}: env={var} needs UTF-8 content")))?;
                    out.env.push(format!("{var}={text}"));
                }
                let Some(target) = m.target() else {
                    continue;
                };
                fs::create_dir_all(&scratch).map_err(io_err(&scratch))?;
                let file = scratch.join("secret");
                // Owner-only from the start: the content never sits in a readable file.
                {
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&file)
                        .and_then(|mut f| f.write_all(content))
                        .map_err(io_err(&file))?;
                }
                set_owner_mode(&file, *mode, *uid, *gid)?;
                out.mounts.push(bind(&target, &file, true));
                out.targets.push(target);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(sharing: Sharing) -> Mount {
        Mount::Cache {
            target: "/c".into(),
            id: "same".into(),
            sharing,
            readonly: false,
            mode: 0o755,
            uid: 0,
            gid: 0,
        }
    }

    fn source_of(store: &Path, scratch: &str, m: Mount) -> (Prepared, String) {
        let p = prepare(
            &[m],
            Inputs {
                store_root: store,
                scratch: store.join(scratch),
                bind_roots: vec![],
                secrets: &[],
            },
        )
        .unwrap();
        let src = p.mounts[0]["source"].as_str().unwrap().to_string();
        (p, src)
    }

    #[test]
    fn cache_sharing() {
        let d = tempfile::tempdir().unwrap();
        let (first, shared) = source_of(d.path(), "s1", cache(Sharing::Shared));
        // Another shared user gets the same directory; a private one its own while the
        // first holds it, and the common one once it is free.
        let (_second, again) = source_of(d.path(), "s2", cache(Sharing::Shared));
        assert_eq!(shared, again);
        let (_p, private) = source_of(d.path(), "s3", cache(Sharing::Private));
        assert_ne!(private, shared);
        assert!(private.contains("s3"), "{private}");
        drop(first);
        drop(_second);
        let (_p, private) = source_of(d.path(), "s4", cache(Sharing::Private));
        assert_eq!(private, shared);
    }

    #[test]
    fn binds_stay_in_their_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        std::os::unix::fs::symlink("sub", root.join("in")).unwrap();
        assert!(resolve_in(&root, "in").unwrap().ends_with("sub"));
        assert!(resolve_in(&root, "/").is_ok());
        for s in ["out", "../x", "nope"] {
            assert!(resolve_in(&root, s).is_err(), "{s}");
        }
    }
}
