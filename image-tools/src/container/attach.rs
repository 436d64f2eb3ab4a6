//! `attach`: a client joins a detached container through its monitor, which listens on
//! `attach.sock` in the container's folder.
//!
//! The monitor side is a [`Hub`]: every byte of the container's output (the pty master's,
//! or its stdout and stderr pipes') goes to `log` as before and, framed, to each attached
//! client; what a client sends goes to the pty master or the stdin pipe, window sizes to
//! the master (TIOCSWINSZ), signals to the container's init. When the container has
//! exited for good, each client gets its exit status and the connection closes.
//!
//! The protocol is frames, `[kind: u8][length: u32 big-endian][payload]`. The client
//! opens with [`HELLO`] (JSON: whether it sends stdin, and an optional log offset whose
//! output it wants replayed first, so `start -a -i` misses nothing written before it
//! connected).
//!
//! The client side ([`attach`]) is docker's `attach`: raw mode and SIGWINCH forwarding
//! with a tty, `--sig-proxy` without one, and docker's detach keys (ctrl-p ctrl-q by
//! default), which end the attach and leave the container running.

use super::record::{Containers, Record};
use super::runtime::Status;
use super::{io_err, lifecycle, ContainerError};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The socket's name in the container's folder.
pub const SOCKET: &str = "attach.sock";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const EXIT: u8 = 3;
const RESIZE: u8 = 4;
const SIGNAL: u8 = 5;
const HELLO: u8 = 6;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Hello {
    /// The client sends stdin frames.
    #[serde(default)]
    stdin: bool,
    /// Replay the log from this byte offset before live output.
    #[serde(default)]
    replay_from: Option<u64>,
}

fn write_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut frame = Vec::with_capacity(5 + data.len());
    frame.push(kind);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(data);
    w.write_all(&frame)
}

/// The next frame; `None` at a clean end of the stream.
fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > 16 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((head[0], data)))
}

/// Runs `f` with a path to `dir/attach.sock` short enough for a socket address
/// (`/proc/self/fd/N/attach.sock`): a container folder's own path can be longer.
fn via_dir<T>(dir: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    let d = File::open(dir)?;
    f(Path::new(&format!(
        "/proc/self/fd/{}/{SOCKET}",
        d.as_raw_fd()
    )))
}

/// What the running process takes input on; replaced at each (re)start.
#[derive(Default)]
struct Input {
    /// The pty master (`-t`) or the stdin pipe's write end (`-i`).
    writer: Option<File>,
    /// The pty master, for window sizes.
    master: Option<File>,
    init: i32,
}

struct Clients {
    log: Option<File>,
    log_path: PathBuf,
    list: Vec<UnixStream>,
    exit: Option<i32>,
}

/// The monitor's side: the log and the attached clients, the process's input.
pub struct Hub {
    clients: Mutex<Clients>,
    input: Mutex<Input>,
}

