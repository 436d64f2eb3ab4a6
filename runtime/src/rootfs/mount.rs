//! One `mounts[i]` entry, mounted onto a destination resolved inside the rootfs.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::Mount;

use super::options::{self, MountOptions};
use super::resolve::{self, Create};
use super::{cgroupfs, Ctx, RootfsError};
use crate::syscall::{self, fd_path, MountAttr, AT_RECURSIVE};

pub fn mount_entry(ctx: &Ctx, index: usize, m: &Mount) -> Result<(), RootfsError> {
    let dest_raw = m.destination();
    let err = |msg: String| RootfsError::Mount {
        index,
        dest: dest_raw.display().to_string(),
        msg,
    };
    if !dest_raw.is_absolute() {
        tracing::warn!(
            "mounts[{index}]: destination {} is not absolute; taking it against /",
            dest_raw.display()
        );
    }
    let opts = options::parse(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = resolve::clean(dest_raw);

    if typ == "cgroup" || typ == "cgroup2" {
        return cgroupfs::mount_cgroup(ctx, &dest, typ, &opts).map_err(err);
    }
    if opts.is_bind() || typ == "bind" {
        return bind(ctx, index, m, &dest, &opts).map_err(err);
    }
    if typ.is_empty() {
        return Err(err("type is missing (and no bind option)".into()));
    }
    let target = resolve::open_in_root(super::ctx_root(ctx), &dest, Create::Dir)
        .map_err(|e| err(format!("creating destination: {e}")))?;
    if resolve::file_type(&target).map_err(|e| err(e.to_string()))? != libc::S_IFDIR {
        return Err(err("destination is not a directory".into()));
    }
    let source = m
        .source()
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_else(|| typ.to_string());
    let mut flags = opts.flags().difference(MsFlags::MS_REMOUNT);
    // tmpfs is filled (tmpcopyup) before it turns read-only, so it is mounted writable first.
    let late_ro = typ == "tmpfs" && flags.contains(MsFlags::MS_RDONLY);
    if late_ro {
        flags.remove(MsFlags::MS_RDONLY);
    }
    let data = opts.data_string();
    let tpath = fd_path(target.as_raw_fd());
    match mount(
        Some(source.as_str()),
        tpath.as_c_str(),
        Some(typ),
        flags,
        data.as_deref(),
    ) {
        Ok(()) => {}
        Err(nix::errno::Errno::EPERM) if typ == "mqueue" || (typ == "sysfs" && !ctx.netns) => {
            // runc's fallback: without the right namespace the kernel refuses a new
            // instance, so the host's is bound read-only-as-asked instead.
            let host = if typ == "mqueue" {
                "/dev/mqueue"
            } else {
                "/sys"
            };
            mount(
                Some(host),
                tpath.as_c_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| err(format!("binding {host} (fallback for {typ}): {e}")))?;
        }
        Err(nix::errno::Errno::ENODEV) => {
            return Err(err(format!("unknown filesystem type {typ:?}")))
        }
        Err(e) => {
            let detail = data
                .as_deref()
                .map(|d| format!(" with data {d:?}"))
                .unwrap_or_default();
            return Err(err(format!("mounting {typ} {source}{detail}: {e}")));
        }
    }
    let mounted = reopen(ctx, &dest).map_err(&err)?;
    if opts.tmpcopyup {
        copy_up(ctx, &dest, &mounted).map_err(&err)?;
    }
    if late_ro {
        remount(&mounted, MsFlags::MS_RDONLY | flags, data.as_deref())
            .map_err(|e| err(format!("remounting read-only: {e}")))?;
    }
    after(ctx, &dest, &opts).map_err(err)
}

fn bind(
    ctx: &Ctx,
    index: usize,
    m: &Mount,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), String> {
    let source = m.source().as_ref().ok_or("bind mount without a source")?;
    // Relative sources are taken against the bundle, which is our working directory.
    let meta =
        std::fs::metadata(source).map_err(|e| format!("source {}: {e}", source.display()))?;
    let create = if meta.is_dir() {
        Create::Dir
    } else {
        Create::File
    };
    let target = resolve::open_in_root(super::ctx_root(ctx), dest, create)
        .map_err(|e| format!("creating destination: {e}"))?;
    let ty = resolve::file_type(&target).map_err(|e| e.to_string())?;
    if (ty == libc::S_IFDIR) != meta.is_dir() {
        return Err(format!(
            "source {} and destination differ in type (file vs directory)",
            source.display()
        ));
    }
    let tpath = fd_path(target.as_raw_fd());
    if let Some((_, tree)) = ctx.idmapped.iter().find(|(i, _)| *i == index) {
        super::idmap::attach(*tree, target.as_raw_fd())
            .map_err(|e| format!("attaching the idmapped mount: {e}"))?;
        // SAFETY: the descriptor was inherited for this one attach.
        unsafe { libc::close(*tree) };
        let extra = opts
            .flags()
            .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            let mounted = reopen(ctx, dest)?;
            remount(&mounted, MsFlags::MS_BIND | extra, None)
                .map_err(|e| format!("remounting with {extra:?}: {e}"))?;
        }
        let mut rest = opts.clone();
        rest.idmap = false;
        return after(ctx, dest, &rest);
    }
    let rec = opts.set & MsFlags::MS_REC;
    mount(
        Some(source.as_path()),
        tpath.as_c_str(),
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .map_err(|e| format!("bind-mounting {}: {e}", source.display()))?;
    let extra = opts
        .flags()
        .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if !extra.is_empty() {
        let mounted = reopen(ctx, dest)?;
        // A bind mount takes flags only on remount; the source's locked flags (nosuid,
        // nodev, noexec, atime) must be kept or the kernel refuses in a user namespace.
        let locked = locked_flags(source);
        remount(&mounted, MsFlags::MS_BIND | extra | locked, None)
            .map_err(|e| format!("remounting with {extra:?}: {e}"))?;
    }
    after(ctx, dest, opts)
}

/// Propagation flags and recursive attributes, applied once the mount exists.
fn after(ctx: &Ctx, dest: &Path, opts: &MountOptions) -> Result<(), String> {
    if opts.propagation.is_empty() && opts.rec_set == 0 && opts.rec_clear == 0 && !opts.idmap {
        return Ok(());
    }
    let mounted = reopen(ctx, dest)?;
    let p = fd_path(mounted.as_raw_fd());
    for prop in &opts.propagation {
        mount(
            None::<&str>,
            p.as_c_str(),
            None::<&str>,
            *prop,
            None::<&str>,
        )
        .map_err(|e| format!("setting propagation {prop:?}: {e}"))?;
    }
    if opts.rec_set != 0 || opts.rec_clear != 0 {
        let attr = MountAttr {
            attr_set: opts.rec_set,
            attr_clr: opts.rec_clear,
            ..Default::default()
        };
        syscall::mount_setattr(
            mounted.as_raw_fd(),
            c"",
            AT_RECURSIVE | libc::AT_EMPTY_PATH as u32,
            &attr,
        )
        .map_err(|e| format!("mount_setattr (recursive options): {e}"))?;
    }
    if opts.idmap {
        return Err("idmap/ridmap applies to bind mounts only".into());
    }
    Ok(())
}

fn reopen(ctx: &Ctx, dest: &Path) -> Result<std::os::fd::OwnedFd, String> {
    resolve::open_in_root(super::ctx_root(ctx), dest, Create::No)
        .map_err(|e| format!("reopening destination: {e}"))
}

fn remount(target: &impl AsFd, flags: MsFlags, data: Option<&str>) -> Result<(), nix::Error> {
    let p = fd_path(target.as_fd().as_raw_fd());
    mount(
        None::<&str>,
        p.as_c_str(),
        None::<&str>,
        MsFlags::MS_REMOUNT | flags,
        data,
    )
}

/// The per-mount flags of whatever holds `path` that an unprivileged remount may not drop.
pub fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// Remounts the mount at `path` read-only, keeping its other flags.
pub fn remount_readonly(path: &Path) -> Result<(), nix::Error> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked_flags(path);
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
}

