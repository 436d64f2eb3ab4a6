//! Whole-store locks: commands that add or read content hold the store lock shared;
//! removal and garbage collection hold it exclusive, so a blob being committed is
//! never collected between its rename and the index update that names it.
//! The index has its own lock so that its read-modify-write cycles never interleave.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::Path;

use super::StoreError;

pub struct LockGuard {
    _flock: Flock<File>,
}

pub(super) fn acquire(path: &Path, exclusive: bool) -> Result<LockGuard, StoreError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io("open lock file", path, e))?;
    let arg = if exclusive {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    let flock = Flock::lock(file, arg)
        .map_err(|(_, errno)| StoreError::io("lock", path, std::io::Error::from(errno)))?;
    Ok(LockGuard { _flock: flock })
}
