//! Building a libseccomp filter from an OCI `linux.seccomp` object, and loading it.

use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};

use crate::error::{FilterError, ROOT};
use crate::{action, arch, enosys, flag, operator};

/// seccomp(2) operation and flag bits (linux/seccomp.h).
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const FLAG_TSYNC: u32 = 1 << 0;
const FLAG_LOG: u32 = 1 << 1;
const FLAG_SPEC_ALLOW: u32 = 1 << 2;
const FLAG_NEW_LISTENER: u32 = 1 << 3;
const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;
/// The kernel's limit on a cBPF program (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

/// libseccomp API level from which SCMP_ACT_NOTIFY works (libseccomp >= 2.5, Linux >= 5.7).
const NOTIFY_API_LEVEL: u32 = 6;

/// Past this many syscall entries libseccomp's binary-tree layout pays off. runc uses
/// the same threshold because libseccomp <= 2.5.4 misbuilds the tree for empty rule sets.
const OPTIMIZE_THRESHOLD: usize = 32;

/// A compiled libseccomp context, ready to load.
pub struct Filter {
    ctx: ScmpFilterContext,
    notify: bool,
    /// SECCOMP_FILTER_FLAG_* bits the profile asked for.
    flags: u32,
    /// runc's -ENOSYS prelude, when the default action denies.
    enosys: Option<Vec<enosys::ArchLimit>>,
    listener_path: Option<PathBuf>,
    listener_metadata: String,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("notify", &self.notify)
            .field("listener_path", &self.listener_path)
            .finish_non_exhaustive()
    }
}

/// Validates `seccomp` and builds the filter, without touching the calling process.
///
/// Safe to call in a threaded process and early (at `create`) so errors surface before
/// any container process exists. Syscall names the installed libseccomp does not know
/// are skipped with a warning; rules whose action equals the default action are skipped
/// (runc does both).
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter, FilterError> {
    let default = action::to_scmp(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        &format!("{ROOT}.defaultErrnoRet"),
    )?;
    if default == ScmpAction::Notify {
        // The notify fd travels to the runtime through write(2) and sendmsg(2); a
        // notifying default action would hang that hand-over.
        return Err(FilterError::invalid(
            format!("{ROOT}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be used as the default action",
        ));
    }
    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    check_notify_rules(seccomp)?;

    let mut ctx = ScmpFilterContext::new(default).map_err(|source| FilterError::Libseccomp {
        field: format!("{ROOT}.defaultAction"),
        what: "creating the filter".into(),
        source,
    })?;
    // The runtime decides no_new_privs from process.noNewPrivileges; libseccomp would
    // otherwise set it on every load.
    ctx.set_ctl_nnp(false)
        .map_err(|source| FilterError::Libseccomp {
            field: ROOT.into(),
            what: "clearing libseccomp's no_new_privs attribute".into(),
            source,
        })?;

    for (i, a) in seccomp.architectures().iter().flatten().enumerate() {
        let field = format!("{ROOT}.architectures[{i}]");
        ctx.add_arch(arch::to_scmp(*a))
            .map_err(|source| FilterError::Libseccomp {
                field,
                what: format!(
                    "adding architecture {} ({} may not know it)",
                    crate::error::spec_name(a),
                    flag::library_version()
                ),
                source,
            })?;
    }
    let mut flags = 0;
    for (i, f) in seccomp.flags().iter().flatten().enumerate() {
        // libseccomp checks that this library and kernel support the flag; the bit
        // itself is passed to seccomp(2) at load.
        flag::apply(&mut ctx, *f, &format!("{ROOT}.flags[{i}]"))?;
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
    }
    if syscalls.len() > OPTIMIZE_THRESHOLD {
        if let Err(e) = ctx.set_ctl_optimize(2) {
            tracing::debug!("seccomp binary tree optimization not available: {e}");
        }
    }

    let mut notify = false;
    for (i, call) in syscalls.iter().enumerate() {
        let field = format!("{ROOT}.syscalls[{i}]");
        let act = action::to_scmp(
            call.action(),
            call.errno_ret(),
            &format!("{field}.errnoRet"),
        )?;
        let rules = operator::rules(call.args().as_deref().unwrap_or_default(), &field)?;
        if call.names().is_empty() {
            // runc accepts an entry that names nothing and adds no rule for it.
            tracing::warn!("{field}.names is empty, entry skipped");
        }
        for (k, name) in call.names().iter().enumerate() {
            let name_field = format!("{field}.names[{k}]");
            if name.is_empty() {
                return Err(FilterError::invalid(name_field, "empty syscall name"));
            }
            if act == default {
                // libseccomp refuses rules that repeat the default action; they change nothing.
                tracing::debug!("seccomp rule for {name} repeats the default action, skipped");
                continue;
            }
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                tracing::warn!(
                    "{name_field}: syscall {name:?} is unknown to {}, rule skipped",
                    flag::library_version()
                );
                continue;
            };
            for conditions in &rules {
                ctx.add_rule_conditional(act, nr, conditions)
                    .map_err(|source| FilterError::Libseccomp {
                        field: name_field.clone(),
                        what: format!("adding the rule for syscall {name}"),
                        source,
                    })?;
            }
            notify |= act == ScmpAction::Notify;
        }
    }

    if !notify && flags & FLAG_WAIT_KILLABLE_RECV != 0 {
        // The kernel refuses the flag without a listener; it has nothing to change then.
        tracing::warn!(
            "{ROOT}.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored, no SCMP_ACT_NOTIFY rule"
        );
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }
    if notify {
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            // TSYNC reports a failing thread through the return value, which
            // NEW_LISTENER uses for the fd; TSYNC_ESRCH moves the former to ESRCH.
            flags |= FLAG_TSYNC_ESRCH;
        }
    }
    let enosys = enosys::wanted(seccomp).then(|| enosys::limits(seccomp));
    let filter = Filter {
        ctx,
        notify,
        flags,
        enosys,
        listener_path: seccomp.listener_path().clone(),
        listener_metadata: seccomp.listener_metadata().clone().unwrap_or_default(),
    };
    // Build the whole program now so a filter too large for the kernel fails at create.
    filter.program()?;
    Ok(filter)
}

