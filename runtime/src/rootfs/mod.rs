//! The container's root filesystem: propagation, the mounts of config.json, devices,
//! pivot_root, and the masked and read-only paths, all resolved inside the rootfs.

pub mod cgroupfs;
pub mod devices;
pub mod idmap;
pub mod masked;
pub mod mount;
pub mod options;
pub mod pivot;
pub mod resolve;

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount as sys_mount, MsFlags};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mounts[{index}] ({dest}): {msg}")]
    Mount {
        index: usize,
        dest: String,
        msg: String,
    },
    #[error("linux.devices[{index}] ({path}): {msg}")]
    Device {
        index: usize,
        path: String,
        msg: String,
    },
    #[error("linux.{field}: {path}: {msg}")]
    Path {
        field: &'static str,
        path: String,
        msg: String,
    },
    #[error("rootfs {path}: {msg}")]
    Root { path: PathBuf, msg: String },
}

/// What the mount code needs to know about the container being built.
pub struct Ctx<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    /// O_PATH descriptor of the rootfs after it became its own mount.
    pub root: OwnedFd,
    pub userns: bool,
    pub cgroupns: bool,
    pub netns: bool,
    /// Prepared idmapped mounts: (mounts index, detached mount descriptor).
    pub idmapped: Vec<(usize, i32)>,
}

impl Ctx<'_> {
    pub fn has_new(spec: &Spec, t: LinuxNamespaceType) -> bool {
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == t && n.path().is_none()))
    }
    pub fn has(spec: &Spec, t: LinuxNamespaceType) -> bool {
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
    }
}

fn root_err(rootfs: &Path, what: &str, e: impl std::fmt::Display) -> RootfsError {
    RootfsError::Root {
        path: rootfs.to_path_buf(),
        msg: format!("{what}: {e}"),
    }
}

/// Sets the propagation of `/`, makes the rootfs a mount of its own and mounts every
/// entry of `mounts`, then creates devices. Runs in the container's new mount namespace.
pub fn prepare<'a>(
    spec: &'a Spec,
    rootfs: &'a Path,
    idmapped: Vec<(usize, i32)>,
) -> Result<Ctx<'a>, RootfsError> {
    let linux = spec.linux().as_ref();
    let prop = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some(p) => options::propagation(p).ok_or_else(|| RootfsError::Path {
            field: "rootfsPropagation",
            path: p.to_string(),
            msg: "unknown propagation mode".into(),
        })?,
    };
    sys_mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
        .map_err(|e| root_err(rootfs, "setting propagation of /", e))?;
    parent_mount_private(rootfs)?;
    sys_mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| root_err(rootfs, "bind-mounting the rootfs onto itself", e))?;
    let root = File::options()
        .read(true)
        .custom_flags_dir()
        .open(rootfs)
        .map_err(|e| root_err(rootfs, "opening", e))?;
    let ctx = Ctx {
        spec,
        rootfs,
        root: OwnedFd::from(root),
        userns: Ctx::has(spec, LinuxNamespaceType::User),
        cgroupns: Ctx::has_new(spec, LinuxNamespaceType::Cgroup),
        netns: Ctx::has(spec, LinuxNamespaceType::Network),
        idmapped,
    };
    for (index, m) in spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        mount::mount_entry(&ctx, index, m)?;
    }
    let dev_bound = spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|m| {
            resolve::clean(m.destination()) == Path::new("dev")
                && options::parse(m.options().as_deref().unwrap_or_default()).is_bind()
        });
    if !dev_bound {
        devices::create(&ctx)?;
        devices::symlinks(&ctx)?;
    }
    Ok(ctx)
}

trait DirOpen {
    fn custom_flags_dir(&mut self) -> &mut Self;
}

impl DirOpen for std::fs::OpenOptions {
    fn custom_flags_dir(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
    }
}

/// pivot_root refuses a new root whose parent mount is shared: make that parent private,
/// as runc does (only the mount holding the rootfs, in our own namespace).
fn parent_mount_private(rootfs: &Path) -> Result<(), RootfsError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| root_err(rootfs, "reading mountinfo", e))?;
    let mut best: Option<(&str, bool)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 7 {
            continue;
        }
        let mp = f[4];
        let inside = rootfs.starts_with(mp);
        if inside && best.is_none_or(|(b, _)| mp.len() >= b.len()) {
            let shared = f[6..]
                .iter()
                .take_while(|x| **x != "-")
                .any(|x| x.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        sys_mount(
            None::<&str>,
            mp,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| root_err(rootfs, &format!("making parent mount {mp} private"), e))?;
    }
    Ok(())
}

/// After pivot_root: remount read-only what was asked to be read-only at the end.
pub fn finalize(spec: &Spec) -> Result<(), RootfsError> {
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if readonly {
        mount::remount_readonly(Path::new("/")).map_err(|e| RootfsError::Root {
            path: "/".into(),
            msg: format!("remounting read-only: {e}"),
        })?;
    }
    Ok(())
}

pub(crate) fn ctx_root<'a>(ctx: &'a Ctx<'_>) -> std::os::fd::BorrowedFd<'a> {
    ctx.root.as_fd()
}
