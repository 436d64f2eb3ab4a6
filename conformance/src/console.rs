//! Receiving descriptors over unix sockets: the pty master of
//! `--console-socket`, and the seccomp notify fd (with the container process
//! state) sent to a `linux.seccomp.listenerPath`.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A descriptor and the bytes of the message that carried it.
pub type Received = (OwnedFd, Vec<u8>);

/// Listens on `path` in a thread and returns the first descriptor a client
/// passes; gives up (an error) after `deadline` without a connection.
pub fn receive_in_background(
    path: &Path,
    deadline: Duration,
) -> io::Result<JoinHandle<io::Result<OwnedFd>>> {
    let listener = UnixListener::bind(path)?;
    Ok(std::thread::spawn(move || {
        accept_fd(listener, deadline).map(|(fd, _)| fd)
    }))
}

/// Like `receive_in_background`, also returning the bytes sent with the fd.
pub fn receive_with_data_in_background(
    path: &Path,
    deadline: Duration,
) -> io::Result<JoinHandle<io::Result<Received>>> {
    let listener = UnixListener::bind(path)?;
    Ok(std::thread::spawn(move || accept_fd(listener, deadline)))
}

/// Accepts one connection (polling, so it can give up) and receives a fd.
fn accept_fd(listener: UnixListener, deadline: Duration) -> io::Result<(OwnedFd, Vec<u8>)> {
    listener.set_nonblocking(true)?;
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return recv_fd_with_data(&stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if started.elapsed() > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "nothing connected to the socket",
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Receives one descriptor sent with SCM_RIGHTS.
pub fn recv_fd(stream: &UnixStream) -> io::Result<OwnedFd> {
    recv_fd_with_data(stream).map(|(fd, _)| fd)
}

/// Receives one descriptor sent with SCM_RIGHTS and the data of that message.
pub fn recv_fd_with_data(stream: &UnixStream) -> io::Result<(OwnedFd, Vec<u8>)> {
    let mut data = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one cmsghdr carrying a few descriptors, aligned for cmsghdr.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at buffers that live for this call and whose sizes
    // are given; the kernel writes only within them.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: walking the control buffer the kernel just filled, with the
    // libc macros that bound each header by msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                return Ok((OwnedFd::from_raw_fd(fd), data[..n as usize].to_vec()));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "console socket message carried no descriptor",
    ))
}

/// Reads everything from a pty master until the other side is gone (EIO) or
/// `deadline` passes.
pub fn read_all(fd: &OwnedFd, deadline: Duration) -> String {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < deadline {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd that lives for the call.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r < 0 {
            break;
        }
        if r == 0 {
            continue;
        }
        // SAFETY: reading into a buffer we own, bounded by its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn receives_a_passed_descriptor() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let fds = [file.as_raw_fd()];
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut control = [0u64; 8];
        // SAFETY: building an SCM_RIGHTS message over buffers owned here.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of_val(&fds) as u32) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(&fds) as u32) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast(), 1);
            assert_eq!(libc::sendmsg(a.as_raw_fd(), &msg, 0), 1);
        }
        let got = recv_fd(&b).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", got.as_raw_fd())).unwrap();
        assert!(link.to_string_lossy().ends_with("/status"));
    }
}
