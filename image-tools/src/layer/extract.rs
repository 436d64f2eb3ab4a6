//! Applies one layer tar onto a root directory: regular files, directories, symlinks,
//! hard links, device nodes and fifos with owners, modes, xattrs and mtimes, and
//! whiteouts (`.wh.NAME`, opaque `.wh..wh..opq`). No entry can write, link or delete
//! outside the root: parents are resolved in-root (see [`super::inroot`]), names with
//! `..` are refused, and final components are never followed.

use super::inroot::{child_names, kind_at, remove_all_at, InPath, Root};
use super::xattr;
use super::LayerError;
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, futimens, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use tar::EntryType;

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    pub entries: u64,
    pub whiteouts: u64,
}

/// The largest apparent size of a sparse (GNU `S`) entry: its holes read back as zeros
/// that must all be scanned, so a tiny layer could otherwise declare a petabyte file.
/// Far above any real sparse file in an image (a lastlog of a high uid is a few GiB).
pub const SPARSE_SIZE_LIMIT: u64 = 64 << 30;

/// Copies a file's content, seeking over blocks of zeros instead of writing them: holes
/// of a sparse entry (and long zero runs of a plain one) stay holes, so the disk holds
/// only the data the layer carries.
fn copy_keeping_holes(from: &mut impl Read, to: &mut File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom, Write};
    const BLOCK: usize = 1 << 16;
    let mut buf = vec![0u8; BLOCK];
    let mut total = 0u64;
    let mut hole = false;
    loop {
        let n = super::read_full(from, &mut buf)?;
        if n == 0 {
            break;
        }
        // Only whole blocks become holes: short zero runs are not worth a seek.
        if n == BLOCK && buf.iter().all(|&b| b == 0) {
            to.seek(SeekFrom::Current(BLOCK as i64))?;
            hole = true;
        } else {
            to.write_all(&buf[..n])?;
            hole = false;
        }
        total += n as u64;
    }
    if hole {
        // A trailing hole: the length comes from the size, not a write.
        to.set_len(total)?;
    }
    Ok(total)
}

/// Metadata an entry carries, with PAX records taking precedence over the ustar header.
#[derive(Clone)]
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: TimeSpec,
    atime: TimeSpec,
    xattrs: Vec<(String, Vec<u8>)>,
}

