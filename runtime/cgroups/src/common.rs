//! Directory work shared by both managers: creating, joining, signalling, removing.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{Error, Manager};

/// The directories from just below `mount` down to `dir`, parents first.
pub(crate) fn levels(mount: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| *a != mount && a.starts_with(mount))
        .map(Path::to_path_buf)
        .collect();
    out.reverse();
    out
}

/// Creates `dir` and any missing parents below `mount`, recording each one made.
pub(crate) fn mkdir_p(mount: &Path, dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), Error> {
    for level in levels(mount, dir) {
        match std::fs::create_dir(&level) {
            Ok(()) => created.push(level),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(Error::Create {
                    path: level,
                    source,
                })
            }
        }
    }
    Ok(())
}

pub(crate) fn join(dir: &Path, pid: i32) -> Result<(), Error> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
        .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
        .map_err(|source| Error::Join {
            pid,
            path: dir.to_path_buf(),
            source,
        })
}

/// runc's signalAllProcesses: freeze so nothing forks past the snapshot of pids,
/// signal each, thaw. A cgroup that cannot be frozen is signalled anyway.
pub(crate) fn signal_frozen(m: &dyn Manager, signal: i32) -> Result<(), Error> {
    let sig = Signal::try_from(signal).map_err(|source| Error::Signal {
        signal,
        pid: 0,
        source,
    })?;
    let frozen = match m.freeze() {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("signalling all processes without freezing first: {e}");
            false
        }
    };
    let pids = m.pids();
    let mut result = Ok(());
    for pid in pids.iter().flatten() {
        match kill(Pid::from_raw(*pid), sig) {
            Ok(()) | Err(nix::Error::ESRCH) => {}
            Err(source) => {
                result = Err(Error::Signal {
                    signal,
                    pid: *pid,
                    source,
                });
                break;
            }
        }
    }
    if frozen {
        m.thaw()?;
    }
    pids?;
    result
}

/// Removes what this manager created, children first. The container's own
/// directories (`leaves`) may be busy for a moment while the last processes exit,
/// so they are retried (10 ms doubling, about 5 s in all: PID 1 here reaps slowly);
/// a created parent that another container now uses is left.
pub(crate) fn remove_created(created: &[PathBuf], leaves: &[&Path]) -> Result<(), Error> {
    let mut order: Vec<&PathBuf> = created.iter().collect();
    // Deepest first, whatever hierarchy each belongs to.
    order.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for dir in order {
        let is_leaf = leaves.contains(&dir.as_path());
        if is_leaf {
            // Cgroups made inside the container's own (exec --cgroup, a nested
            // runtime) belong to it and go with it, as with runc.
            remove_children(dir)?;
        }
        let mut delay = Duration::from_millis(10);
        let mut attempt = 0;
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && is_leaf && attempt < 9 => {
                    std::thread::sleep(delay);
                    delay *= 2;
                    attempt += 1;
                }
                Err(e)
                    if !is_leaf
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EBUSY) | Some(libc::ENOTEMPTY)
                        ) =>
                {
                    tracing::debug!(dir = %dir.display(), "created parent cgroup still in use; left in place");
                    break;
                }
                Err(source) => {
                    return Err(Error::Remove {
                        path: dir.clone(),
                        source,
                    })
                }
            }
        }
    }
    Ok(())
}

fn remove_children(dir: &Path) -> Result<(), Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let child = e.path();
            remove_children(&child)?;
            match std::fs::remove_dir(&child) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Remove {
                        path: child,
                        source,
                    })
                }
            }
        }
    }
    Ok(())
}
