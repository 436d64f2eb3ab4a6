//! A client driven from a terminal the test opens itself (CI has none): the child gets
//! a pty slave as stdin/stdout/stderr and controlling terminal, the test reads and
//! writes the master (as clients/src/pty.rs does for ctr and podman).

use super::{wait_until, TestResult};
use libtest_mimic::Failed;
use nix::pty::{openpty, Winsize};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct Pty {
    pub child: Child,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    /// Spawns `cmd` as session leader on a new pty of `rows` x `cols`.
    pub fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Result<Pty, Failed> {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).map_err(|e| format!("openpty: {e}"))?;
        cmd.stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::from(pty.slave));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
        // Our slave copies go with the Command: the master reads EIO once the client's do.
        drop(cmd);
        let master = File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut m = master.try_clone()?;
        let out = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = m.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut o) = out.lock() {
                    o.extend_from_slice(&buf[..n]);
                }
            }
        });
        Ok(Pty {
            child,
            master,
            output,
        })
    }

    /// Everything the terminal showed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|o| String::from_utf8_lossy(&o).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the terminal shows `needle`.
    pub fn expect(&mut self, needle: &str) -> TestResult {
        let out = Arc::clone(&self.output);
        let child = &mut self.child;
        wait_until(&format!("{needle:?} on the terminal"), || {
            let seen = out
                .lock()
                .map(|o| String::from_utf8_lossy(&o).contains(needle))
                .unwrap_or(false);
            Ok(seen || child.try_wait()?.is_some())
        })?;
        super::contains(&self.output(), needle)
    }

    /// Types into the terminal.
    pub fn send(&mut self, bytes: &[u8]) -> TestResult {
        self.master.write_all(bytes)?;
        Ok(())
    }

    /// Resizes the terminal (the kernel sends the client SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) -> TestResult {
        let ws = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: TIOCSWINSZ on our master, from a local struct.
        if unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(format!("TIOCSWINSZ: {}", std::io::Error::last_os_error()).into());
        }
        Ok(())
    }

    /// The client's exit code once it exits.
    pub fn wait(&mut self) -> Result<Option<i32>, Failed> {
        let child = &mut self.child;
        let mut code = None;
        wait_until("the client to exit", || {
            Ok(child.try_wait()?.map(|s| code = s.code()).is_some())
        })?;
        Ok(code)
    }
}

impl Drop for Pty {
    /// A test that failed midway must not leave its client running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