pub fn apply<R: Read>(root: &Root, reader: R) -> Result<ApplyStats, LayerError> {
    let mut archive = tar::Archive::new(reader);
    let mut stats = ApplyStats::default();
    let mut unpacked: HashSet<InPath> = HashSet::new();
    let mut dir_times: Vec<(InPath, TimeSpec, TimeSpec)> = Vec::new();
    // An unprivileged caller has no CAP_DAC_OVERRIDE: a directory whose mode keeps its
    // owner out (0555 /proc) gets that mode only after its children are in.
    let mut dir_modes: Vec<(InPath, u32)> = Vec::new();
    let privileged = may_chown();
    let entries = archive.entries().map_err(LayerError::tar)?;
    for entry in entries {
        let mut entry = entry.map_err(LayerError::tar)?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let label = String::from_utf8_lossy(&raw).into_owned();
        let path = InPath::parse(&raw).map_err(|e| LayerError::Unsafe {
            entry: label.clone(),
            reason: e.to_string(),
        })?;
        let meta =
            read_meta(&mut entry).map_err(|e| LayerError::entry(&label, "read header of", e))?;
        stats.entries += 1;

        let Some((parent, name)) = path.split_last() else {
            if kind != EntryType::Directory {
                return Err(LayerError::Unsafe {
                    entry: label,
                    reason: "a non-directory entry names the root".into(),
                });
            }
            let fd = root
                .open_dir_rw(&path)
                .map_err(|e| LayerError::errno(&label, "open root", e))?;
            set_owner_mode_fd(fd.as_fd(), &meta)
                .map_err(|e| LayerError::errno(&label, "set owner/mode of", e))?;
            dir_times.push((path.clone(), meta.atime, meta.mtime));
            continue;
        };
        let name = name.to_string();

        if name == OPAQUE_WHITEOUT {
            stats.whiteouts += 1;
            opaque(root, &parent, &unpacked)
                .map_err(|e| LayerError::errno(&label, "apply opaque whiteout", e))?;
            continue;
        }
        if name.starts_with(WHITEOUT_META_PREFIX) {
            // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): never part of the filesystem.
            continue;
        }
        if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) {
            if target.is_empty() || target == "." || target == ".." {
                return Err(LayerError::Unsafe {
                    entry: label,
                    reason: format!("whiteout names {target:?}, not a file"),
                });
            }
            stats.whiteouts += 1;
            match root.open_dir(&parent) {
                Ok(dir) => remove_all_at(dir.as_fd(), target)
                    .map_err(|e| LayerError::errno(&label, "apply whiteout", e))?,
                // Nothing below to hide.
                Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => {}
                Err(e) => return Err(LayerError::errno(&label, "open parent of whiteout", e)),
            }
            continue;
        }

        let dir = root
            .open_dir_create(&parent)
            .map_err(|e| LayerError::errno(&label, "open parent directory of", e))?;
        let dir = dir.as_fd();
        let existing = kind_at(dir, &name).map_err(|e| LayerError::errno(&label, "stat", e))?;
        let keep_dir = kind == EntryType::Directory && existing == Some(SFlag::S_IFDIR);
        if existing.is_some() && !keep_dir && kind != EntryType::Link {
            remove_all_at(dir, &name).map_err(|e| LayerError::errno(&label, "replace", e))?;
        }
        match kind {
            EntryType::Directory => {
                if !keep_dir {
                    mkdirat(dir, name.as_str(), Mode::from_bits_truncate(0o700))
                        .map_err(|e| LayerError::errno(&label, "mkdir", e))?;
                }
                let fd = openat(
                    dir,
                    name.as_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| LayerError::errno(&label, "open directory", e))?;
                let mut dir_meta = meta.clone();
                if !privileged && meta.mode & 0o700 != 0o700 {
                    dir_meta.mode |= 0o700;
                    dir_modes.push((path.clone(), meta.mode));
                }
                set_owner_mode_fd(fd.as_fd(), &dir_meta)
                    .map_err(|e| LayerError::errno(&label, "set owner/mode of", e))?;
                set_xattrs(dir, &name, &meta, &label)?;
                dir_times.push((path.clone(), meta.atime, meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                if kind == EntryType::GNUSparse && entry.size() > SPARSE_SIZE_LIMIT {
                    return Err(LayerError::Unsafe {
                        entry: label,
                        reason: format!(
                            "sparse file of {} bytes, more than the {SPARSE_SIZE_LIMIT} a layer's sparse file may have",
                            entry.size()
                        ),
                    });
                }
                let fd = openat(
                    dir,
                    name.as_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| LayerError::errno(&label, "create", e))?;
                let mut file = File::from(fd);
                copy_keeping_holes(&mut entry, &mut file)
                    .map_err(|e| LayerError::entry(&label, "write", e))?;
                set_owner_mode_fd(file.as_fd(), &meta)
                    .map_err(|e| LayerError::errno(&label, "set owner/mode of", e))?;
                set_xattrs(dir, &name, &meta, &label)?;
                futimens(file.as_fd(), &meta.atime, &meta.mtime)
                    .map_err(|e| LayerError::errno(&label, "set times of", e))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| LayerError::Unsafe {
                        entry: label.clone(),
                        reason: "symlink without a target".into(),
                    })?
                    .into_owned();
                let target: std::ffi::OsString = std::os::unix::ffi::OsStringExt::from_vec(target);
                symlinkat(target.as_os_str(), dir, name.as_str())
                    .map_err(|e| LayerError::errno(&label, "symlink", e))?;
                // A symlink's own mode is not settable (and means nothing).
                finish_node(dir, &name, &meta, &label, false)?;
            }
            EntryType::Link => {
                let raw_target = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let target = InPath::parse(&raw_target).map_err(|e| LayerError::Unsafe {
                    entry: label.clone(),
                    reason: format!("hard link target: {e}"),
                })?;
                if target == path {
                    continue;
                }
                let Some((tparent, tname)) = target.split_last() else {
                    return Err(LayerError::Unsafe {
                        entry: label,
                        reason: "hard link to the root directory".into(),
                    });
                };
                let tdir = root.open_dir(&tparent).map_err(|e| {
                    LayerError::errno(&label, "open hard link target directory of", e)
                })?;
                if existing.is_some() {
                    remove_all_at(dir, &name)
                        .map_err(|e| LayerError::errno(&label, "replace", e))?;
                }
                // No AT_SYMLINK_FOLLOW: a target that is a symlink is linked itself, never followed.
                linkat(tdir.as_fd(), tname, dir, name.as_str(), AtFlags::empty()).map_err(|e| {
                    LayerError::errno(&label, &format!("hard link to {target} as"), e)
                })?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let sflag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                match mknodat(
                    dir,
                    name.as_str(),
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    libc::makedev(major, minor),
                ) {
                    Ok(()) => {}
                    // Without root on the host (rootless, or in a user namespace) device
                    // nodes cannot be made: skipped, as podman does; the runtime binds
                    // the devices a container gets.
                    Err(Errno::EPERM) if sflag != SFlag::S_IFIFO => {
                        tracing::warn!(
                            entry = label.as_str(),
                            "device node skipped: mknod needs root on the host"
                        );
                        continue;
                    }
                    Err(e) => return Err(LayerError::errno(&label, "mknod", e)),
                }
                finish_node(dir, &name, &meta, &label, true)?;
            }
            other => {
                return Err(LayerError::Unsupported {
                    entry: label,
                    kind: format!("{other:?}"),
                })
            }
        }
        unpacked.insert(path);
    }
    for (path, mode) in dir_modes.iter().rev() {
        if let Ok(fd) = root.open_dir_rw(path) {
            let _ = fchmod(fd.as_fd(), Mode::from_bits_truncate(*mode));
        }
    }
    // Directory times last, deepest first: creating children changed them.
    for (path, atime, mtime) in dir_times.iter().rev() {
        if let Ok(fd) = root.open_dir_rw(path) {
            let _ = futimens(fd.as_fd(), atime, mtime);
        }
    }
    Ok(stats)
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let mut uid = h.uid()? as u32;
    let mut gid = h.gid()? as u32;
    let mode = h.mode()? & 0o7777;
    let mut mtime = TimeSpec::new(h.mtime()? as i64, 0);
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let text = std::str::from_utf8(value).unwrap_or("");
            match key {
                "uid" => uid = text.parse().unwrap_or(uid),
                "gid" => gid = text.parse().unwrap_or(gid),
                "mtime" => mtime = parse_pax_time(text).unwrap_or(mtime),
                "atime" => atime = parse_pax_time(text),
                k if k.starts_with("SCHILY.xattr.") => {
                    xattrs.push((k["SCHILY.xattr.".len()..].to_string(), value.to_vec()));
                }
                _ => {}
            }
        }
    }
    Ok(Meta {
        uid,
        gid,
        mode,
        mtime,
        atime: atime.unwrap_or(mtime),
        xattrs,
    })
}

