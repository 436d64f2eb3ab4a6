use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

pub fn pause(g: &Globals, a: Args) -> anyhow::Result<i32> {
    crate::container::pause(&g.root, &a.id)?;
    Ok(0)
}

pub fn resume(g: &Globals, a: Args) -> anyhow::Result<i32> {
    crate::container::resume(&g.root, &a.id)?;
    Ok(0)
}
