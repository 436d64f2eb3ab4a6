//! `run --init`: sangja-init (init/, built static by `make init`) as the container's
//! PID 1, bind-mounted read-only where docker puts tini, with the command run as its
//! child. The rootfs need not have an init of its own.

use super::{io_err, ContainerError};
use std::path::PathBuf;

/// Where the init appears inside the container (docker's path for tini).
pub const IN_CONTAINER: &str = "/sbin/docker-init";

/// The environment variable naming the init binary on the host.
pub const ENV: &str = "SANGJA_IMAGE_INIT";

/// The host's init binary: `$SANGJA_IMAGE_INIT`, else `sangja-init` next to this
/// executable (where `make build` and `make install` put it).
pub fn locate() -> Result<PathBuf, ContainerError> {
    let path = match std::env::var_os(ENV) {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe().map_err(io_err("/proc/self/exe"))?;
            exe.with_file_name("sangja-init")
        }
    };
    if !path.is_file() {
        return Err(ContainerError::Flag {
            flag: "--init",
            value: String::new(),
            reason: format!(
                "the init binary {} is missing (`make init` builds it; {ENV} names another)",
                path.display()
            ),
        });
    }
    Ok(path)
}

/// The process args behind the init.
pub fn wrap(args: Vec<String>) -> Vec<String> {
    let mut out = vec![IN_CONTAINER.to_string(), "--".to_string()];
    out.extend(args);
    out
}

/// The read-only bind of the init into the container.
pub fn mount(host: &std::path::Path) -> serde_json::Value {
    serde_json::json!({
        "destination": IN_CONTAINER, "type": "bind", "source": host,
        "options": ["rbind", "rprivate", "ro"],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn wraps_the_command() {
        assert_eq!(
            super::wrap(vec!["sh".into(), "-c".into(), "x".into()]),
            ["/sbin/docker-init", "--", "sh", "-c", "x"]
        );
    }
}
