//! What the shim knows of its containers and their processes.

use crate::stdio::{Live, Paths};
use containerd_shim::protos::api::Status;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::sync::watch;

/// How a process ended: containerd's exit status (128+signal when signalled).
#[derive(Debug, Clone)]
pub struct Exit {
    pub status: u32,
    pub at: Timestamp,
}

pub struct Proc {
    /// The exec id, or the container id for the init.
    pub id: String,
    pub pid: u32,
    pub status: Status,
    pub exit: Option<Exit>,
    pub paths: Paths,
    pub live: Option<Live>,
    /// Set once the exit is published: Wait returns then. Always set with
    /// `send_replace`: `send` drops the value while no Wait is subscribed, and a Wait
    /// that comes after a quick exit (containerd's client sends it from a goroutine,
    /// so it can land after Start) would then wait forever.
    pub exited: watch::Sender<Option<Exit>>,
    /// An exec's process spec (JSON), until it starts.
    pub spec: Vec<u8>,
}

impl Proc {
    pub fn new(id: &str, paths: Paths) -> Proc {
        Proc {
            id: id.to_string(),
            pid: 0,
            status: Status::CREATED,
            exit: None,
            paths,
            live: None,
            exited: watch::channel(None).0,
            spec: Vec::new(),
        }
    }

    pub fn alive(&self) -> bool {
        self.pid != 0 && self.exit.is_none()
    }
}

pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    /// Set when the shim mounted containerd's rootfs mounts there.
    pub rootfs: Option<PathBuf>,
    pub runtime: crate::runtime::Runtime,
    pub init: Proc,
    pub execs: HashMap<String, Proc>,
    /// Set when the task was created from a checkpoint: Start restores it.
    pub restore: Option<crate::restore::Pending>,
}

impl Container {
    pub fn log(&self) -> PathBuf {
        self.bundle.join("log.json")
    }

    pub fn process(&self, exec_id: &str) -> Option<&Proc> {
        if exec_id.is_empty() {
            Some(&self.init)
        } else {
            self.execs.get(exec_id)
        }
    }

    pub fn process_mut(&mut self, exec_id: &str) -> Option<&mut Proc> {
        if exec_id.is_empty() {
            Some(&mut self.init)
        } else {
            self.execs.get_mut(exec_id)
        }
    }
}

/// Every container of this shim, and exits of pids not yet known (an exec that
/// ended before its pid file was read).
#[derive(Default)]
pub struct State {
    pub containers: HashMap<String, Container>,
    pub unclaimed: HashMap<u32, Exit>,
}

/// Bounds the exits nobody claimed (the runtime's own calls end up here too).
pub const UNCLAIMED_MAX: usize = 256;

impl State {
    /// The (container, exec id) owning a live `pid`.
    pub fn owner(&self, pid: u32) -> Option<(String, String)> {
        self.containers.values().find_map(|c| {
            if c.init.pid == pid && c.init.exit.is_none() {
                return Some((c.id.clone(), String::new()));
            }
            c.execs
                .values()
                .find(|p| p.pid == pid && p.exit.is_none())
                .map(|p| (c.id.clone(), p.id.clone()))
        })
    }
}
