//! cgroup v2 device control: an eBPF program loaded and attached with bpf(2).

pub mod program;

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::devices::Emulator;

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("opening the cgroup directory: {0}")]
    Open(std::io::Error),
    #[error("loading the program: {errno}{}", if .log.is_empty() { String::new() } else { format!(" (verifier: {})", .log) })]
    Load { errno: nix::Error, log: String },
    #[error("attaching the program: {0}")]
    Attach(nix::Error),
    #[error("listing attached programs: {0}")]
    Query(nix::Error),
    #[error("detaching the previous program {id}: {errno}")]
    Detach { id: u32, errno: nix::Error },
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr`, as bytes: each command uses its own prefix, the rest stays zero
/// (the kernel refuses non-zero bytes it does not know).
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
    }
    fn call(&mut self, cmd: libc::c_long) -> Result<libc::c_long, nix::Error> {
        // SAFETY: bpf(2) reads/writes at most size_of(Attr) bytes of the buffer, which
        // lives across the call; every pointer stored inside it (instructions, license,
        // log, id array) is owned by the caller and outlives the call too.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                self.0.as_mut_ptr(),
                self.0.len() as libc::c_uint,
            )
        };
        if r < 0 {
            Err(nix::Error::last())
        } else {
            Ok(r)
        }
    }
}

/// Loads the program for `emu` and makes it the only device program on `cgroup_dir`:
/// the new one is attached first, then the previous ones are detached, so the cgroup is
/// never left without a filter.
pub fn apply(cgroup_dir: &Path, emu: &Emulator) -> Result<(), BpfError> {
    let insns: Vec<u64> = program::compile(emu).iter().map(|i| i.encode()).collect();
    let license = CString::new("Apache").expect("no NUL");
    let mut log = vec![0u8; 64 * 1024];
    let dir = File::open(cgroup_dir).map_err(BpfError::Open)?;
    let old = attached(&dir)?;

    let mut a = Attr::new();
    a.u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
        .u32(4, insns.len() as u32)
        .u64(8, insns.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(24, 1)
        .u32(28, log.len() as u32)
        .u64(32, log.as_mut_ptr() as u64)
        .u32(68, BPF_CGROUP_DEVICE);
    let prog = match a.call(BPF_PROG_LOAD) {
        // SAFETY: a successful BPF_PROG_LOAD returns a new fd that nothing else owns.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
        Err(errno) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            return Err(BpfError::Load {
                errno,
                log: String::from_utf8_lossy(&log[..end]).trim().to_string(),
            });
        }
    };
    let mut a = Attr::new();
    a.u32(0, dir.as_raw_fd() as u32)
        .u32(4, prog.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE)
        .u32(12, BPF_F_ALLOW_MULTI);
    a.call(BPF_PROG_ATTACH).map_err(BpfError::Attach)?;
    for id in old {
        detach(&dir, id)?;
    }
    Ok(())
}

/// Ids of the device programs attached directly to the cgroup.
pub fn attached(dir: &File) -> Result<Vec<u32>, BpfError> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new();
    a.u32(0, dir.as_raw_fd() as u32)
        .u32(4, BPF_CGROUP_DEVICE)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    a.call(BPF_PROG_QUERY).map_err(BpfError::Query)?;
    ids.truncate(a.get_u32(24) as usize);
    Ok(ids)
}

fn detach(dir: &File, id: u32) -> Result<(), BpfError> {
    let mut a = Attr::new();
    a.u32(0, id);
    let fd = a
        .call(BPF_PROG_GET_FD_BY_ID)
        .map_err(|errno| BpfError::Detach { id, errno })?;
    // SAFETY: BPF_PROG_GET_FD_BY_ID returned a new fd that nothing else owns.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut a = Attr::new();
    a.u32(0, dir.as_raw_fd() as u32)
        .u32(4, prog.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE);
    match a.call(BPF_PROG_DETACH) {
        // Someone else detached it meanwhile: the goal is reached.
        Ok(_) | Err(nix::Error::ENOENT) => Ok(()),
        Err(errno) => Err(BpfError::Detach { id, errno }),
    }
}