fn parse_pax_time(text: &str) -> Option<TimeSpec> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos_text: String = frac.chars().take(9).collect();
    while nanos_text.len() < 9 {
        nanos_text.push('0');
    }
    let nanos: i64 = nanos_text.parse().ok()?;
    Some(TimeSpec::new(secs, if secs < 0 { -nanos } else { nanos }))
}

/// The tail of a node made by name in `dir` (a symlink, a device node or a fifo): owner,
/// then the mode when `set_mode` (after chown, which clears set-id bits), xattrs, and
/// times, the final name never followed.
fn finish_node(
    dir: BorrowedFd<'_>,
    name: &str,
    meta: &Meta,
    label: &str,
    set_mode: bool,
) -> Result<(), LayerError> {
    if may_chown() {
        fchownat(
            dir,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| chown_err(label, meta, e))?;
    }
    if set_mode {
        // The caller just created the node and it is not a symlink, so following is moot
        // (Linux has no fchmodat that refuses to follow).
        fchmodat(
            dir,
            name,
            Mode::from_bits_truncate(meta.mode),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| LayerError::errno(label, "chmod", e))?;
    }
    set_xattrs(dir, name, meta, label)?;
    utimensat(
        dir,
        name,
        &meta.atime,
        &meta.mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| LayerError::errno(label, "set times of", e))
}

