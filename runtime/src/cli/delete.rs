use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Forcibly delete the container if it is still running (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    crate::container::delete(&g.root, &a.id, a.force)?;
    Ok(0)
}
