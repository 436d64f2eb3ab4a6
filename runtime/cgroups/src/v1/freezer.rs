//! v1 freezer controller.

use std::path::Path;
use std::time::Duration;

use crate::fsutil::{read, write};
use crate::{Error, FreezerState};

/// How long a freeze may take before it is undone and reported (runc gives up too).
const ATTEMPTS: u32 = 2000;

pub(crate) fn freeze(dir: &Path) -> Result<(), Error> {
    for i in 0..ATTEMPTS {
        // Re-issuing FROZEN restarts a freeze that got stuck behind a task in
        // uninterruptible sleep (runc re-writes every 25 rounds).
        if i % 25 == 0 {
            write(dir, "freezer.state", "FROZEN", "freezer.state")?;
        }
        if read(dir, "freezer.state")?.trim() == "FROZEN" {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let state = read(dir, "freezer.state")?.trim().to_string();
    write(dir, "freezer.state", "THAWED", "freezer.state")?;
    Err(Error::FreezeTimeout {
        action: "freezing",
        path: dir.to_path_buf(),
        state,
    })
}

pub(crate) fn thaw(dir: &Path) -> Result<(), Error> {
    write(dir, "freezer.state", "THAWED", "freezer.state")?;
    for _ in 0..ATTEMPTS {
        if read(dir, "freezer.state")?.trim() == "THAWED" {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(Error::FreezeTimeout {
        action: "thawing",
        path: dir.to_path_buf(),
        state: read(dir, "freezer.state")?.trim().to_string(),
    })
}

/// FROZEN only counts when this cgroup itself was frozen (freezer.self_freezing), not
/// when an ancestor was: the container was not paused by us then (runc's rule).
pub(crate) fn state(dir: &Path) -> Result<FreezerState, Error> {
    for _ in 0..ATTEMPTS {
        match read(dir, "freezer.state")?.trim() {
            "THAWED" => return Ok(FreezerState::Thawed),
            "FROZEN" => {
                let self_freezing = read(dir, "freezer.self_freezing")
                    .map(|s| s.trim() == "1")
                    .unwrap_or(true);
                return Ok(if self_freezing {
                    FreezerState::Frozen
                } else {
                    FreezerState::Thawed
                });
            }
            // FREEZING is transient: wait for a stable answer.
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    Err(Error::FreezeTimeout {
        action: "reading the state of",
        path: dir.to_path_buf(),
        state: "FREEZING".into(),
    })
}
