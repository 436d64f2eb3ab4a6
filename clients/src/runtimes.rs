//! The two runtimes every flow runs against: sangja, and runc from apt as the reference.

use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One runtime binary under test.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Short name: the podman runtime name and the trial name part.
    pub name: String,
    pub path: PathBuf,
    /// The real runtime's name (differs from `name` for a traced wrapper): its
    /// default state root is /run/<real>.
    pub real: String,
    /// containerd runs this runtime through this shim (`ctr run --runtime SHIM`)
    /// instead of the stock runc shim with `--runc-binary`.
    pub shim: Option<PathBuf>,
}

impl Runtime {
    /// sangja from `SANGJA_BIN` (scripts/test.sh exports the workspace's release build),
    /// else the workspace's own target/release.
    pub fn sangja() -> Runtime {
        let path = std::env::var_os("SANGJA_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja")
            });
        let path = path.canonicalize().unwrap_or(path);
        Runtime {
            name: "sangja".into(),
            path,
            real: "sangja".into(),
            shim: None,
        }
    }

    /// sangja under its own shim, containerd-shim-sangja-v2 from `SANGJA_SHIM_BIN`
    /// (scripts/test.sh), else next to sangja in the workspace's target/release. The
    /// shim finds sangja beside itself.
    pub fn sangja_shim() -> Runtime {
        let sangja = Runtime::sangja();
        let shim = std::env::var_os("SANGJA_SHIM_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| sangja.path.with_file_name(SHIM_NAME));
        Runtime {
            name: "sangja-shim".into(),
            shim: Some(shim.canonicalize().unwrap_or(shim)),
            ..sangja
        }
    }

    /// runc 1.1.5 from Debian.
    pub fn runc() -> Runtime {
        let path = ["/usr/sbin/runc", "/usr/bin/runc"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"));
        Runtime {
            name: "runc".into(),
            path,
            real: "runc".into(),
            shim: None,
        }
    }

    /// Why this runtime cannot be tested here, if it cannot.
    pub fn missing(&self) -> Option<String> {
        let shim = self.shim.as_ref().filter(|s| !s.is_file());
        if let Some(s) = shim {
            Some(format!("{} shim not found at {}", self.name, s.display()))
        } else if self.path.is_file() {
            None
        } else {
            Some(format!(
                "{} binary not found at {}",
                self.name,
                self.path.display()
            ))
        }
    }

    /// The state root containerd's shim gives the runtime, for namespace `ns`.
    pub fn shim_root(&self, ns: &str) -> PathBuf {
        let base = if self.shim.is_some() {
            "/run/containerd/sangja"
        } else {
            "/run/containerd/runc"
        };
        Path::new(base).join(ns)
    }

    /// The name containerd's shim (go-runc) puts before "create failed": the binary's
    /// file name.
    pub fn command_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.name.clone())
    }

    /// A wrapper that runs this runtime and appends `<exit code> <argv>` of every call
    /// to a log, so a test sees each call a client made and how it ended. It sits in a
    /// directory of its own under the runtime's own file name: clients name the
    /// runtime in messages by that name. Children, fds and exit code pass through.
    pub fn traced(&self, dir: &Path) -> Result<Traced> {
        let bin_dir = dir.join(&self.name);
        fs::create_dir_all(&bin_dir)?;
        let wrapper = bin_dir.join(self.command_name());
        let log = dir.join(format!("{}.calls", self.name));
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n'{real}' \"$@\"\nrc=$?\nprintf '%s %s\\n' \"$rc\" \"$*\" >> '{log}'\nexit $rc\n",
                real = self.path.display(),
                log = log.display()
            ),
        )
        .with_context(|| format!("write {}", wrapper.display()))?;
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
        // A shim beside the wrapper (a link) runs the wrapper: the shim looks for
        // the runtime next to the path containerd started it by.
        let shim = match &self.shim {
            Some(s) => {
                let link = bin_dir.join(SHIM_NAME);
                let _ = fs::remove_file(&link);
                std::os::unix::fs::symlink(s, &link)
                    .with_context(|| format!("link {}", link.display()))?;
                Some(link)
            }
            None => None,
        };
        Ok(Traced {
            rt: Runtime {
                name: format!("{}-traced", self.name),
                path: wrapper,
                real: self.real.clone(),
                shim,
            },
            log,
        })
    }
}

/// The file name of sangja's containerd shim.
pub const SHIM_NAME: &str = "containerd-shim-sangja-v2";

/// A traced runtime and the log of its calls.
#[derive(Debug, Clone)]
pub struct Traced {
    pub rt: Runtime,
    pub log: PathBuf,
}

/// One runtime call a client made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub code: i32,
    /// The subcommand (create, start, exec, ...), after runc's global flags.
    pub verb: String,
    pub args: String,
}

impl Traced {
    /// Forgets earlier calls.
    pub fn reset(&self) -> Result<()> {
        fs::write(&self.log, "")?;
        Ok(())
    }

    /// Every call since the last reset, in order.
    pub fn calls(&self) -> Result<Vec<Call>> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        Ok(text.lines().filter_map(parse_call).collect())
    }
}

/// Every call succeeded, every verb in `required` was called, and for each
/// `(verb, flag)` in `with_flags` some call of that verb carried the flag.
pub fn check_calls(calls: &[Call], required: &[&str], with_flags: &[(&str, &str)]) -> Result<()> {
    let listing = || {
        calls
            .iter()
            .map(|c| format!("  exit {}: {}", c.code, c.args))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let failed: Vec<&Call> = calls.iter().filter(|c| c.code != 0).collect();
    let missing: Vec<&&str> = required
        .iter()
        .filter(|v| !calls.iter().any(|c| c.verb == **v))
        .collect();
    let unflagged: Vec<String> = with_flags
        .iter()
        .filter(|(v, f)| {
            !calls
                .iter()
                .any(|c| c.verb == *v && c.args.split_whitespace().any(|w| w == *f))
        })
        .map(|(v, f)| format!("{v} {f}"))
        .collect();
    anyhow::ensure!(
        failed.is_empty() && missing.is_empty() && unflagged.is_empty(),
        "runtime calls: {} failed, verbs never called {missing:?}, never called with {unflagged:?}; \
         the calls were:\n{}",
        failed.len(),
        listing()
    );
    Ok(())
}

/// Parses `<code> <argv...>` as the wrapper logs it.
fn parse_call(line: &str) -> Option<Call> {
    let (code, args) = line.split_once(' ')?;
    let mut words = args.split_whitespace();
    let mut verb = String::new();
    while let Some(w) = words.next() {
        if !w.starts_with('-') {
            verb = w.to_string();
            break;
        }
        // runc's global flags that take a separate value.
        if !w.contains('=') && ["--root", "--log", "--log-format", "--criu"].contains(&w) {
            words.next();
        }
    }
    Some(Call {
        code: code.parse().ok()?,
        verb,
        args: args.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_lines_parse() {
        let c = parse_call("0 --root /run/x --log /b/log.json --log-format json exec --detach c1")
            .unwrap();
        assert_eq!((c.code, c.verb.as_str()), (0, "exec"));
        let c = parse_call("1 --log-format=json --log /l create --bundle B c2").unwrap();
        assert_eq!((c.code, c.verb.as_str()), (1, "create"));
        let c = parse_call("0 delete --force c3").unwrap();
        assert_eq!(c.verb, "delete");
    }
}
