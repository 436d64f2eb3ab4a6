//! Filter flags: which ones sangja knows, which ones this libseccomp and kernel support,
//! and setting them on a filter.

use libseccomp::{ScmpAction, ScmpFilterContext};
use oci_spec::runtime::LinuxSeccompFilterFlag;

use crate::error::{spec_name, FilterError};
use crate::kernel;

/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV appeared in Linux 5.19.
const WAIT_KILLABLE_RECV_KERNEL: (u32, u32) = (5, 19);

/// The flags sangja can apply, in runc's `features` order.
pub const KNOWN: [LinuxSeccompFilterFlag; 4] = [
    LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
];

/// Sets `flag` on `ctx`. libseccomp checks its own version and the kernel's support
/// (its API level) and refuses what either lacks, which we report against `field`.
pub(crate) fn apply(
    ctx: &mut ScmpFilterContext,
    flag: LinuxSeccompFilterFlag,
    field: &str,
) -> Result<(), FilterError> {
    let result = match flag {
        // The runtime is single-threaded when it loads, so TSYNC changes nothing there;
        // it is still passed on so a caller with threads gets what it asked for.
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true).map(|_| ()),
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true).map(|_| ()),
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true).map(|_| ()),
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            // sangja passes filter flags to seccomp(2) itself, so a libseccomp older
            // than 2.6 (which lacks the attribute) is fine when the kernel has the flag.
            match ctx.set_ctl_waitkill(true) {
                Ok(_) => Ok(()),
                Err(_) if kernel::running().is_some_and(|k| k >= WAIT_KILLABLE_RECV_KERNEL) => {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    result.map_err(|source| FilterError::Libseccomp {
        field: field.to_string(),
        what: format!(
            "{} is not supported by this libseccomp ({}) or kernel",
            spec_name(&flag),
            library_version()
        ),
        source,
    })
}

/// Whether `flag` can be set here, asked of libseccomp on a throwaway context the way
/// runc's FlagSupported does.
pub fn supported(flag: LinuxSeccompFilterFlag) -> bool {
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return false;
    };
    apply(&mut ctx, flag, "").is_ok()
}

/// "major.minor.micro" of the libseccomp this process runs with.
pub fn library_version() -> String {
    match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("libseccomp {}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "libseccomp of unknown version".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_spec_allow_and_tsync_are_supported_here() {
        // Debian 12's libseccomp 2.5.4 on any kernel newer than 4.17 supports these three.
        assert!(supported(LinuxSeccompFilterFlag::SeccompFilterFlagTsync));
        assert!(supported(LinuxSeccompFilterFlag::SeccompFilterFlagLog));
        assert!(supported(
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow
        ));
    }

    #[test]
    fn wait_killable_recv_follows_the_kernel() {
        let v = libseccomp::ScmpVersion::current().unwrap();
        let library = (v.major, v.minor) >= (2, 6) && libseccomp::get_api() >= 7;
        let kernel = kernel::running().unwrap() >= WAIT_KILLABLE_RECV_KERNEL;
        assert_eq!(
            supported(LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv),
            library || kernel
        );
    }
}
