//! Switching to the configured user: supplementary groups, gid, uid, umask.

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
