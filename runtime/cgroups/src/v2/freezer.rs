//! v2 freezer: cgroup.freeze, completion seen in cgroup.events.

use std::path::Path;
use std::time::Duration;

use crate::fsutil::{exists, read, read_keyed, write};
use crate::{Error, FreezerState};

const ATTEMPTS: u32 = 2000;

fn frozen_flag(dir: &Path) -> Result<Option<u64>, Error> {
    Ok(read_keyed(dir, "cgroup.events")?.get("frozen").copied())
}

fn wait(dir: &Path, want: u64, action: &'static str) -> Result<(), Error> {
    for _ in 0..ATTEMPTS {
        match frozen_flag(dir)? {
            Some(v) if v == want => return Ok(()),
            // Kernels before 5.2 have no "frozen" key: the write is all we can do.
            None => return Ok(()),
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    Err(Error::FreezeTimeout {
        action,
        path: dir.to_path_buf(),
        state: read(dir, "cgroup.events")?.replace('\n', " "),
    })
}

pub(crate) fn freeze(dir: &Path) -> Result<(), Error> {
    write(dir, "cgroup.freeze", "1", "cgroup.freeze")?;
    if let Err(e) = wait(dir, 1, "freezing") {
        let _ = write(dir, "cgroup.freeze", "0", "cgroup.freeze");
        return Err(e);
    }
    Ok(())
}

pub(crate) fn thaw(dir: &Path) -> Result<(), Error> {
    write(dir, "cgroup.freeze", "0", "cgroup.freeze")?;
    wait(dir, 0, "thawing")
}

pub(crate) fn state(dir: &Path) -> Result<FreezerState, Error> {
    if !exists(dir, "cgroup.freeze") {
        return Ok(FreezerState::Thawed);
    }
    Ok(match read(dir, "cgroup.freeze")?.trim() {
        "1" => FreezerState::Frozen,
        _ => FreezerState::Thawed,
    })
}