/// runc's `tmpcopyup`: what the image had under a tmpfs destination is copied into it.
fn copy_up(ctx: &Ctx, dest: &Path, mounted: &std::os::fd::OwnedFd) -> Result<(), String> {
    // The covered directory is still reachable through the rootfs path in our namespace
    // only via a second bind; the simple, safe way is a private bind of the rootfs.
    let scratch = PathBuf::from(format!("/tmp/.sangja-copyup.{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("tmpcopyup: {e}"))?;
    let root_path = fd_path(ctx.root.as_raw_fd());
    let result = (|| {
        mount(
            Some(root_path.as_c_str()),
            &scratch,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("tmpcopyup: {e}"))?;
        let from = scratch.join(dest);
        let to = fd_path(mounted.as_raw_fd());
        let to = PathBuf::from(to.to_str().unwrap_or_default());
        let r = copy_tree(&from, &to);
        let _ = nix::mount::umount2(&scratch, nix::mount::MntFlags::MNT_DETACH);
        r
    })();
    let _ = std::fs::remove_dir(&scratch);
    result
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("tmpcopyup {}: {e}", from.display())),
    };
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let meta = entry.path().symlink_metadata().map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(entry.path()).map_err(|e| e.to_string())?;
            std::os::unix::fs::symlink(link, &target).map_err(|e| e.to_string())?;
        } else if meta.is_dir() {
            std::fs::create_dir(&target).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(meta.mode()))
                .map_err(|e| e.to_string())?;
            copy_tree(&entry.path(), &target)?;
        } else if meta.is_file() {
            std::fs::copy(entry.path(), &target).map_err(|e| e.to_string())?;
        }
        let c = CString::new(target.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: lchown on a path we just created.
        unsafe { libc::lchown(c.as_ptr(), meta.uid(), meta.gid()) };
    }
    Ok(())
}
