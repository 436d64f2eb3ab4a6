//! Terminals: the container's pty, created inside the container's devpts, and handed out
//! over a console socket (runc's recvtty protocol) or back to `sangja run` to relay.

use std::ffi::CString;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::Process;

#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("process.terminal: {0}")]
    Setup(String),
    #[error("cannot allocate tty if sangja will detach without setting console socket")]
    NoSocket,
}

fn err(what: &str, e: impl std::fmt::Display) -> TtyError {
    TtyError::Setup(format!("{what}: {e}"))
}

pub struct Console {
    /// The master, when the runtime relays the terminal itself.
    pub master: Option<OwnedFd>,
}

/// Sets the window size of a terminal.
pub fn set_size(fd: RawFd, rows: u16, cols: u16) -> Result<(), nix::Error> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    nix::errno::Errno::result(r).map(drop)
}

/// Reads the window size of a terminal.
pub fn get_size(fd: RawFd) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes into a winsize struct we own.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some((ws.ws_row, ws.ws_col))
}

/// Creates the pty inside the container (after pivot_root), makes its slave the process's
/// stdio and controlling terminal, and sends or returns the master.
pub fn setup_console(
    process: &Process,
    console_fd: Option<RawFd>,
    relay: bool,
    bind_console: bool,
) -> Result<Console, TtyError> {
    if console_fd.is_none() && !relay {
        return Err(TtyError::NoSocket);
    }
    let size = process
        .console_size()
        .as_ref()
        .map(|s| (s.height() as u16, s.width() as u16));
    let pair = open_pair(size)?;
    let (master, name) = (pair.master, pair.name);
    if bind_console {
        mount_console(&name)?;
    }
    let slave = std::os::fd::IntoRawFd::into_raw_fd(pair.slave);
    for target in 0..3 {
        // SAFETY: dup2 onto the stdio numbers.
        if unsafe { libc::dup2(slave, target) } < 0 {
            return Err(err(
                "dup2 of the pty slave",
                std::io::Error::last_os_error(),
            ));
        }
    }
    // SAFETY: closing our extra copy of the slave; stdio keeps it open.
    unsafe { libc::close(slave) };
    // SAFETY: TIOCSCTTY on stdin, which is now the slave, in our new session.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(err(
            "making the pty the controlling terminal",
            std::io::Error::last_os_error(),
        ));
    }
    if let Some(sock) = console_fd {
        send_master(sock, &name, master.as_raw_fd())?;
        // SAFETY: the console socket was inherited for this one message.
        unsafe { libc::close(sock) };
        return Ok(Console { master: None });
    }
    Ok(Console {
        master: Some(master),
    })
}

/// A new pty: the master, the slave (both close-on-exec) and the slave's path.
pub struct Pair {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub name: String,
}

/// Opens a pty pair from /dev/ptmx (the devpts of the caller's mount namespace), sized
/// `rows, cols` when given; the slave does not become the caller's terminal.
pub fn open_pair(size: Option<(u16, u16)>) -> Result<Pair, TtyError> {
    let master = nix::pty::posix_openpt(
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
    )
    .map_err(|e| err("opening /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| err("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| err("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| err("ptsname", e))?;
    if let Some((rows, cols)) = size {
        set_size(master.as_raw_fd(), rows, cols).map_err(|e| err("process.consoleSize", e))?;
    }
    // SAFETY: posix_openpt returned a descriptor we own; convert it for generic handling.
    let master: OwnedFd =
        unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) };
    let cname = CString::new(name.clone()).map_err(|e| err("pty name", e))?;
    // SAFETY: open of the slave path we were just given.
    let slave = unsafe {
        libc::open(
            cname.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(err(
            &format!("opening {name}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(Pair {
        master,
        // SAFETY: open just returned this descriptor; nothing else owns it.
        slave: unsafe { OwnedFd::from_raw_fd(slave) },
        name,
    })
}

/// runc binds the slave at /dev/console.
fn mount_console(slave: &str) -> Result<(), TtyError> {
    let dev_console = std::path::Path::new("/dev/console");
    if !dev_console.exists() {
        std::fs::File::create(dev_console).map_err(|e| err("creating /dev/console", e))?;
    }
    mount(
        Some(slave),
        dev_console,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| err("binding the pty at /dev/console", e))
}

/// runc's recvtty protocol: the pty name as the message, the master as SCM_RIGHTS.
pub fn send_master(sock: RawFd, name: &str, master: RawFd) -> Result<(), TtyError> {
    let fds = [master];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| err("sending the pty master over the console socket", e))?;
    Ok(())
}
