//! `logs [-f]`: what a detached container wrote to stdout and stderr (`log`).

use super::lifecycle;
use super::record::{Containers, Record};
use super::runtime::Status;
use super::{io_err, ContainerError};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::time::Duration;

/// Copies the log to `out`; with `follow`, keeps copying until the container stops.
pub fn logs(
    containers: &Containers,
    rec: &Record,
    follow: bool,
    out: &mut dyn Write,
) -> Result<(), ContainerError> {
    logs_from(containers, rec, 0, follow, out)
}

/// [`logs`] from byte `from` of the log on (`start -a`: only the new run's output).
pub fn logs_from(
    containers: &Containers,
    rec: &Record,
    from: u64,
    follow: bool,
    out: &mut dyn Write,
) -> Result<(), ContainerError> {
    let path = containers.path(&rec.id).join("log");
    let mut f = match File::open(&path) {
        Ok(f) => f,
        // A foreground container has no log: its output went to the terminal.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !rec.detached => return Ok(()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    f.seek(std::io::SeekFrom::Start(from))
        .map_err(io_err(&path))?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf).map_err(io_err(&path))?;
        if n > 0 {
            out.write_all(&buf[..n]).map_err(io_err("stdout"))?;
            continue;
        }
        out.flush().map_err(io_err("stdout"))?;
        if !follow {
            return Ok(());
        }
        let live = matches!(
            lifecycle::status(containers, rec),
            Status::Running | Status::Created | Status::Paused
        );
        if !live {
            // One last read: what it wrote before it stopped.
            let mut rest = Vec::new();
            f.read_to_end(&mut rest).map_err(io_err(&path))?;
            out.write_all(&rest).map_err(io_err("stdout"))?;
            out.flush().map_err(io_err("stdout"))?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
