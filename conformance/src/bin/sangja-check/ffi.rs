//! The few kernel calls the checker needs that std does not wrap. std already
//! links the C library, so declaring its symbols here keeps the checker free of
//! crates beyond std and serde_json.

use std::ffi::{c_int, c_long};

extern "C" {
    fn syscall(number: c_long, ...) -> c_long;
    fn umask(mask: u32) -> u32;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn ioctl(fd: c_int, request: std::ffi::c_ulong, ...) -> c_int;
    fn isatty(fd: c_int) -> c_int;
}

/// Whether `fd` is a terminal and, if so, its (rows, columns).
pub fn terminal_size(fd: i32) -> (bool, Option<(u16, u16)>) {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { isatty(fd) } != 1 {
        return (false, None);
    }
    // struct winsize: rows, columns, x pixels, y pixels.
    let mut ws = [0u16; 4];
    const TIOCGWINSZ: std::ffi::c_ulong = 0x5413;
    // SAFETY: TIOCGWINSZ writes one struct winsize (four u16) into `ws`.
    let ret = unsafe { ioctl(fd, TIOCGWINSZ, ws.as_mut_ptr()) };
    (true, (ret == 0).then_some((ws[0], ws[1])))
}

/// Result of a raw system call: `Ok(return value)` or `Err(errno)`.
pub fn raw_syscall(number: c_long, args: &[c_long]) -> Result<c_long, i32> {
    let mut a = [0 as c_long; 6];
    for (slot, v) in a.iter_mut().zip(args) {
        *slot = *v;
    }
    // SAFETY: callers only pass system calls whose arguments are plain integers
    // or null pointers (see probes.rs), so the kernel never writes into memory
    // we do not own; extra zero arguments are ignored by the kernel.
    let ret = unsafe { syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if ret == -1 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(ret)
    }
}

/// The process umask, read without changing it for more than an instant.
/// /proc/self/status has `Umask:` too, but only on kernels from 4.7 on.
pub fn current_umask() -> u32 {
    // SAFETY: umask only swaps an integer in the process; restoring it at once
    // leaves the process as it was (the checker is single-threaded).
    unsafe {
        let old = umask(0o022);
        umask(old);
        old
    }
}

/// Sends `sig` to `pid`; the errno on failure.
pub fn send_signal(pid: i32, sig: i32) -> Result<(), i32> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let ret = unsafe { kill(pid, sig) };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

// x86_64 system call numbers used by the probes and the report.
pub const SYS_GETPID: c_long = 39;
pub const SYS_UNAME: c_long = 63;
pub const SYS_GETPPID: c_long = 110;
pub const SYS_OPENAT2: c_long = 437;
pub const SYS_SCHED_GETSCHEDULER: c_long = 145;
pub const SYS_SYNC: c_long = 162;
pub const SYS_IOPRIO_GET: c_long = 252;
pub const SYS_UNSHARE: c_long = 272;
pub const SYS_PERSONALITY: c_long = 135;
