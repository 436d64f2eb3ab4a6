//! Switching to the configured user: supplementary groups, gid, uid, umask; what the
//! container's /etc/passwd says of that user.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use super::{field_err, SecurityError};

/// Sets groups, gid and uid, keeping capabilities across the switch (PR_SET_KEEPCAPS)
/// so they can be set to exactly what the config asks afterwards.
pub fn switch(user: &User, setgroups_allowed: bool) -> Result<(), SecurityError> {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    if setgroups_allowed {
        let gids: Vec<Gid> = user
            .additional_gids()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(Gid::from_raw)
            .collect();
        setgroups(&gids)
            .map_err(|e| field_err("process.user.additionalGids", format!("setgroups: {e}")))?;
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid)
        .map_err(|e| field_err("process.user.gid", format!("setgid {}: {e}", user.gid())))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid)
        .map_err(|e| field_err("process.user.uid", format!("setuid {}: {e}", user.uid())))?;
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
            mask as libc::mode_t,
        ));
    }
    Ok(())
}

/// The fields of one /etc/passwd line the runtime uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub home: String,
}

/// The first entry of `uid` in passwd text (first match wins, as in runc and libc).
/// Read directly rather than through NSS: the shipped binary is static, where glibc's
/// NSS would dlopen modules, and inside a container the host's modules mean nothing.
pub fn passwd_entry(passwd: &str, uid: u32) -> Option<PasswdEntry> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let id = f.get(2)?.parse::<u32>().ok()?;
        (id == uid).then(|| PasswdEntry {
            name: f[0].to_string(),
            home: f.get(5).copied().unwrap_or_default().to_string(),
        })
    })
}

/// process.env with HOME filled in as runc does when it is missing or empty: the home
/// of process.user.uid in the container's /etc/passwd, "/" without an entry or a
/// readable file (dockerd sets no HOME; images and scripts expect one). To be called
/// in the container's root (after pivot_root), before the uid switch.
pub fn env_with_home(env: &[String], uid: u32) -> Vec<String> {
    with_home(env, uid, || std::fs::read_to_string("/etc/passwd").ok())
}

fn with_home(env: &[String], uid: u32, passwd: impl FnOnce() -> Option<String>) -> Vec<String> {
    if env
        .iter()
        .any(|kv| kv.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()))
    {
        return env.to_vec();
    }
    let home = passwd()
        .and_then(|p| passwd_entry(&p, uid))
        .map_or_else(|| "/".to_string(), |e| e.home);
    env.iter()
        .filter(|kv| !kv.starts_with("HOME="))
        .cloned()
        .chain(std::iter::once(format!("HOME={home}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\nbroken\n\
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
        nohome:x:7:7::\ndup:x:0:0::/elsewhere:/bin/sh\n";

    fn env(kv: &[&str]) -> Vec<String> {
        kv.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn passwd_entry_takes_the_first_line_of_the_uid() {
        let root = passwd_entry(PASSWD, 0).unwrap();
        assert_eq!((root.name.as_str(), root.home.as_str()), ("root", "/root"));
        assert_eq!(passwd_entry(PASSWD, 65534).unwrap().home, "/nonexistent");
        assert_eq!(passwd_entry(PASSWD, 7).unwrap().home, "");
        assert_eq!(passwd_entry(PASSWD, 5), None);
    }

    #[test]
    fn home_comes_from_passwd_when_env_has_none() {
        let got = with_home(&env(&["PATH=/bin"]), 0, || Some(PASSWD.into()));
        assert_eq!(got, env(&["PATH=/bin", "HOME=/root"]));
        let got = with_home(&env(&["HOME="]), 65534, || Some(PASSWD.into()));
        assert_eq!(got, env(&["HOME=/nonexistent"]));
    }

    #[test]
    fn home_is_slash_without_an_entry_or_a_file() {
        assert_eq!(
            with_home(&[], 1000, || Some(PASSWD.into())),
            env(&["HOME=/"])
        );
        assert_eq!(with_home(&[], 0, || None), env(&["HOME=/"]));
    }

    #[test]
    fn a_set_home_is_kept_and_passwd_never_read() {
        let e = env(&["HOME=/x", "A=1"]);
        assert_eq!(with_home(&e, 0, || panic!("passwd read")), e);
    }
}
