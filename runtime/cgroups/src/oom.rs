//! OOM notifications: v1 through an eventfd registered on memory.oom_control,
//! v2 by watching memory.events for a growing oom_kill count.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::{fsutil, v1, v2, Error};

/// What [`OomWatcher::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomWait {
    /// This many OOM events since the last wait.
    Oom(u64),
    /// Nothing happened within the timeout.
    Timeout,
    /// The cgroup is gone (the container was deleted): stop watching.
    Gone,
}

enum Kind {
    V1 {
        efd: EventFd,
        // Kept open: the registration lives as long as this file.
        _oom_control: File,
    },
    V2 {
        inotify: Inotify,
        last: u64,
    },
}

pub struct OomWatcher {
    kind: Kind,
    dir: PathBuf,
}

impl OomWatcher {
    pub(crate) fn v1(dir: &Path) -> Result<OomWatcher, Error> {
        let err = |source| Error::Oom {
            path: dir.to_path_buf(),
            source,
        };
        let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC).map_err(err)?;
        let oom_control =
            File::open(dir.join("memory.oom_control")).map_err(|source| Error::Read {
                path: dir.join("memory.oom_control"),
                source,
            })?;
        fsutil::write(
            dir,
            "cgroup.event_control",
            &format!("{} {}", efd.as_fd().as_raw_fd(), oom_control.as_raw_fd()),
            "cgroup.event_control",
        )?;
        Ok(OomWatcher {
            kind: Kind::V1 {
                efd,
                _oom_control: oom_control,
            },
            dir: dir.to_path_buf(),
        })
    }

    pub(crate) fn v2(dir: &Path) -> Result<OomWatcher, Error> {
        let err = |source| Error::Oom {
            path: dir.join("memory.events"),
            source,
        };
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).map_err(err)?;
        inotify
            .add_watch(&dir.join("memory.events"), AddWatchFlags::IN_MODIFY)
            .map_err(err)?;
        let last = v2::memory::oom_kills(dir)?;
        Ok(OomWatcher {
            kind: Kind::V2 { inotify, last },
            dir: dir.to_path_buf(),
        })
    }

    /// Blocks until an OOM event, the cgroup's removal, or the timeout (None: forever).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<OomWait, Error> {
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
        };
        let dir = self.dir.clone();
        let err = |source| Error::Oom {
            path: dir.clone(),
            source,
        };
        let ready = {
            let mut fds = [PollFd::new(self.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, t) {
                Ok(n) => n > 0,
                Err(nix::Error::EINTR) => false,
                Err(e) => return Err(err(e)),
            }
        };
        if !ready {
            return Ok(OomWait::Timeout);
        }
        match &mut self.kind {
            Kind::V1 { efd, .. } => {
                let n = efd.read().map_err(err)?;
                // The kernel also signals the eventfd when the cgroup is removed.
                if !self.dir.join("cgroup.event_control").exists() {
                    return Ok(OomWait::Gone);
                }
                Ok(OomWait::Oom(n))
            }
            Kind::V2 { inotify, last } => {
                let events = match inotify.read_events() {
                    Ok(ev) => ev,
                    Err(nix::Error::EAGAIN) => return Ok(OomWait::Timeout),
                    Err(e) => return Err(err(e)),
                };
                if events
                    .iter()
                    .any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED))
                    || !self.dir.join("memory.events").exists()
                {
                    return Ok(OomWait::Gone);
                }
                let now = v2::memory::oom_kills(&self.dir)?;
                let new = now.saturating_sub(*last);
                *last = now;
                Ok(if new > 0 {
                    OomWait::Oom(new)
                } else {
                    OomWait::Timeout
                })
            }
        }
    }

    /// The kill count so far, read from the cgroup (v1 memory.oom_control, v2 memory.events).
    pub fn oom_kills(&self) -> Result<u64, Error> {
        match self.kind {
            Kind::V1 { .. } => v1::memory::oom_kills(&self.dir),
            Kind::V2 { .. } => v2::memory::oom_kills(&self.dir),
        }
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            Kind::V1 { efd, .. } => efd.as_fd(),
            Kind::V2 { inotify, .. } => inotify.as_fd(),
        }
    }
}
