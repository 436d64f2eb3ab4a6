use anyhow::Context;

use super::{CreateFlags, Globals};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    crate::container::create(&a.flags.opts(g, false)).context("sangja create failed")?;
    Ok(0)
}
