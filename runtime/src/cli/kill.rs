use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Send the signal to all processes in the container
    #[arg(short = 'a', long)]
    pub all: bool,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
    /// The signal, by name (KILL, SIGKILL) or number; SIGTERM by default
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let sig = crate::signal::parse(&a.signal)?;
    crate::container::kill_container(&g.root, &a.id, sig, a.all)?;
    Ok(0)
}
