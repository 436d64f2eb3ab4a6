//! Where a container's cgroup goes: `linux.cgroupsPath` cleaned as runc cleans it,
//! and the systemd `slice:prefix:name` form.

use crate::Error;

/// Go's `filepath.Clean`: lexical, no symlink resolution.
pub fn go_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// runc's `utils.CleanPath`: a relative path cannot climb above its start
/// ("../../x" becomes "x"), an absolute one cannot climb above "/".
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let c = go_clean(p);
    if c.starts_with('/') {
        return c;
    }
    let rooted = go_clean(&format!("/{c}"));
    let rel = rooted.trim_start_matches('/');
    if rel.is_empty() {
        ".".into()
    } else {
        rel.to_string()
    }
}

/// The path inside each hierarchy, as runc's `innerPath`: the cleaned cgroupsPath,
/// or the container id when cgroupsPath is unset (placed relative to our own cgroup).
pub fn inner_path(cgroups_path: Option<&str>, container_id: &str) -> String {
    match cgroups_path.map(clean_path).filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => clean_path(container_id),
    }
}

/// `linux.cgroupsPath` in systemd form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdPath {
    pub slice: String,
    pub prefix: String,
    pub name: String,
}

/// Parses `slice:prefix:name`; an unset path means `system.slice:runc:<id>` as in runc.
pub fn parse_systemd_path(
    cgroups_path: Option<&str>,
    container_id: &str,
) -> Result<SystemdPath, Error> {
    let Some(p) = cgroups_path.filter(|p| !p.is_empty()) else {
        return Ok(SystemdPath {
            slice: "system.slice".into(),
            prefix: "runc".into(),
            name: container_id.into(),
        });
    };
    let parts: Vec<&str> = p.split(':').collect();
    if parts.len() != 3 {
        return Err(Error::SystemdPath(p.to_string()));
    }
    if parts[0].contains('/') {
        return Err(Error::SystemdPath(p.to_string()));
    }
    Ok(SystemdPath {
        slice: parts[0].into(),
        prefix: parts[1].into(),
        name: parts[2].into(),
    })
}

/// systemd's own test (sd_booted): the directory exists only while systemd is PID 1.
pub(crate) fn systemd_running() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_clean_matches_go() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("../../x", "../../x"),
            ("/a/../../b//c/.", "/b/c"),
            ("./", "."),
        ] {
            assert_eq!(go_clean(i), o, "{i}");
        }
    }

    #[test]
    fn clean_path_matches_runc_placement() {
        // The three cases measured with runc 1.1.5 on this host.
        assert_eq!(clean_path("../../x/y"), "x/y");
        assert_eq!(clean_path("/a/../../b/c"), "/b/c");
        assert_eq!(clean_path("rel/d"), "rel/d");
        assert_eq!(clean_path(""), "");
        assert_eq!(inner_path(None, "ctest"), "ctest");
        assert_eq!(inner_path(Some(""), "ctest"), "ctest");
        assert_eq!(inner_path(Some("/x/../y"), "ctest"), "/y");
    }

    #[test]
    fn systemd_form() {
        let p = parse_systemd_path(Some("machine.slice:libpod:abc"), "abc").unwrap();
        assert_eq!(
            (p.slice.as_str(), p.prefix.as_str(), p.name.as_str()),
            ("machine.slice", "libpod", "abc")
        );
        assert_eq!(
            parse_systemd_path(None, "id").unwrap().slice,
            "system.slice"
        );
        let e = parse_systemd_path(Some("/a/b"), "id")
            .unwrap_err()
            .to_string();
        assert!(e.contains("slice:prefix:name") && e.contains("/a/b"), "{e}");
    }
}
