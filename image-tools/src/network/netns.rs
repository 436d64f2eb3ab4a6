//! Persistent named network namespaces: a new netns bind-mounted on
//! `<store>/netns/<container id>` (as `ip netns add` does under /run/netns), made before
//! the container and given to the runtime as its network namespace path; the CNI
//! plugins configure it there. Removal unmounts and deletes the file.

use super::NetworkError;
use std::path::{Path, PathBuf};

pub fn dir(store_root: &Path) -> PathBuf {
    store_root.join("netns")
}

pub fn path(store_root: &Path, id: &str) -> PathBuf {
    dir(store_root).join(id)
}

fn err(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> NetworkError {
    let path = path.to_path_buf();
    let what = what.to_string();
    move |e| NetworkError::Io {
        path,
        source: std::io::Error::new(e.kind(), format!("{what}: {e}")),
    }
}

/// Whether `path` has a netns mounted on it.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    text.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        f.get(4).is_some_and(|m| unescape(m) == want)
    })
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(n as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// A new network namespace on `path`. A thread of its own unshares it (unshare of a
/// netns changes only the calling thread) and bind-mounts its /proc entry; the thread
/// then ends and the mount keeps the namespace alive.
pub fn create(path: &Path) -> Result<(), NetworkError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(err(d, "creating the netns directory"))?;
    }
    if is_mounted(path) {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(err(path, "creating the netns file"))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> std::io::Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        let tid = nix::unistd::gettid();
        let ns = format!("/proc/self/task/{tid}/ns/net");
        nix::mount::mount(
            Some(ns.as_str()),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("the netns thread panicked")));
    if let Err(e) = made {
        let _ = std::fs::remove_file(path);
        return Err(err(path, "making a network namespace")(e));
    }
    Ok(())
}

/// Unmounts and deletes; nothing there is fine.
pub fn remove(path: &Path) -> Result<(), NetworkError> {
    if is_mounted(path) {
        nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH)
            .map_err(|e| err(path, "unmounting the netns")(e.into()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(path, "removing the netns file")(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescape() {
        assert_eq!(super::unescape(r"/a\040b/c"), "/a b/c");
        assert_eq!(super::unescape("/plain"), "/plain");
    }
}
