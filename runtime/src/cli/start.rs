use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    crate::container::start(&g.root, &a.id)?;
    Ok(0)
}
