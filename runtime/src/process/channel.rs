//! A framed message channel over a unix stream socket pair: a 4-byte length, then JSON.
//! Descriptors travel as SCM_RIGHTS on a one-byte message of their own.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use super::Msg;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("runtime channel: {0}")]
    Io(#[from] std::io::Error),
    #[error("runtime channel: malformed message: {0}")]
    Decode(#[from] crate::spec::DecodeError),
    #[error("runtime channel: cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("runtime channel: closed by the other side")]
    Closed,
    #[error("runtime channel: expected {expected}, got {got}")]
    Unexpected { expected: &'static str, got: String },
    #[error("runtime channel: no descriptor in the message")]
    NoFd,
}

pub struct Channel {
    sock: UnixStream,
}

impl Channel {
    pub fn pair() -> std::io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel { sock: a }, Channel { sock: b }))
    }

    /// Takes over an inherited descriptor.
    ///
    /// # Safety
    /// `fd` must be an open unix stream socket owned by nobody else.
    pub unsafe fn from_raw_fd(fd: RawFd) -> Channel {
        // SAFETY: guaranteed by the caller.
        Channel {
            sock: unsafe { UnixStream::from_raw_fd(fd) },
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    pub fn raw_fd_borrowed(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.sock.as_fd()
    }

    pub fn send(&mut self, msg: &Msg) -> Result<(), ChannelError> {
        let body = serde_json::to_vec(msg)?;
        let len = (body.len() as u32).to_be_bytes();
        self.sock.write_all(&len)?;
        self.sock.write_all(&body)?;
        Ok(())
    }

    pub fn recv(&mut self) -> Result<Msg, ChannelError> {
        let mut len = [0u8; 4];
        match self.sock.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(ChannelError::Closed)
            }
            Err(e) => return Err(e.into()),
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.sock
            .read_exact(&mut body)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => ChannelError::Closed,
                _ => e.into(),
            })?;
        Ok(crate::spec::decode_slice(&body)?)
    }

    /// Sends one descriptor.
    pub fn send_fd(&mut self, fd: RawFd) -> Result<(), ChannelError> {
        let fds = [fd];
        let iov = [IoSlice::new(b"F")];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(self.sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
            .map_err(std::io::Error::from)?;
        Ok(())
    }

    /// Receives one descriptor sent with [`Channel::send_fd`].
    pub fn recv_fd(&mut self) -> Result<OwnedFd, ChannelError> {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            self.sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        for c in msg.cmsgs().map_err(std::io::Error::from)? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed this descriptor for us.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(ChannelError::NoFd)
    }
}

/// Describes a message for "unexpected message" errors without dumping a whole config.
pub fn describe(msg: &Msg) -> String {
    match msg {
        Msg::Bootstrap(_) => "Bootstrap".into(),
        Msg::Error(e) => format!("Error({e})"),
        other => format!("{other:?}"),
    }
}
