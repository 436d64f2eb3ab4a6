//! Who looks after a container while it lives: `containers/<id>/owner.lock`, held
//! (flock, exclusive) by the foreground `run` or the detached container's monitor from
//! creation until the exit is recorded (or the container removed). Others read it:
//! held means "running, or about to record its exit"; `stop` and `rm` wait for it to be
//! let go rather than race the owner's cleanup.

use super::{io_err, ContainerError};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};

const FILE: &str = "owner.lock";

/// A held owner lock. Dropping it closes the descriptor without `LOCK_UN`: the lock
/// belongs to the open file description, which a spawned monitor shares, and goes only
/// when the last copy closes (an unlock would free it for the monitor too).
pub struct Owner {
    file: File,
}

fn lock(file: File, exclusive_wait: bool, path: &Path) -> Result<Owner, ContainerError> {
    let op = if exclusive_wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(Owner { file });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(io_err(path)(e));
        }
    }
}

fn lock_path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn flock_err(path: &Path) -> impl FnOnce((File, Errno)) -> ContainerError + '_ {
    move |(_, e)| io_err(path)(e.into())
}

/// The lock file, `None` when the container (or its lock) is gone. Never created here:
/// a waiter must not put a file back into a directory its owner is removing.
fn open(dir: &Path, create: bool) -> Result<Option<File>, ContainerError> {
    let path = lock_path(dir);
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(&path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

pub enum Try {
    Taken(Owner),
    /// Someone else owns it.
    Held,
    /// No lock file: the container is gone.
    Gone,
}

impl Owner {
    /// Makes and takes the lock of a container being created.
    pub fn create(dir: &Path) -> Result<Owner, ContainerError> {
        let path = lock_path(dir);
        let file = open(dir, true)?
            .ok_or_else(|| io_err(&path)(std::io::Error::from(ErrorKind::NotFound)))?;
        lock(file, false, &path)
    }

    /// Takes the lock of an existing container, waiting while another process owns it
    /// (a monitor recording an exit). The file is made if missing.
    pub fn acquire(dir: &Path) -> Result<Owner, ContainerError> {
        let path = lock_path(dir);
        let file = open(dir, true)?
            .ok_or_else(|| io_err(&path)(std::io::Error::from(ErrorKind::NotFound)))?;
        lock(file, true, &path)
    }

    pub fn try_acquire(dir: &Path) -> Result<Try, ContainerError> {
        let path = lock_path(dir);
        let Some(file) = open(dir, false)? else {
            return Ok(Try::Gone);
        };
        match lock(file, false, &path) {
            Ok(o) => Ok(Try::Taken(o)),
            Err(ContainerError::Io { source, .. })
                if source.raw_os_error() == Some(libc::EWOULDBLOCK) =>
            {
                Ok(Try::Held)
            }
            Err(e) => Err(e),
        }
    }

    /// The lock handed down by the process that spawned this one (a monitor).
    ///
    /// # Safety
    /// `fd` must be an open descriptor of the lock file that nothing else owns.
    pub unsafe fn inherited(fd: RawFd) -> Result<Owner, ContainerError> {
        // SAFETY: the caller's promise.
        let file = unsafe { File::from_raw_fd(fd) };
        // Not into the runtime or the container.
        nix::fcntl::fcntl(
            &file,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(|e| io_err(format!("/proc/self/fd/{fd}"))(e.into()))?;
        // The open file description already holds the lock; this only checks it.
        lock(file, false, Path::new(FILE))
    }

    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// Whether a run or a monitor owns the container now.
pub fn held(dir: &Path) -> bool {
    let Ok(Some(file)) = open(dir, false) else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockSharedNonblock),
        Err((_, Errno::EWOULDBLOCK))
    )
}

/// Waits until no process owns the container (at once when it is gone).
pub fn wait_released(dir: &Path) -> Result<(), ContainerError> {
    let path = lock_path(dir);
    if let Some(file) = open(dir, false)? {
        drop(Flock::lock(file, FlockArg::LockShared).map_err(flock_err(&path))?);
    }
    Ok(())
}