impl Hub {
    /// A hub writing output to `log_path` (appended).
    pub fn new(log_path: &Path) -> Result<Arc<Hub>, ContainerError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(io_err(log_path))?;
        Ok(Arc::new(Hub {
            clients: Mutex::new(Clients {
                log: Some(log),
                log_path: log_path.to_path_buf(),
                list: Vec::new(),
                exit: None,
            }),
            input: Mutex::new(Input::default()),
        }))
    }

    /// Listens on `dir/attach.sock` in a thread of its own; each client gets one more.
    pub fn listen(self: &Arc<Hub>, dir: &Path) -> Result<(), ContainerError> {
        let path = dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = via_dir(dir, |p| UnixListener::bind(p)).map_err(io_err(&path))?;
        let hub = Arc::clone(self);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let hub = Arc::clone(&hub);
                std::thread::spawn(move || hub.serve(conn));
            }
        });
        Ok(())
    }

    /// The new process: its init and where its input goes.
    pub fn set_process(&self, init: i32, writer: Option<File>, master: Option<File>) {
        if let Ok(mut i) = self.input.lock() {
            *i = Input {
                writer,
                master,
                init,
            };
        }
    }

    /// One chunk of output: to the log, then to every client (one that cannot take it
    /// within a few seconds is dropped rather than stall the container).
    pub fn output(&self, stream: Stream, data: &[u8]) {
        let Ok(mut c) = self.clients.lock() else {
            return;
        };
        if let Some(log) = &mut c.log {
            // The log may be gone (a removed container): the clients still get it.
            let _ = log.write_all(data);
        }
        let kind = match stream {
            Stream::Stdout => STDOUT,
            Stream::Stderr => STDERR,
        };
        c.list.retain_mut(|s| write_frame(s, kind, data).is_ok());
    }

    /// The container has exited for good: every client gets `code` and is let go;
    /// later ones get it at once.
    pub fn exited(&self, code: i32) {
        if let Ok(mut c) = self.clients.lock() {
            c.exit = Some(code);
            for mut s in c.list.drain(..) {
                let _ = write_frame(&mut s, EXIT, &code.to_be_bytes());
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// Removes the socket (the monitor is ending).
    pub fn close(&self, dir: &Path) {
        let _ = std::fs::remove_file(dir.join(SOCKET));
    }

    fn serve(&self, mut conn: UnixStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let hello: Hello = match read_frame(&mut conn) {
            Ok(Some((HELLO, data))) => serde_json::from_slice(&data).unwrap_or_default(),
            _ => return,
        };
        let _ = conn.set_read_timeout(None);
        let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
        let Ok(writer) = conn.try_clone() else {
            return;
        };
        if !self.register(writer, hello.replay_from) {
            return;
        }
        loop {
            match read_frame(&mut conn) {
                Ok(Some((STDIN, data))) if hello.stdin => self.input_bytes(&data),
                Ok(Some((RESIZE, data))) if data.len() == 4 => {
                    let rows = u16::from_be_bytes([data[0], data[1]]);
                    let cols = u16::from_be_bytes([data[2], data[3]]);
                    self.resize(rows, cols);
                }
                Ok(Some((SIGNAL, data))) if data.len() == 4 => {
                    self.signal(i32::from_be_bytes([data[0], data[1], data[2], data[3]]));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Adds a client, after the replay it asked for; false when the container has
    /// exited already (the client got the status).
    fn register(&self, mut s: UnixStream, replay_from: Option<u64>) -> bool {
        let Ok(mut c) = self.clients.lock() else {
            return false;
        };
        if let Some(from) = replay_from {
            // Under the lock: nothing is written to the log meanwhile, so the client
            // sees every byte exactly once.
            let mut old = Vec::new();
            if let Ok(mut f) = File::open(&c.log_path) {
                if f.seek(io::SeekFrom::Start(from)).is_ok() {
                    let _ = f.read_to_end(&mut old);
                }
            }
            if !old.is_empty() && write_frame(&mut s, STDOUT, &old).is_err() {
                return false;
            }
        }
        if let Some(code) = c.exit {
            let _ = write_frame(&mut s, EXIT, &code.to_be_bytes());
            return false;
        }
        c.list.push(s);
        true
    }

    fn input_bytes(&self, data: &[u8]) {
        // A clone: a process not reading its input must not hold up the other clients'
        // resizes and signals.
        let w = self
            .input
            .lock()
            .ok()
            .and_then(|i| i.writer.as_ref().and_then(|w| w.try_clone().ok()));
        if let Some(mut w) = w {
            let _ = w.write_all(data);
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        let Ok(i) = self.input.lock() else { return };
        if let Some(m) = &i.master {
            set_size(m.as_raw_fd(), rows, cols);
        }
    }

    fn signal(&self, sig: i32) {
        let Ok(i) = self.input.lock() else { return };
        if i.init > 0 {
            if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(i.init), s);
            }
        }
    }
}

/// Copies `from` (a pty master, or a stdout/stderr pipe) to the hub until it ends: EOF,
/// or EIO once every process holding the terminal's other side has gone.
pub fn copy_output(mut from: File, stream: Stream, hub: &Hub) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => hub.output(stream, &buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ on a descriptor we hold, from a local struct.
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, &ws);
    }
}

fn get_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ into a local struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0)
            .then_some((ws.ws_row, ws.ws_col))
    }
}

