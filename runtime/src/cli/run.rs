//! `run`: create + start, then (in the foreground) forward signals, relay a terminal,
//! wait for the container's process and delete the container.

use anyhow::Context;
use nix::unistd::Pid;

use super::{CreateFlags, Globals};
use crate::{container, foreground};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// Disable the use of the subreaper used to reap reparented processes
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let relay = !a.detach && a.flags.console_socket.is_none();
    let fg = if a.detach {
        None
    } else {
        Some(foreground::Foreground::prepare(!a.no_subreaper)?)
    };
    let created = container::create(&a.flags.opts(g, relay)).context("sangja run failed")?;
    if let Err(e) = container::start_locked(&created.dir) {
        let _ = container::destroy_exited(created.dir);
        return Err(anyhow::Error::new(e).context("sangja run failed"));
    }
    if a.detach {
        return Ok(0);
    }
    let Some(fg) = fg else { return Ok(0) };
    // Other commands (state, kill, exec) must reach the container while it runs.
    let crate::container::Created {
        dir,
        state,
        pty_master,
    } = created;
    drop(dir);
    let status = fg.wait(Pid::from_raw(state.pid), pty_master)?;
    if !a.keep {
        match crate::state::ContainerDir::open(&g.root, &a.flags.id) {
            Ok(dir) => container::destroy_exited(dir)?,
            // Deleted meanwhile by someone else (`delete --force`): nothing left to do.
            Err(crate::state::StateError::NotExist) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(status)
}
