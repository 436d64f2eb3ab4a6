//! `spec`: writes runc's default config.json (or its rootless variant) into the bundle.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::Globals;

const DEFAULT: &str = include_str!("default_config.json");
const ROOTLESS: &str = include_str!("default_config_rootless.json");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

/// The default config as text, with the rootless id maps filled in for the caller.
pub fn default_config(rootless: bool) -> anyhow::Result<String> {
    if !rootless {
        return Ok(DEFAULT.to_string());
    }
    let mut v: serde_json::Value = serde_json::from_str(ROOTLESS)?;
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    v["linux"]["uidMappings"][0]["hostID"] = uid.into();
    v["linux"]["gidMappings"][0]["hostID"] = gid.into();
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&v, &mut ser)?;
    Ok(String::from_utf8(out)?)
}

pub fn run(_g: &Globals, a: Args) -> anyhow::Result<i32> {
    let path = a.bundle.join(crate::spec::CONFIG_NAME);
    if path.exists() {
        anyhow::bail!("File {} exists. Remove it first", path.display());
    }
    let text = default_config(a.rootless)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_parse_as_specs() {
        for rootless in [false, true] {
            let text = super::default_config(rootless).unwrap();
            crate::spec::parse(std::path::Path::new("config.json"), &text).unwrap();
        }
    }
}
