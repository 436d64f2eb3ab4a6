//! Driving `ctr run -t` and `podman run -it` from a terminal the test opens itself:
//! CI has none. The client gets a pty slave as its stdin/stdout/stderr and
//! controlling terminal; the test reads and writes the master.

use crate::cmd::{line_of, wait_for, wait_for_within, wait_guarded, CLEANUP_GUARD};
use anyhow::{Context, Result};
use nix::pty::{openpty, Winsize};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// The terminal size the client sees; the container's console must report the same.
pub const ROWS: u16 = 33;
pub const COLS: u16 = 101;

pub struct PtySession {
    line: String,
    child: Child,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
    reader_done: Arc<AtomicBool>,
}

impl PtySession {
    /// Spawns `cmd` on a new pty as session leader with the pty as controlling tty.
    pub fn spawn(mut cmd: Command) -> Result<PtySession> {
        let line = line_of(&cmd);
        let size = Winsize {
            ws_row: ROWS,
            ws_col: COLS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).context("openpty")?;
        let slave: OwnedFd = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn `{line}` on a pty"))?;
        // Our copies of the slave go with the Command: once the client and its
        // children close theirs, reading the master ends with EIO.
        drop(cmd);
        let master = File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let reader_done = Arc::new(AtomicBool::new(false));
        {
            let mut m = master.try_clone()?;
            let out = Arc::clone(&output);
            let done = Arc::clone(&reader_done);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = m.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut o) = out.lock() {
                        o.extend_from_slice(&buf[..n]);
                    }
                }
                done.store(true, Ordering::SeqCst);
            });
        }
        Ok(PtySession {
            line,
            child,
            master,
            output,
            reader_done,
        })
    }

    /// Everything the terminal showed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|o| String::from_utf8_lossy(&o).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the terminal shows `needle` (a shell prompt, say).
    pub fn expect(&mut self, needle: &str) -> Result<()> {
        let line = self.line.clone();
        let res = wait_for(&format!("{needle:?} on the terminal of `{line}`"), || {
            if self.output().contains(needle) {
                return Ok(Some(()));
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("client exited ({status}) before showing {needle:?}");
            }
            Ok(None)
        });
        res.with_context(|| format!("terminal so far:\n{}", self.output()))
    }

    /// Types into the terminal.
    pub fn send(&mut self, text: &str) -> Result<()> {
        self.master.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Waits for the client to exit; returns its exit code and the whole transcript.
    pub fn finish(mut self) -> Result<(Option<i32>, String)> {
        let line = self.line.clone();
        let status = wait_guarded(&mut self.child, &line)?;
        // The reader ends when the last slave copy closes; a process still holding
        // it would be a leak the leftover checks report, so don't wait forever.
        let _ = wait_for_within("the terminal to close", CLEANUP_GUARD, || {
            Ok(self.reader_done.load(Ordering::SeqCst).then_some(()))
        });
        Ok((status.code(), self.output()))
    }
}

impl Drop for PtySession {
    /// A flow that failed midway must not leave its client running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a client that starts an interactive `sh` under a pty we own (`ctr run -t`,
/// `podman exec -it`...) and checks what every terminal flow promises: the shell's stdin
/// and stdout are a terminal of our size, and its exit code (`exit_code`) comes back as
/// the client's. `what` names the flow in failures.
pub fn check_shell_terminal(cmd: Command, what: &str, exit_code: i32) -> Result<()> {
    let mut s = PtySession::spawn(cmd)?;
    s.expect("# ")?;
    // Arithmetic so the echo of the typed line never matches what we look for.
    s.send(&format!(
        "[ -t 0 ] && [ -t 1 ] && echo TTY-$((40+2)); echo SIZE-$(stty size | tr ' ' x); exit {exit_code}\r"
    ))?;
    let (code, transcript) = s.finish()?;
    anyhow::ensure!(
        transcript.contains("TTY-42"),
        "{what}: stdin/stdout are no terminal:\n{transcript}"
    );
    let size = format!("SIZE-{ROWS}x{COLS}");
    anyhow::ensure!(
        transcript.contains(&size),
        "{what}: the terminal size is not {ROWS}x{COLS}:\n{transcript}"
    );
    anyhow::ensure!(
        code == Some(exit_code),
        "{what} exited {code:?}, not {exit_code}:\n{transcript}"
    );
    Ok(())
}