/// Whether entries can get their owners: root can (in its user namespace, the ids that
/// namespace maps); an unprivileged caller cannot, and what it unpacks is simply its own,
/// as podman's rootless unpacking with only the caller's id mapped.
fn may_chown() -> bool {
    nix::unistd::geteuid().is_root()
}

/// EINVAL from chown in a user namespace: the id is not mapped there.
fn chown_err(label: &str, meta: &Meta, e: Errno) -> LayerError {
    let op = if e == Errno::EINVAL {
        format!(
            "chown to {}:{} (an id this user namespace does not map: too few ids in /etc/subuid or /etc/subgid?)",
            meta.uid, meta.gid
        )
    } else {
        "chown".to_string()
    };
    LayerError::errno(label, &op, e)
}

/// Owner first: chown clears set-id bits, so the mode goes on after it.
fn set_owner_mode_fd(fd: BorrowedFd<'_>, meta: &Meta) -> Result<(), Errno> {
    if may_chown() {
        fchown(
            fd,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )?;
    }
    fchmod(fd, Mode::from_bits_truncate(meta.mode))
}

fn set_xattrs(dir: BorrowedFd<'_>, name: &str, meta: &Meta, label: &str) -> Result<(), LayerError> {
    if meta.xattrs.is_empty() {
        return Ok(());
    }
    // The parent is an in-root descriptor and l*xattr does not follow the final name.
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    for (key, value) in &meta.xattrs {
        if let Err(e) = xattr::lset(&path, key, value) {
            match e.raw_os_error() {
                // Filesystems without xattrs, or user.* on a symlink: what tar does, warn.
                Some(libc::ENOTSUP) | Some(libc::EPERM) => {
                    tracing::warn!(entry = label, xattr = key.as_str(), error = %e, "xattr not set")
                }
                _ => return Err(LayerError::entry(label, "set xattr on", e)),
            }
        }
    }
    Ok(())
}

/// Hides everything below `dir` that earlier layers put there: entries this layer
/// unpacked survive, and inside those, only what this layer unpacked.
fn opaque(root: &Root, dir: &InPath, unpacked: &HashSet<InPath>) -> Result<(), Errno> {
    let fd = match root.open_dir_rw(dir) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(e),
    };
    prune_unlisted(fd.as_fd(), dir, unpacked)
}

fn prune_unlisted(
    fd: BorrowedFd<'_>,
    dir: &InPath,
    unpacked: &HashSet<InPath>,
) -> Result<(), Errno> {
    for name in child_names(fd)? {
        let child = dir.join(&name);
        if !unpacked.contains(&child) {
            remove_all_at(fd, &name)?;
        } else if kind_at(fd, &name)? == Some(SFlag::S_IFDIR) {
            let sub = openat(
                fd,
                name.as_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            prune_unlisted(sub.as_fd(), &child, unpacked)?;
        }
    }
    Ok(())
}
