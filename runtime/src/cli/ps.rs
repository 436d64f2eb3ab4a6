use std::io::Write;

use anyhow::Context;

use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Select one of: table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
    /// Arguments for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let (dir, _st, _s, cg) = crate::container::running_cgroup(&g.root, &a.id)?;
    drop(dir);
    let pids = cg.manager().pids()?;
    let mut out = std::io::stdout().lock();
    match a.format.as_str() {
        "json" => out.write_all(sangja_cgroups::ps::pids_json(&pids).as_bytes())?,
        "table" => {
            let args = if a.ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                a.ps_args.clone()
            };
            let o = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("running ps")?;
            if !o.status.success() {
                anyhow::bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
            let text =
                sangja_cgroups::ps::filter_ps_output(&String::from_utf8_lossy(&o.stdout), &pids)?;
            out.write_all(text.as_bytes())?;
        }
        other => anyhow::bail!("invalid format option {other:?}: use table or json"),
    }
    Ok(0)
}
