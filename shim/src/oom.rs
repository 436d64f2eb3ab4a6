//! TaskOOM: the kernel's OOM notifications for a task's memory cgroup. On v1 an
//! eventfd registered through cgroup.event_control on memory.oom_control; on v2
//! inotify on memory.events, publishing when its oom_kill count grows.

use crate::metrics;
use containerd_shim::protos::events::task::TaskOOM;
use containerd_shim::protos::topics::TASK_OOM_EVENT_TOPIC;
use containerd_shim::publisher::RemotePublisher;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;

/// Watches the task's memory cgroup until it goes away; failures only log (the
/// task runs on without OOM events, as with the Go shim on such hosts).
pub fn watch(pid: u32, id: String, publisher: Arc<RemotePublisher>, ns: String) {
    let cg = match metrics::of_pid(pid) {
        Ok(cg) => cg,
        Err(e) => {
            tracing::warn!("oom watch of {id}: {e}");
            return;
        }
    };
    if let Some(dir) = cg.v1.get("memory").cloned() {
        tokio::spawn(async move {
            if let Err(e) = watch_v1(&dir, &id, &publisher, &ns).await {
                tracing::warn!("oom watch of {id} at {}: {e}", dir.display());
            }
        });
    } else if let Some(dir) = cg.v2 {
        tokio::spawn(async move {
            if let Err(e) = watch_v2(&dir, &id, &publisher, &ns).await {
                tracing::warn!("oom watch of {id} at {}: {e}", dir.display());
            }
        });
    }
}

async fn send(publisher: &RemotePublisher, ns: &str, id: &str) {
    let ev = TaskOOM {
        container_id: id.to_string(),
        ..Default::default()
    };
    crate::events::publish(publisher, ns, TASK_OOM_EVENT_TOPIC, ev).await;
}

async fn watch_v1(
    dir: &Path,
    id: &str,
    publisher: &RemotePublisher,
    ns: &str,
) -> std::io::Result<()> {
    let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
    let control = std::fs::File::open(dir.join("memory.oom_control"))?;
    std::fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()),
    )?;
    // SAFETY: the AsyncFd owns the eventfd and closes it only after deregistering.
    let fd = unsafe { AsyncFd::register(efd) }.map_err(|e| e.into_parts().1)?;
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|f| f.get_ref().read().map_err(std::io::Error::from)) {
            Ok(Ok(_)) => {
                // The eventfd also fires when the cgroup is removed.
                if !dir.exists() {
                    return Ok(());
                }
                send(publisher, ns, id).await;
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => continue,
        }
    }
}

fn oom_kills(file: &Path) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        .unwrap_or(0)
}

async fn watch_v2(
    dir: &Path,
    id: &str,
    publisher: &RemotePublisher,
    ns: &str,
) -> std::io::Result<()> {
    let file: PathBuf = dir.join("memory.events");
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
    ino.add_watch(&file, AddWatchFlags::IN_MODIFY)?;
    // SAFETY: the AsyncFd owns the inotify fd and closes it only after deregistering.
    let fd = unsafe { AsyncFd::register(Watched(ino)) }.map_err(|e| e.into_parts().1)?;
    let mut seen = oom_kills(&file);
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|f| f.get_ref().0.read_events().map_err(std::io::Error::from)) {
            Ok(Ok(_)) => {
                if !file.exists() {
                    return Ok(());
                }
                let now = oom_kills(&file);
                if now > seen {
                    seen = now;
                    send(publisher, ns, id).await;
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => continue,
        }
    }
}

/// nix's Inotify offers only AsFd; AsyncFd wants AsRawFd.
struct Watched(Inotify);

impl AsRawFd for Watched {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}