/// runc's rules for SCMP_ACT_NOTIFY: a libseccomp and kernel that support it, never on
/// write(2) (the init writes the fd to its parent after loading), and a listener to send to.
fn check_notify_rules(seccomp: &LinuxSeccomp) -> Result<(), FilterError> {
    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    let mut first = None;
    for (i, call) in syscalls.iter().enumerate() {
        if call.action() != LinuxSeccompAction::ScmpActNotify {
            continue;
        }
        first.get_or_insert(i);
        if let Some(k) = call.names().iter().position(|n| n == "write") {
            return Err(FilterError::invalid(
                format!("{ROOT}.syscalls[{i}].names[{k}]"),
                "SCMP_ACT_NOTIFY cannot be used for the write syscall",
            ));
        }
    }
    let Some(i) = first else { return Ok(()) };
    let level = libseccomp::get_api();
    if level < NOTIFY_API_LEVEL {
        return Err(FilterError::invalid(
            format!("{ROOT}.syscalls[{i}].action"),
            format!(
                "SCMP_ACT_NOTIFY needs libseccomp API level {NOTIFY_API_LEVEL} (libseccomp >= 2.5, Linux >= 5.7), have {level}"
            ),
        ));
    }
    if seccomp
        .listener_path()
        .as_deref()
        .is_none_or(|p| p.as_os_str().is_empty())
    {
        return Err(FilterError::invalid(
            format!("{ROOT}.listenerPath"),
            format!("required when SCMP_ACT_NOTIFY is used (syscalls[{i}])"),
        ));
    }
    Ok(())
}

impl Filter {
    /// Whether some rule uses SCMP_ACT_NOTIFY, so that `load` returns a listener fd.
    pub fn needs_listener(&self) -> bool {
        self.notify
    }

    /// `linux.seccomp.listenerPath`, where the notify fd goes.
    pub fn listener_path(&self) -> Option<&std::path::Path> {
        self.listener_path.as_deref()
    }

    /// `linux.seccomp.listenerMetadata` ("" when absent).
    pub fn listener_metadata(&self) -> &str {
        &self.listener_metadata
    }

