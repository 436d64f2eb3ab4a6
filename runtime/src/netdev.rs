//! `linux.netDevices` (runtime-spec 1.2): host interfaces moved into the container's
//! network namespace (renamed when asked) and moved back out on delete.
//!
//! The container's network namespace is kept alive by a bind mount in its state folder,
//! so a device can still be moved back after the container's processes are gone (a
//! virtual device would otherwise vanish with the namespace).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, CloneFlags};

#[derive(Debug, thiserror::Error)]
pub enum NetDevError {
    #[error("linux.netDevices.{name}: {msg}")]
    Device { name: String, msg: String },
    #[error("linux.netDevices: {0}")]
    Other(String),
}

const RTM_NEWLINK: u16 = 16;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_NET_NS_FD: u16 = 28;

/// Where the network namespace is kept while the container exists.
pub fn netns_keeper(state_dir: &Path) -> PathBuf {
    state_dir.join("netns")
}

fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: if_nametoindex with a valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Checks every device exists on the host and names are valid, before anything is made.
pub fn check(devices: &[(String, String)]) -> Result<(), NetDevError> {
    for (host, new) in devices {
        if ifindex(host).is_none() {
            return Err(NetDevError::Device {
                name: host.clone(),
                msg: "no such network device on the host".into(),
            });
        }
        if new.is_empty()
            || new.len() > 15
            || new.contains('/')
            || new.contains(char::is_whitespace)
        {
            return Err(NetDevError::Device {
                name: host.clone(),
                msg: format!("invalid interface name {new:?}"),
            });
        }
    }
    Ok(())
}

fn attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// RTM_NEWLINK on `index`: move to another namespace (by pid or fd) under `name`.
fn move_link(index: u32, target: (u16, u32), name: &str) -> Result<(), String> {
    // SAFETY: a plain socket call; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(format!(
            "netlink socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: we own the new socket.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut body = Vec::new();
    body.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    body.extend_from_slice(&(index as i32).to_ne_bytes());
    body.extend_from_slice(&0u32.to_ne_bytes());
    body.extend_from_slice(&0u32.to_ne_bytes());
    attr(&mut body, target.0, &target.1.to_ne_bytes());
    let mut n = name.as_bytes().to_vec();
    n.push(0);
    attr(&mut body, IFLA_IFNAME, &n);
    let mut msg = Vec::new();
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&body);
    // SAFETY: send from a buffer we own on our socket (the kernel is the default peer).
    if unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
        return Err(format!("netlink send: {}", std::io::Error::last_os_error()));
    }
    let mut reply = [0u8; 4096];
    // SAFETY: receive into a buffer we own.
    let got = unsafe { libc::recv(sock.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
    if got < 20 {
        return Err(format!(
            "netlink reply: {}",
            std::io::Error::last_os_error()
        ));
    }
    let kind = u16::from_ne_bytes([reply[4], reply[5]]);
    if kind == NLMSG_ERROR {
        let errno = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
        if errno != 0 {
            return Err(std::io::Error::from_raw_os_error(-errno).to_string());
        }
    }
    Ok(())
}

/// Moves each (host name, container name) into the network namespace of `pid`, and keeps
/// that namespace alive at `keeper`.
pub fn move_in(pid: i32, devices: &[(String, String)], keeper: &Path) -> Result<(), NetDevError> {
    File::create(keeper).map_err(|e| NetDevError::Other(format!("{}: {e}", keeper.display())))?;
    let ns = format!("/proc/{pid}/ns/net");
    mount(
        Some(ns.as_str()),
        keeper,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| NetDevError::Other(format!("keeping {ns} at {}: {e}", keeper.display())))?;
    for (host, new) in devices {
        let index = ifindex(host).ok_or_else(|| NetDevError::Device {
            name: host.clone(),
            msg: "no such network device on the host".into(),
        })?;
        move_link(index, (IFLA_NET_NS_PID, pid as u32), new).map_err(|msg| {
            NetDevError::Device {
                name: host.clone(),
                msg: format!("moving it into the container as {new}: {msg}"),
            }
        })?;
    }
    Ok(())
}

/// Moves the devices back to our own network namespace under their host names, then lets
/// the kept namespace go.
pub fn move_out(devices: &[(String, String)], keeper: &Path) -> Result<(), NetDevError> {
    if !keeper.exists() {
        return Ok(());
    }
    let err = |msg: String| NetDevError::Other(msg);
    let home =
        File::open("/proc/self/ns/net").map_err(|e| err(format!("/proc/self/ns/net: {e}")))?;
    let theirs = File::open(keeper).map_err(|e| err(format!("{}: {e}", keeper.display())))?;
    setns(theirs.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| err(format!("entering the container's network namespace: {e}")))?;
    let mut result = Ok(());
    for (host, new) in devices {
        let r = match ifindex(new) {
            Some(index) => move_link(
                index,
                (IFLA_NET_NS_FD, home.as_raw_fd() as RawFd as u32),
                host,
            )
            .map_err(|msg| NetDevError::Device {
                name: host.clone(),
                msg: format!("moving {new} back to the host: {msg}"),
            }),
            None => Err(NetDevError::Device {
                name: host.clone(),
                msg: format!("{new} is no longer in the container"),
            }),
        };
        if result.is_ok() {
            result = r;
        }
    }
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| err(format!("returning to the runtime's network namespace: {e}")))?;
    let _ = umount2(keeper, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(keeper);
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn attributes_are_padded() {
        let mut b = Vec::new();
        super::attr(&mut b, 3, b"ab\0");
        assert_eq!(b.len(), 8);
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), 7);
    }
}
