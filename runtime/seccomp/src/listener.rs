//! Handing the seccomp notify fd to the agent at `linux.seccomp.listenerPath`.
//!
//! The runtime-spec says: connect to the unix socket, send the container process state
//! (`{ociVersion, fds: ["seccompFd"], pid, metadata, state}`) as the message body with
//! the listener fd in SCM_RIGHTS, then close. The same fd passing also serves the
//! container init handing the fd to its parent, which is the one that knows the state.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{
    connect, recvmsg, sendmsg, socket, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType, UnixAddr,
};
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME};

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("seccomp listener {path}: {op}: {source}")]
    Socket {
        path: String,
        op: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("serializing the container process state: {0}")]
    State(#[from] serde_json::Error),
    #[error("passing a file descriptor: {op}: {source}")]
    Pass {
        op: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("passing a file descriptor: {0}")]
    Protocol(String),
}

/// The largest state message accepted by `recv_fd`; annotations make it grow, not much else.
const MAX_MESSAGE: usize = 1 << 20;

/// The state the spec sends with the fd: `pid` and `ociVersion` come from `state`
/// (the container's init, as the runtime sees it), `metadata` from listenerMetadata
/// (omitted when empty, as runc does).
pub fn process_state(metadata: &str, state: &State) -> ContainerProcessState {
    let mut s = ContainerProcessState::default();
    s.set_version(state.version().clone());
    s.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    s.set_pid(state.pid().unwrap_or_default());
    s.set_metadata((!metadata.is_empty()).then(|| metadata.to_string()));
    s.set_state(state.clone());
    s
}

/// Connects to the agent at `listener_path` and sends `state` with `fd` attached.
///
/// `fds` is always `["seccompFd"]` and `metadata` is the given listenerMetadata,
/// whatever `state` held, so the message matches the one fd it carries.
pub fn send_listener_fd(
    listener_path: &Path,
    metadata: &str,
    state: &ContainerProcessState,
    fd: BorrowedFd,
) -> Result<(), ListenerError> {
    let mut message = state.clone();
    message.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    message.set_metadata((!metadata.is_empty()).then(|| metadata.to_string()));
    let body = serde_json::to_vec(&message)?;

    let err = |op: &'static str| {
        let path = listener_path.display().to_string();
        move |source| ListenerError::Socket { path, op, source }
    };
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(err("socket"))?;
    let addr = UnixAddr::new(listener_path).map_err(err("address"))?;
    connect(sock.as_raw_fd(), &addr).map_err(err("connect"))?;
    send_fd(sock.as_fd(), &body, fd).map_err(|e| match e {
        ListenerError::Pass { op, source } => ListenerError::Socket {
            path: listener_path.display().to_string(),
            op,
            source,
        },
        other => other,
    })
}

/// Sends `payload` over the connected unix socket `sock` with `fd` in SCM_RIGHTS.
/// The payload must not be empty: a stream socket cannot carry rights without data.
pub fn send_fd(sock: BorrowedFd, payload: &[u8], fd: BorrowedFd) -> Result<(), ListenerError> {
    if payload.is_empty() {
        return Err(ListenerError::Protocol(
            "an fd needs a non-empty message".into(),
        ));
    }
    let fds = [fd.as_raw_fd()];
    let rights = [ControlMessage::ScmRights(&fds)];
    // The rights go with the first chunk; whatever did not fit follows as plain data.
    let mut sent = send_chunk(sock, payload, &rights)?;
    while sent < payload.len() {
        sent += send_chunk(sock, &payload[sent..], &[])?;
    }
    Ok(())
}

fn send_chunk(
    sock: BorrowedFd,
    data: &[u8],
    cmsgs: &[ControlMessage],
) -> Result<usize, ListenerError> {
    sendmsg::<UnixAddr>(
        sock.as_raw_fd(),
        &[IoSlice::new(data)],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|source| ListenerError::Pass {
        op: "sendmsg",
        source,
    })
}

/// Receives what `send_fd` sent: reads until the peer closes (the spec's sender closes
/// after one message) and returns the bytes and the one fd that came with them.
pub fn recv_fd(sock: BorrowedFd) -> Result<(Vec<u8>, OwnedFd), ListenerError> {
    let mut data = Vec::new();
    let mut received: Option<OwnedFd> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut cmsg_space = nix::cmsg_space!([RawFd; 4]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|source| ListenerError::Pass {
            op: "recvmsg",
            source,
        })?;
        for c in msg.cmsgs().map_err(|source| ListenerError::Pass {
            op: "cmsgs",
            source,
        })? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for raw in fds {
                    // SAFETY: the kernel just installed this descriptor in our table for us
                    // (SCM_RIGHTS); nothing else refers to it yet.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    if received.is_none() {
                        received = Some(owned);
                    }
                }
            }
        }
        let n = msg.bytes;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        if data.len() > MAX_MESSAGE {
            return Err(ListenerError::Protocol(format!(
                "message longer than {MAX_MESSAGE} bytes"
            )));
        }
    }
    let fd =
        received.ok_or_else(|| ListenerError::Protocol("no fd came with the message".into()))?;
    Ok((data, fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::socketpair;
    use oci_spec::runtime::{ContainerState, StateBuilder};
    use std::io::{Read, Seek, Write};

    fn state() -> State {
        StateBuilder::default()
            .version("1.2.0")
            .id("box1")
            .status(ContainerState::Creating)
            .pid(4422)
            .bundle("/containers/redis")
            .build()
            .unwrap()
    }

    #[test]
    fn process_state_has_the_spec_shape() {
        let s = process_state("MKNOD=/dev/null", &state());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "ociVersion": "1.2.0", "fds": ["seccompFd"], "pid": 4422,
                "metadata": "MKNOD=/dev/null",
                "state": {"ociVersion": "1.2.0", "id": "box1", "status": "creating",
                          "pid": 4422, "bundle": "/containers/redis"}
            })
        );
        let empty = serde_json::to_value(process_state("", &state())).unwrap();
        assert!(empty.get("metadata").is_none());
    }

    #[test]
    fn an_fd_and_its_message_cross_a_socket_pair() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let mut file = std::fs::File::from(
            nix::sys::memfd::memfd_create("fdpass", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
                .unwrap(),
        );
        file.write_all(b"through the socket").unwrap();
        let payload = vec![b'x'; 200_000];
        let sender = {
            let payload = payload.clone();
            let f = file.as_fd().try_clone_to_owned().unwrap();
            std::thread::spawn(move || {
                send_fd(a.as_fd(), &payload, f.as_fd()).unwrap();
                drop(a);
            })
        };
        let (data, fd) = recv_fd(b.as_fd()).unwrap();
        sender.join().unwrap();
        assert_eq!(data, payload);
        let mut got = std::fs::File::from(fd);
        let mut text = String::new();
        got.rewind().unwrap();
        got.read_to_string(&mut text).unwrap();
        assert_eq!(text, "through the socket");
    }

    #[test]
    fn connect_failure_names_the_path() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let err = send_listener_fd(
            Path::new("/nonexistent/sangja-agent.sock"),
            "",
            &process_state("", &state()),
            file.as_fd(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("seccomp listener /nonexistent/sangja-agent.sock: connect:"),
            "{err}"
        );
    }
}