/// docker's default detach keys.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// docker's `--detach-keys` syntax: comma-separated single characters or `ctrl-X`
/// (X one of a-z, @, [, \, ], ^, _).
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, ContainerError> {
    let bad = |reason: String| ContainerError::Flag {
        flag: "--detach-keys",
        value: s.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for key in s.split(',') {
        let b = key.as_bytes();
        if b.len() == 1 {
            out.push(b[0]);
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let code = lower
            .strip_prefix("ctrl-")
            .filter(|c| c.len() == 1)
            .and_then(|c| match c.as_bytes()[0] {
                c @ b'a'..=b'z' => Some(c - b'a' + 1),
                b'@' => Some(0),
                c @ (b'[' | b'\\' | b']' | b'^' | b'_') => Some(c - b'[' + 27),
                _ => None,
            })
            .ok_or_else(|| bad(format!("Unknown character: '{key}'")))?;
        out.push(code);
    }
    Ok(out)
}

/// Watches typed bytes for the detach sequence, holding back a partial match (docker's
/// escape proxy): what to pass on, and whether the sequence completed.
struct Escape {
    keys: Vec<u8>,
    matched: usize,
}

impl Escape {
    fn feed(&mut self, chunk: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(chunk.len());
        for &b in chunk {
            if self.keys.is_empty() {
                out.push(b);
            } else if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                    if self.keys.len() == 1 {
                        self.matched = 0;
                        return (out, true);
                    }
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

pub struct AttachOptions {
    /// Send our stdin (docker: only to a container started with `-i`).
    pub stdin: bool,
    pub sig_proxy: bool,
    pub detach_keys: Vec<u8>,
    /// Output from this log offset first (`start -a -i`).
    pub replay_from: Option<u64>,
}

pub enum Attached {
    /// The container exited with this status.
    Exited(i32),
    /// The detach keys were typed: the container runs on.
    Detached,
    /// The monitor went away without a status (it had exited already, say): ask the
    /// record.
    Lost,
}

/// Whether the container can be attached to: docker's errors for a stopped or paused
/// one.
pub fn check_attachable(containers: &Containers, rec: &Record) -> Result<(), ContainerError> {
    match lifecycle::status(containers, rec) {
        Status::Running => Ok(()),
        Status::Paused => Err(ContainerError::AttachPaused),
        _ => Err(ContainerError::AttachStopped),
    }
}

/// Connects to the container's monitor; `None` when nobody listens (no monitor, or it
/// has just ended).
pub fn connect(containers: &Containers, rec: &Record) -> Option<UnixStream> {
    via_dir(&containers.path(&rec.id), |p| UnixStream::connect(p)).ok()
}

static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; one byte from a local.
        unsafe {
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
        }
    }
}

/// Signals delivered to this process arrive, one byte each, on the returned pipe.
fn catch_signals(signals: &[libc::c_int]) -> Result<File, ContainerError> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io_err("pipe")(e.into()))?;
    SIGNAL_PIPE.store(w.as_raw_fd(), Ordering::SeqCst);
    std::mem::forget(w);
    for &sig in signals {
        // SAFETY: a handler that only calls write(2).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    Ok(File::from(r))
}

/// The signals `--sig-proxy` passes on (docker forwards every catchable one but the
/// ones about this process's own terminal and children).
const PROXIED: [libc::c_int; 8] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTERM,
    libc::SIGALRM,
    libc::SIGCONT,
];

/// The local terminal in raw mode until dropped.
struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = io::stdin();
        let Ok(saved) = tcgetattr(&stdin) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        if tcsetattr(&stdin, SetArg::TCSANOW, &raw).is_err() {
            return RawMode { saved: None };
        }
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ =
                nix::sys::termios::tcsetattr(io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

fn send(conn: &Mutex<UnixStream>, kind: u8, data: &[u8]) -> io::Result<()> {
    let mut c = conn
        .lock()
        .map_err(|_| io::Error::other("attach connection lock"))?;
    write_frame(&mut *c, kind, data)
}

/// docker's `attach` over `conn`: our stdout/stderr get the container's output, our
/// stdin (when asked) goes to it, until it exits or the detach keys are typed.
pub fn attach(
    containers: &Containers,
    rec: &Record,
    conn: UnixStream,
    opts: &AttachOptions,
) -> Result<Attached, ContainerError> {
    use std::io::IsTerminal;
    let sock = containers.path(&rec.id).join(SOCKET);
    let err = |e: io::Error| io_err(&sock)(e);
    let spec: serde_json::Value = std::fs::read(containers.path(&rec.id).join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    let tty = spec["process"]["terminal"].as_bool().unwrap_or(false);
    let stdin = opts.stdin && rec.interactive;
    let writer = Arc::new(Mutex::new(conn.try_clone().map_err(err)?));
    let hello = Hello {
        stdin,
        replay_from: opts.replay_from,
    };
    send(
        &writer,
        HELLO,
        &serde_json::to_vec(&hello).expect("hello serialises"),
    )
    .map_err(err)?;
    let _raw = (tty && stdin && io::stdin().is_terminal()).then(RawMode::enter);
    let mut signals = Vec::new();
    let resizes = tty && io::stdout().is_terminal();
    if resizes {
        signals.push(libc::SIGWINCH);
        if let Some((r, c)) = get_size(io::stdout().as_raw_fd()) {
            let mut d = r.to_be_bytes().to_vec();
            d.extend_from_slice(&c.to_be_bytes());
            let _ = send(&writer, RESIZE, &d);
        }
    }
    if !tty && opts.sig_proxy {
        signals.extend_from_slice(&PROXIED);
    }
    if !signals.is_empty() {
        let mut pipe = catch_signals(&signals)?;
        let w = Arc::clone(&writer);
        std::thread::spawn(move || {
            let mut b = [0u8; 1];
            while matches!(pipe.read(&mut b), Ok(1)) {
                let sig = i32::from(b[0]);
                let sent = if sig == libc::SIGWINCH {
                    match get_size(io::stdout().as_raw_fd()) {
                        Some((r, c)) => {
                            let mut d = r.to_be_bytes().to_vec();
                            d.extend_from_slice(&c.to_be_bytes());
                            send(&w, RESIZE, &d)
                        }
                        None => Ok(()),
                    }
                } else {
                    send(&w, SIGNAL, &sig.to_be_bytes())
                };
                if sent.is_err() {
                    return;
                }
            }
        });
    }
    let detached = Arc::new(AtomicBool::new(false));
    if stdin {
        let w = Arc::clone(&writer);
        let flag = Arc::clone(&detached);
        let keys = opts.detach_keys.clone();
        std::thread::spawn(move || {
            let mut esc = Escape { keys, matched: 0 };
            let mut buf = vec![0u8; 16 << 10];
            let mut input = io::stdin().lock();
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return,
                };
                let (pass, detach) = esc.feed(&buf[..n]);
                if !pass.is_empty() && send(&w, STDIN, &pass).is_err() {
                    return;
                }
                if detach {
                    flag.store(true, Ordering::SeqCst);
                    if let Ok(c) = w.lock() {
                        let _ = c.shutdown(std::net::Shutdown::Both);
                    }
                    return;
                }
            }
        });
    }
    let mut conn = conn;
    let mut out = io::stdout();
    let mut errs = io::stderr();
    loop {
        match read_frame(&mut conn) {
            Ok(Some((STDOUT, d))) => {
                let _ = out.write_all(&d);
                let _ = out.flush();
            }
            Ok(Some((STDERR, d))) => {
                let _ = errs.write_all(&d);
            }
            Ok(Some((EXIT, d))) if d.len() == 4 => {
                return Ok(Attached::Exited(i32::from_be_bytes([
                    d[0], d[1], d[2], d[3],
                ])));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                return Ok(if detached.load(Ordering::SeqCst) {
                    Attached::Detached
                } else {
                    Attached::Lost
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(
            parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(),
            vec![16, 17]
        );
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(
            parse_detach_keys("ctrl-@,ctrl-[,ctrl-_").unwrap(),
            vec![0, 27, 31]
        );
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("alt-a").is_err());
    }

    #[test]
    fn escape_holds_a_partial_match() {
        let mut e = Escape {
            keys: vec![16, 17],
            matched: 0,
        };
        assert_eq!(e.feed(b"ab\x10"), (b"ab".to_vec(), false));
        // The held ctrl-p comes out when the next byte does not continue the sequence.
        assert_eq!(e.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(e.feed(b"x\x10\x10\x11rest"), (b"x\x10".to_vec(), true));
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDOUT, b"hello").unwrap();
        write_frame(&mut buf, EXIT, &7i32.to_be_bytes()).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((EXIT, 7i32.to_be_bytes().to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }
}
