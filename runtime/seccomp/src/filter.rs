//! Building a libseccomp filter from an OCI `linux.seccomp` object, and loading it.

use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use crate::error::{FilterError, ROOT};
use crate::{action, arch, flag, operator};

/// libseccomp API level from which SCMP_ACT_NOTIFY works (libseccomp >= 2.5, Linux >= 5.7).
const NOTIFY_API_LEVEL: u32 = 6;

/// Past this many syscall entries libseccomp's binary-tree layout pays off. runc uses
/// the same threshold because libseccomp <= 2.5.4 misbuilds the tree for empty rule sets.
const OPTIMIZE_THRESHOLD: usize = 32;

/// A compiled libseccomp context, ready to load.
pub struct Filter {
    ctx: ScmpFilterContext,
    notify: bool,
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
    for (i, f) in seccomp.flags().iter().flatten().enumerate() {
        flag::apply(&mut ctx, *f, &format!("{ROOT}.flags[{i}]"))?;
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
            return Err(FilterError::invalid(
                format!("{field}.names"),
                "must name at least one syscall",
            ));
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

    Ok(Filter {
        ctx,
        notify,
        listener_path: seccomp.listener_path().clone(),
        listener_metadata: seccomp.listener_metadata().clone().unwrap_or_default(),
    })
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

    /// Loads the filter into the calling process and returns the notify fd when a rule
    /// uses SCMP_ACT_NOTIFY.
    ///
    /// The caller must be single-threaded unless the profile asked for TSYNC, and must
    /// either have set no_new_privs or hold CAP_SYS_ADMIN: the filter does not set
    /// no_new_privs itself.
    pub fn load(self) -> Result<Option<OwnedFd>, FilterError> {
        self.ctx.load().map_err(FilterError::Load)?;
        if !self.notify {
            return Ok(None);
        }
        let raw = self.ctx.get_notify_fd().map_err(FilterError::NotifyFd)?;
        // SAFETY: libseccomp returns the listener fd the kernel handed out at load time;
        // nothing in this process closes it besides the OwnedFd made here (libseccomp only
        // remembers the number to answer later seccomp_notify_fd calls, which we never make).
        Ok(Some(unsafe { OwnedFd::from_raw_fd(raw) }))
    }
}

fn memfd(name: &str) -> Result<std::fs::File, FilterError> {
    let fd = nix::sys::memfd::memfd_create(name, nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| FilterError::Export(format!("memfd_create: {e}")))?;
    Ok(std::fs::File::from(fd))
}

#[cfg(test)]
mod tests;
