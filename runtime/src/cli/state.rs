use std::io::Write;

use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let s = crate::container::state(&g.root, &a.id)?;
    writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&s)?)?;
    Ok(0)
}
