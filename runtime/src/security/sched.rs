//! Process attributes of runtime-spec 1.2 that runc 1.1.5 lacks: `linux.personality`,
//! `process.ioPriority`, `process.scheduler` and `process.execCPUAffinity`. All are
//! applied in the container process right before exec and survive it.

use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use super::{field_err, SecurityError};

pub fn apply_personality(p: &LinuxPersonality) -> Result<(), SecurityError> {
    let domain: libc::c_ulong = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(field_err(
            "linux.personality.flags",
            "no personality flags are defined by runtime-spec; leave the list empty",
        ));
    }
    // SAFETY: personality takes a plain integer.
    if unsafe { libc::personality(domain) } < 0 {
        return Err(field_err(
            "linux.personality.domain",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

pub fn apply_io_priority(p: &LinuxIOPriority) -> Result<(), SecurityError> {
    let class: i64 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&p.priority()) {
        return Err(field_err(
            "process.ioPriority.priority",
            format!("{} is outside 0..7", p.priority()),
        ));
    }
    const IOPRIO_WHO_PROCESS: i64 = 1;
    let value = (class << 13) | p.priority();
    // SAFETY: ioprio_set with integer arguments for the calling process.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } < 0 {
        return Err(field_err(
            "process.ioPriority",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

pub fn apply_scheduler(s: &Scheduler) -> Result<(), SecurityError> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER,
        LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO,
        LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR,
        LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().as_deref().unwrap_or_default() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy as u32,
        sched_flags: flags,
        sched_nice: s.nice().unwrap_or(0),
        sched_priority: s.priority().unwrap_or(0).max(0) as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: sched_setattr on the calling thread with a properly sized attr struct.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } < 0 {
        return Err(field_err(
            "process.scheduler",
            format!("sched_setattr: {}", std::io::Error::last_os_error()),
        ));
    }
    Ok(())
}

/// Parses a cpu list ("0-3,5") into a cpu set.
pub fn parse_cpus(field: &str, list: &str) -> Result<libc::cpu_set_t, SecurityError> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let bad = || field_err(field, format!("invalid cpu list {list:?}"));
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                a.parse::<usize>().map_err(|_| bad())?,
                b.parse::<usize>().map_err(|_| bad())?,
            ),
            None => {
                let n = part.parse::<usize>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if a > b || b >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        for cpu in a..=b {
            // SAFETY: cpu is below CPU_SETSIZE (checked above).
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    Ok(set)
}

fn set_affinity(field: &str, list: &str) -> Result<(), SecurityError> {
    let set = parse_cpus(field, list)?;
    // SAFETY: sched_setaffinity on the calling thread with a valid set.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } < 0 {
        return Err(field_err(
            field,
            format!(
                "sched_setaffinity {list}: {}",
                std::io::Error::last_os_error()
            ),
        ));
    }
    Ok(())
}

/// `initial`: the affinity of the process while it joins the container.
pub fn apply_initial_affinity(a: &ExecCPUAffinity) -> Result<(), SecurityError> {
    match a.initial() {
        Some(l) if !l.is_empty() => set_affinity("process.execCPUAffinity.initial", l),
        _ => Ok(()),
    }
}

/// `final`: the affinity the process execs with.
pub fn apply_final_affinity(a: &ExecCPUAffinity) -> Result<(), SecurityError> {
    match a.cpu_affinity_final() {
        Some(l) if !l.is_empty() => set_affinity("process.execCPUAffinity.final", l),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        let s = parse_cpus("f", "0-2,5").unwrap();
        for (cpu, want) in [(0, true), (1, true), (2, true), (3, false), (5, true)] {
            // SAFETY: cpu is below CPU_SETSIZE.
            assert_eq!(unsafe { libc::CPU_ISSET(cpu, &s) }, want);
        }
        assert!(parse_cpus("f", "3-1").is_err());
        assert!(parse_cpus("f", "x").is_err());
    }
}
