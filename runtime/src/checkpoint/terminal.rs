//! The terminal of a checkpointed container, through CRIU's command line.
//!
//! runc hands CRIU the orphan-pts-master option over RPC: CRIU recreates the pty and
//! sends runc the new master, which runc passes on to --console-socket. The command
//! line has no such notification, so sangja does what CRIU offers there instead: at
//! dump the init's pty slave is an external tty (`--external tty[rdev:dev]`, its key
//! kept in the image directory as `tty.info`, LXC's name for the same record), and at
//! restore a fresh pty made here stands in for it (`--inherit-fd fd[N]:tty[rdev:dev]`)
//! while its master goes to the console socket. /dev/console, a bind of the old slave,
//! is an external mount for the same reason and is bound to the new slave on restore.

use std::os::fd::AsRawFd;
use std::path::Path;

use super::{io, CheckpointError};
use crate::tty;

/// The file in the image directory that names the init's tty for restore.
pub const TTY_INFO: &str = "tty.info";

/// The second line of tty.info when /dev/console was an external mount at dump.
const CONSOLE_MOUNT: &str = "mnt[/dev/console]";

/// The name runc gives the master it sends over the console socket after a restore.
const MASTER_NAME: &str = "orphan-pts-master";

/// CRIU's key of a tty: the device it is (st_rdev) on the filesystem it lives on
/// (st_dev), both in hex.
fn key(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("tty[{:x}:{:x}]", meta.rdev(), meta.dev())
}

/// Whether the config gives the process a terminal.
pub fn wanted(spec: &oci_spec::runtime::Spec) -> bool {
    spec.process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}

/// The dump arguments for the terminal of init `pid`, and `tty.info` written into
/// `images`; nothing when the container has no terminal.
pub fn dump(
    spec: &oci_spec::runtime::Spec,
    pid: i32,
    images: &Path,
) -> Result<Vec<String>, CheckpointError> {
    use std::os::unix::fs::FileTypeExt;
    if !wanted(spec) {
        return Ok(Vec::new());
    }
    // The slave the init got as stdio (fd 0, else 1 or 2 if it closed its stdin).
    let meta = (0..3)
        .filter_map(|fd| std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok())
        .find(|m| m.file_type().is_char_device())
        .ok_or_else(|| {
            CheckpointError::Invalid(format!(
                "process.terminal is set but no stdio of the container's init (pid {pid}) is a terminal"
            ))
        })?;
    let key = key(&meta);
    let mut args = vec!["--external".to_string(), key.clone()];
    let mut info = key;
    if console_mounted(pid) {
        args.extend(["--external".into(), format!("{CONSOLE_MOUNT}:/dev/console")]);
        info.push('\n');
        info.push_str(CONSOLE_MOUNT);
    }
    let path = images.join(TTY_INFO);
    std::fs::write(&path, info + "\n").map_err(io("writing", &path))?;
    Ok(args)
}

/// Whether the container has /dev/console bound (sangja binds the slave there).
fn console_mounted(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/dev/console"))
}

/// What a checkpoint recorded of its terminal: the tty key, and whether /dev/console
/// was dumped as an external mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub key: String,
    pub console: bool,
}

/// The terminal a checkpoint recorded, if it has one.
pub fn recorded(images: &Path) -> Result<Option<Recorded>, CheckpointError> {
    let path = images.join(TTY_INFO);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut lines = text.lines().map(str::trim);
            let key = lines.next().unwrap_or_default().to_string();
            if !(key.starts_with("tty[") && key.ends_with(']')) {
                return Err(CheckpointError::Invalid(format!(
                    "{}: {key:?} is not a CRIU tty key (tty[rdev:dev])",
                    path.display()
                )));
            }
            let console = lines.any(|l| l == CONSOLE_MOUNT);
            Ok(Some(Recorded { key, console }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", &path)(e)),
    }
}

/// The pty a restored container gets in place of the one it was checkpointed with.
pub struct Replacement {
    pub pty: tty::Pair,
    recorded: Recorded,
}

impl Replacement {
    /// A new pty sized as the config says, to stand in for the recorded one.
    pub fn new(
        spec: &oci_spec::runtime::Spec,
        recorded: Recorded,
    ) -> Result<Self, CheckpointError> {
        let size = spec
            .process()
            .as_ref()
            .and_then(|p| p.console_size())
            .map(|s| (s.height() as u16, s.width() as u16));
        let pty = tty::open_pair(size).map_err(|e| CheckpointError::Invalid(e.to_string()))?;
        Ok(Replacement { pty, recorded })
    }

    /// What CRIU is told: the slave, inherited at its own number, is the recorded tty;
    /// /dev/console is bound to it.
    pub fn restore_args(&self) -> Vec<String> {
        let mut a = vec![
            "--inherit-fd".to_string(),
            format!("fd[{}]:{}", self.pty.slave.as_raw_fd(), self.recorded.key),
        ];
        if self.recorded.console {
            a.extend([
                "--external".into(),
                format!("{CONSOLE_MOUNT}:{}", self.pty.name),
            ]);
        }
        a
    }

    /// Sends the master over the console socket (runc's recvtty protocol).
    pub fn send(&self, socket: &impl AsRawFd) -> Result<(), CheckpointError> {
        tty::send_master(socket.as_raw_fd(), MASTER_NAME, self.pty.master.as_raw_fd())
            .map_err(|e| CheckpointError::Invalid(format!("--console-socket: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_info_round_trip_and_bad_keys() {
        let dir = std::env::temp_dir().join(format!("sangja-tty-info-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(recorded(&dir).unwrap(), None);
        std::fs::write(dir.join(TTY_INFO), "tty[8800:1a]\nmnt[/dev/console]\n").unwrap();
        assert_eq!(
            recorded(&dir).unwrap(),
            Some(Recorded {
                key: "tty[8800:1a]".into(),
                console: true
            })
        );
        std::fs::write(dir.join(TTY_INFO), "tty[8800:1a]").unwrap();
        assert!(!recorded(&dir).unwrap().unwrap().console);
        std::fs::write(dir.join(TTY_INFO), "garbage").unwrap();
        let e = recorded(&dir).unwrap_err().to_string();
        assert!(e.contains("tty.info") && e.contains("garbage"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