    /// The filter in libseccomp's pseudo-filter-code text, for logs and tests.
    pub fn export_pfc(&self) -> Result<String, FilterError> {
        let mut file = memfd("sangja-seccomp-pfc")?;
        self.ctx
            .export_pfc(&file)
            .map_err(|e| FilterError::Export(e.to_string()))?;
        let mut text = String::new();
        file.rewind()
            .and_then(|_| file.read_to_string(&mut text))
            .map_err(|e| FilterError::Export(e.to_string()))?;
        Ok(text)
    }

    /// The cBPF program `load` hands to the kernel: runc's -ENOSYS prelude (when the
    /// default action denies) followed by libseccomp's filter.
    pub(crate) fn program(&self) -> Result<Vec<libc::sock_filter>, FilterError> {
        let mut program = match &self.enosys {
            Some(limits) => enosys::stub(limits)
                .map_err(|e| FilterError::Export(format!("-ENOSYS prelude: {e}")))?,
            None => Vec::new(),
        };
        let mut file = memfd("sangja-seccomp-bpf")?;
        self.ctx
            .export_bpf(&file)
            .map_err(|e| FilterError::Export(e.to_string()))?;
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| FilterError::Export(e.to_string()))?;
        // libseccomp writes struct sock_filter in host byte order.
        for c in bytes.chunks_exact(8) {
            program.push(libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            });
        }
        if program.len() > MAX_INSNS {
            return Err(FilterError::invalid(
                ROOT,
                format!(
                    "the filter needs {} cBPF instructions, the kernel takes at most {MAX_INSNS}",
                    program.len()
                ),
            ));
        }
        Ok(program)
    }

    /// Builds the cBPF program and frees libseccomp's state: everything loading needs
    /// from the kernel besides seccomp(2) itself (a memfd, writes and reads) happens
    /// here, so a container init can prepare its filter before the last steps and then
    /// make no system call of its own between loading it and execve.
    pub fn prepare(self) -> Result<Prepared, FilterError> {
        Ok(Prepared {
            program: self.program()?,
            flags: self.flags,
        })
    }

    /// Prepares and loads the filter into the calling process (see [`Prepared::load`]).
    pub fn load(self) -> Result<Option<OwnedFd>, FilterError> {
        self.prepare()?.load()
    }
}

/// A filter as the kernel takes it: the cBPF program and its SECCOMP_FILTER_FLAG_* bits.
pub struct Prepared {
    program: Vec<libc::sock_filter>,
    flags: u32,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .finish()
    }
}

impl Prepared {
    /// Whether loading returns a notify listener fd (some rule uses SCMP_ACT_NOTIFY).
    pub fn needs_listener(&self) -> bool {
        self.flags & FLAG_NEW_LISTENER != 0
    }

    /// Loads the filter into the calling process and returns the notify fd when a rule
    /// uses SCMP_ACT_NOTIFY.
    ///
    /// The caller must be single-threaded unless the profile asked for TSYNC, and must
    /// either have set no_new_privs or hold CAP_SYS_ADMIN: the filter does not set
    /// no_new_privs itself. seccomp(2) is the only system call made here.
    pub fn load(&self) -> Result<Option<OwnedFd>, FilterError> {
        let flags = self.flags;
        let fprog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER) reads `fprog` and the `program`
        // buffer it points to, both alive for the call; the kernel copies the program.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                libc::c_ulong::from(flags),
                &fprog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            let source = std::io::Error::last_os_error();
            let hint = match source.raw_os_error() {
                Some(libc::EACCES) => {
                    " (set no_new_privs or keep CAP_SYS_ADMIN until the filter is loaded)"
                }
                Some(libc::ESRCH) => " (another thread could not be synchronised: TSYNC)",
                _ => "",
            };
            return Err(FilterError::Load { source, hint });
        }
        if flags & FLAG_NEW_LISTENER == 0 {
            return Ok(None);
        }
        // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns a new fd
        // (close-on-exec) that nothing else in this process refers to.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }))
    }
}

fn memfd(name: &str) -> Result<std::fs::File, FilterError> {
    let fd = nix::sys::memfd::memfd_create(name, nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| FilterError::Export(format!("memfd_create: {e}")))?;
    Ok(std::fs::File::from(fd))
}

#[cfg(test)]
mod tests;
