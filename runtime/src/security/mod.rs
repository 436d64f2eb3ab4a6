//! Process security: capabilities, the uid/gid switch, rlimits, no_new_privs, oom score.

pub mod capabilities;
pub mod lsm;
pub mod rlimits;
pub mod sched;
pub mod user;

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{field}: {msg}")]
    Field { field: String, msg: String },
}

pub(crate) fn field_err(field: impl Into<String>, msg: impl std::fmt::Display) -> SecurityError {
    SecurityError::Field {
        field: field.into(),
        msg: msg.to_string(),
    }
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1).
pub fn set_no_new_privs() -> Result<(), SecurityError> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
        return Err(field_err(
            "process.noNewPrivileges",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Writes /proc/self/oom_score_adj.
pub fn set_oom_score_adj(value: i32) -> Result<(), SecurityError> {
    std::fs::write("/proc/self/oom_score_adj", value.to_string()).map_err(|e| {
        field_err(
            "process.oomScoreAdj",
            format!("writing {value} to /proc/self/oom_score_adj: {e}"),
        )
    })
}
