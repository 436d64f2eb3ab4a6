//! `process.rlimits`: setrlimit for each entry, in the container init before exec.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use super::{field_err, SecurityError};

pub fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn apply(limits: &[PosixRlimit]) -> Result<(), SecurityError> {
    for (i, l) in limits.iter().enumerate() {
        if l.soft() > l.hard() {
            return Err(field_err(
                format!("process.rlimits[{i}]"),
                format!(
                    "soft limit {} is above the hard limit {}",
                    l.soft(),
                    l.hard()
                ),
            ));
        }
        let r = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: setrlimit with a valid resource and struct.
        if unsafe { libc::setrlimit(resource(l.typ()), &r) } < 0 {
            let e = std::io::Error::last_os_error();
            return Err(field_err(
                format!("process.rlimits[{i}]"),
                format!(
                    "setrlimit {:?} soft={} hard={}: {e}",
                    l.typ(),
                    l.soft(),
                    l.hard()
                ),
            ));
        }
    }
    Ok(())
}
