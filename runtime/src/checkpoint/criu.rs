//! The CRIU command line sangja drives: what `criu dump` and `criu restore` are told, and
//! the error lines of CRIU's own log when it fails.
//!
//! runc speaks CRIU's RPC (protobuf over a socketpair); the command line takes the same
//! options, needs no protobuf code, and its log is the same file, so sangja uses it.

use std::path::{Path, PathBuf};

/// How CRIU treats the container's cgroups (runc's --manage-cgroups-mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupMode {
    Soft,
    Full,
    Strict,
    Ignore,
}

impl std::str::FromStr for CgroupMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "soft" => CgroupMode::Soft,
            "full" => CgroupMode::Full,
            "strict" => CgroupMode::Strict,
            "ignore" => CgroupMode::Ignore,
            other => {
                return Err(format!(
                    "invalid --manage-cgroups-mode {other:?}: expected soft, full, strict or ignore"
                ))
            }
        })
    }
}

impl CgroupMode {
    fn name(self) -> &'static str {
        match self {
            CgroupMode::Soft => "soft",
            CgroupMode::Full => "full",
            CgroupMode::Strict => "strict",
            CgroupMode::Ignore => "ignore",
        }
    }
}

/// The options dump and restore share (runc's flags of the same names).
#[derive(Clone, Debug, Default)]
pub struct Common {
    pub criu: PathBuf,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub lazy_pages: bool,
    pub auto_dedup: bool,
    pub manage_cgroups_mode: Option<CgroupMode>,
    pub empty_ns: Vec<String>,
}

impl Common {
    /// Where CRIU writes its log: the work directory, else the image directory.
    pub fn work_dir(&self) -> &Path {
        self.work_path.as_deref().unwrap_or(&self.image_path)
    }
}

/// The arguments every CRIU call gets: directories, log, and the shared flags.
pub fn base_args(action: &str, c: &Common, log: &str) -> Vec<String> {
    let mut a = vec![
        action.to_string(),
        "--images-dir".into(),
        c.image_path.display().to_string(),
        "--work-dir".into(),
        c.work_dir().display().to_string(),
        "--log-file".into(),
        log.into(),
        "-v4".into(),
    ];
    for (on, flag) in [
        (c.tcp_established, "--tcp-established"),
        (c.ext_unix_sk, "--ext-unix-sk"),
        (c.shell_job, "--shell-job"),
        (c.file_locks, "--file-locks"),
        (c.lazy_pages, "--lazy-pages"),
        (c.auto_dedup, "--auto-dedup"),
    ] {
        if on {
            a.push(flag.into());
        }
    }
    if let Some(m) = c.manage_cgroups_mode {
        a.push(format!("--manage-cgroups={}", m.name()));
    }
    for ns in &c.empty_ns {
        a.push("--empty-ns".into());
        a.push(ns.clone());
    }
    a
}

/// The bind mounts of the config, which CRIU must treat as external: at dump each is
/// named by its destination, at restore that name is mapped to the host source again.
pub fn external_mounts(spec: &oci_spec::runtime::Spec, restore: bool) -> Vec<String> {
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if !bind {
            continue;
        }
        let dest = m.destination().display().to_string();
        let value = if restore {
            m.source()
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| dest.clone())
        } else {
            dest.clone()
        };
        out.push("--external".into());
        out.push(format!("mnt[{dest}]:{value}"));
    }
    out
}

/// `--page-server ADDRESS:PORT` as CRIU's --page-server --address --port.
pub fn page_server_args(spec: &str) -> Result<Vec<String>, String> {
    let (addr, port) = spec
        .rsplit_once(':')
        .filter(|(a, p)| !a.is_empty() && p.parse::<u16>().is_ok())
        .ok_or_else(|| format!("--page-server {spec:?}: expected ADDRESS:PORT"))?;
    Ok(vec![
        "--page-server".into(),
        "--address".into(),
        addr.trim_matches(['[', ']']).into(),
        "--port".into(),
        port.into(),
    ])
}

/// The error lines of a CRIU log ("Error (file.c:123): ..."), the last few, for the
/// message that explains a failed dump or restore.
pub fn log_errors(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let errors: Vec<String> = text
        .lines()
        .filter(|l| l.contains("Error (") || l.starts_with("Error"))
        .map(|l| l.trim().to_string())
        .collect();
    let skip = errors.len().saturating_sub(3);
    errors.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_args_carry_every_flag() {
        let c = Common {
            criu: "criu".into(),
            image_path: "/img".into(),
            work_path: Some("/work".into()),
            tcp_established: true,
            ext_unix_sk: true,
            shell_job: true,
            file_locks: true,
            lazy_pages: true,
            auto_dedup: true,
            manage_cgroups_mode: Some(CgroupMode::Strict),
            empty_ns: vec!["net".into()],
        };
        let a = base_args("dump", &c, "dump.log");
        let text = a.join(" ");
        assert_eq!(
            text,
            "dump --images-dir /img --work-dir /work --log-file dump.log -v4 --tcp-established \
             --ext-unix-sk --shell-job --file-locks --lazy-pages --auto-dedup \
             --manage-cgroups=strict --empty-ns net"
        );
        let plain = Common {
            image_path: "/img".into(),
            ..Default::default()
        };
        assert_eq!(plain.work_dir(), Path::new("/img"));
    }

    #[test]
    fn page_server() {
        assert_eq!(
            page_server_args("10.0.0.1:27").unwrap().join(" "),
            "--page-server --address 10.0.0.1 --port 27"
        );
        assert!(page_server_args("nohost").is_err());
        assert!(page_server_args("h:notaport").is_err());
        assert!("bogus".parse::<CgroupMode>().is_err());
    }

    #[test]
    fn last_error_lines() {
        let dir = std::env::temp_dir().join(format!("sangja-criu-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dump.log");
        std::fs::write(
            &log,
            "(00.000) Version: 3.17.1\nError (criu/vdso.c:613): vdso: Failed to fill self vdso symtable\n(00.1) x\nError (criu/crtools.c:260): Could not initialize kernel features detection.\n",
        )
        .unwrap();
        assert_eq!(
            log_errors(&log),
            vec![
                "Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable",
                "Error (criu/crtools.c:260): Could not initialize kernel features detection."
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
