//! A process's stdio as containerd hands it over: FIFO paths (from ctr) or a
//! terminal. Output FIFOs go straight to the process (the shim keeps no copy, so
//! the reader sees EOF when the last process holding them exits); stdin goes
//! through a pipe the shim feeds, so CloseIO can end it. A terminal comes back
//! from the runtime over `--console-socket` and the shim copies both ways.

use nix::fcntl::OFlag;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::fs::{File, OpenOptions};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("console socket {path}: {source}")]
    Console {
        path: String,
        source: std::io::Error,
    },
    #[error("the runtime sent no terminal over the console socket")]
    NoConsole,
}

/// The stdio paths of one process, as containerd sent them.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// What the shim keeps running for a process's stdio.
#[derive(Default)]
pub struct Live {
    /// The stdin copy; aborting it closes the process's stdin.
    stdin: Option<JoinHandle<()>>,
    /// The terminal's output copy, awaited before the exit is published.
    output: Option<JoinHandle<()>>,
    /// The terminal master, for ResizePty.
    pub master: Option<std::sync::Arc<OwnedFd>>,
}

/// The files the runtime call gets (non-terminal) and what keeps the copy alive.
pub struct Prepared {
    pub stdin: Option<File>,
    pub stdout: Option<File>,
    pub stderr: Option<File>,
    pub live: Live,
}

/// containerd writes FIFO paths, sometimes as URIs.
fn path_of(p: &str) -> &str {
    p.strip_prefix("fifo://")
        .or_else(|| p.strip_prefix("file://"))
        .unwrap_or(p)
}

/// An output FIFO or file opened read-write: no wait for a reader, and the reader
/// never sees a premature EOF.
fn open_output(p: &str) -> Result<File, StdioError> {
    let path = if p.is_empty() {
        "/dev/null"
    } else {
        path_of(p)
    };
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| StdioError::Open {
            path: path.into(),
            source,
        })
}

/// Reads from a stdin FIFO (opened read-write, so there is always a writer and no
/// early EOF; CloseIO ends the copy instead).
fn open_input_fifo(p: &str) -> Result<pipe::Receiver, StdioError> {
    pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path_of(p))
        .map_err(|source| StdioError::Open {
            path: p.into(),
            source,
        })
}

/// Stdio for a process without a terminal.
pub fn prepare(paths: &Paths) -> Result<Prepared, StdioError> {
    let stdout = open_output(&paths.stdout)?;
    let stderr = open_output(&paths.stderr)?;
    let (stdin, copy) = if paths.stdin.is_empty() {
        (None, None)
    } else {
        let mut fifo = open_input_fifo(&paths.stdin)?;
        let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| StdioError::Open {
            path: "stdin pipe".into(),
            source: e.into(),
        })?;
        let mut tx = pipe::Sender::from_owned_fd(wr).map_err(|source| StdioError::Open {
            path: "stdin pipe".into(),
            source,
        })?;
        let copy = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut fifo, &mut tx).await;
        });
        (Some(File::from(rd)), Some(copy))
    };
    Ok(Prepared {
        stdin,
        stdout: Some(stdout),
        stderr: Some(stderr),
        live: Live {
            stdin: copy,
            ..Live::default()
        },
    })
}

/// A listening console socket in a private temp dir (socket paths are short).
pub struct ConsoleSocket {
    dir: tempfile::TempDir,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new() -> Result<ConsoleSocket, StdioError> {
        let dir = tempfile::Builder::new()
            .prefix("sangja-shim-pty")
            .tempdir()
            .map_err(|source| StdioError::Console {
                path: std::env::temp_dir().display().to_string(),
                source,
            })?;
        let path = dir.path().join("pty.sock");
        let listener = UnixListener::bind(&path).map_err(|source| StdioError::Console {
            path: path.display().to_string(),
            source,
        })?;
        Ok(ConsoleSocket { dir, listener })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("pty.sock")
    }

    /// Waits (off the async threads) for the runtime to send the pty master.
    pub fn receive(self) -> JoinHandle<Result<OwnedFd, StdioError>> {
        tokio::task::spawn_blocking(move || {
            let path = self.path();
            let err = |source| StdioError::Console {
                path: path.display().to_string(),
                source,
            };
            self.listener.set_nonblocking(false).map_err(err)?;
            let (conn, _) = self.listener.accept().map_err(err)?;
            conn.set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(err)?;
            let mut buf = [0u8; 4096];
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
            let msg = recvmsg::<()>(
                conn.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(|e| err(e.into()))?;
            for cmsg in msg.cmsgs().map_err(|e| err(e.into()))? {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    if let Some(&fd) = fds.first() {
                        for extra in &fds[1..] {
                            // SAFETY: received descriptors are ours to close.
                            drop(unsafe { OwnedFd::from_raw_fd(*extra) });
                        }
                        // SAFETY: the kernel just installed this descriptor for us.
                        return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
            }
            Err(StdioError::NoConsole)
        })
    }
}

/// Copies a terminal both ways: stdin FIFO to the master, the master to stdout.
pub fn attach_console(master: OwnedFd, paths: &Paths) -> Result<Live, StdioError> {
    let dup = |fd: &OwnedFd| {
        fd.try_clone().map_err(|source| StdioError::Open {
            path: "pty master".into(),
            source,
        })
    };
    let master = std::sync::Arc::new(master);
    let mut live = Live {
        master: Some(master.clone()),
        ..Live::default()
    };
    if !paths.stdin.is_empty() {
        let mut fifo = open_input_fifo(&paths.stdin)?;
        let mut to_master = tokio::fs::File::from_std(File::from(dup(&master)?));
        live.stdin = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = fifo.read(&mut buf).await {
                if n == 0 || to_master.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                let _ = to_master.flush().await;
            }
        }));
    }
    let mut out = tokio::fs::File::from_std(open_output(&paths.stdout)?);
    let mut from_master = tokio::fs::File::from_std(File::from(dup(&master)?));
    live.output = Some(tokio::spawn(async move {
        // Ends with EIO once every holder of the pty's other side is gone.
        let _ = tokio::io::copy(&mut from_master, &mut out).await;
        let _ = out.flush().await;
    }));
    Ok(live)
}

impl Live {
    /// CloseIO: the process sees EOF on stdin.
    pub fn close_stdin(&mut self) {
        if let Some(h) = self.stdin.take() {
            h.abort();
        }
    }

    /// After the process exited: let the terminal's output drain (bounded), stop
    /// feeding stdin.
    pub async fn finish(&mut self) {
        self.close_stdin();
        if let Some(h) = self.output.take() {
            let abort = h.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), h)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.master = None;
    }

    /// TIOCSWINSZ on the terminal master.
    pub fn resize(&self, width: u32, height: u32) -> std::io::Result<()> {
        let Some(master) = &self.master else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the process has no terminal",
            ));
        };
        let ws = libc::winsize {
            ws_row: height as u16,
            ws_col: width as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer; the fd is open.
        let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Whether a path names something that exists (a missing FIFO is a bad request).
pub fn exists(p: &str) -> bool {
    p.is_empty() || Path::new(path_of(p)).exists()
}
