//! OCI seccomp actions and their libseccomp counterparts, with runc's defaults for errnoRet.

use libseccomp::ScmpAction;
use oci_spec::runtime::LinuxSeccompAction;

use crate::error::FilterError;

/// Every action the runtime-spec defines, in the sorted order runc's `features` prints.
pub const ALL: [LinuxSeccompAction; 9] = [
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActTrap,
];

/// runc returns EPERM for ERRNO and TRACE when the profile gives no errnoRet.
const DEFAULT_RET: u16 = libc::EPERM as u16;

/// Converts an action and its optional errnoRet (found at `ret_field`) to libseccomp's form.
///
/// SCMP_ACT_KILL means "kill the thread" as in runc (and libseccomp's SCMP_ACT_KILL).
/// errnoRet on other actions has no meaning and is ignored, as runc does.
pub(crate) fn to_scmp(
    action: LinuxSeccompAction,
    ret: Option<u32>,
    ret_field: &str,
) -> Result<ScmpAction, FilterError> {
    let ret16 = || -> Result<u16, FilterError> {
        match ret {
            None => Ok(DEFAULT_RET),
            Some(v) => u16::try_from(v).map_err(|_| {
                FilterError::invalid(ret_field, format!("{v} is out of range (0-65535)"))
            }),
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret16()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret16()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_and_trace_default_to_eperm() {
        assert_eq!(
            to_scmp(LinuxSeccompAction::ScmpActErrno, None, "f").unwrap(),
            ScmpAction::Errno(libc::EPERM)
        );
        assert_eq!(
            to_scmp(LinuxSeccompAction::ScmpActTrace, None, "f").unwrap(),
            ScmpAction::Trace(libc::EPERM as u16)
        );
        assert_eq!(
            to_scmp(LinuxSeccompAction::ScmpActErrno, Some(38), "f").unwrap(),
            ScmpAction::Errno(38)
        );
        assert_eq!(
            to_scmp(LinuxSeccompAction::ScmpActTrace, Some(7), "f").unwrap(),
            ScmpAction::Trace(7)
        );
    }

    #[test]
    fn kill_is_kill_thread() {
        assert_eq!(
            to_scmp(LinuxSeccompAction::ScmpActKill, None, "f").unwrap(),
            ScmpAction::KillThread
        );
        assert_eq!(
            to_scmp(LinuxSeccompAction::ScmpActKillProcess, None, "f").unwrap(),
            ScmpAction::KillProcess
        );
    }

    #[test]
    fn errno_ret_out_of_range_names_the_field() {
        let err = to_scmp(
            LinuxSeccompAction::ScmpActErrno,
            Some(70000),
            "linux.seccomp.syscalls[2].errnoRet",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.seccomp.syscalls[2].errnoRet: 70000 is out of range (0-65535)"
        );
    }

    #[test]
    fn all_lists_nine_sorted_names() {
        let names: Vec<String> = ALL.iter().map(crate::error::spec_name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(names.contains(&"SCMP_ACT_KILL_PROCESS".to_string()));
        assert_eq!(names.len(), 9);
    }
}
