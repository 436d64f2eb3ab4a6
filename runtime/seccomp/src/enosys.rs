//! The -ENOSYS prelude runc puts before a denying filter.
//!
//! A profile written before a syscall existed does not name it, so with a denying
//! default (EPERM, KILL, ...) a newer libc that probes the syscall (clone3, openat2,
//! faccessat2) sees EPERM or dies, where ENOSYS would make it fall back. runc therefore
//! prepends a little cBPF program: per listed architecture, any syscall numbered above
//! the largest one the profile names returns ENOSYS; everything else goes on to the
//! libseccomp filter. sangja does the same so containers behave alike under both.

use libseccomp::ScmpSyscall;
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction};

use crate::arch;

/// x32 syscalls are x86_64 syscalls with this bit set in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// setup(2), which s390 and s390x use to multiplex syscalls the kernel does not know.
const S390_MULTIPLEX: u32 = 0;

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
/// Offsets into struct seccomp_data.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32; // SECCOMP_RET_ERRNO | ENOSYS

/// AUDIT_ARCH_* values (what the kernel puts in seccomp_data.arch).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_S390: u32 = 0x0000_0016;
const AUDIT_ARCH_S390X: u32 = 0x8000_0016;

/// The largest syscall the profile names on one kernel architecture, per ABI mode:
/// x86_64 and x32 share AUDIT_ARCH_X86_64 and differ by X32_SYSCALL_BIT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArchLimit {
    pub audit_arch: u32,
    pub native: Option<u32>,
    pub x32: Option<u32>,
}

/// Whether runc would prepend the stub: only for a denying default action.
/// TRACE counts as allowing (a tracer should handle new syscalls itself), and a default
/// of ERRNO(ENOSYS) already gives what the stub would.
pub(crate) fn wanted(seccomp: &LinuxSeccomp) -> bool {
    match seccomp.default_action() {
        LinuxSeccompAction::ScmpActAllow
        | LinuxSeccompAction::ScmpActLog
        | LinuxSeccompAction::ScmpActTrace => false,
        LinuxSeccompAction::ScmpActErrno => {
            seccomp.default_errno_ret() != Some(libc::ENOSYS as u32)
        }
        _ => true,
    }
}

/// The per-architecture limits for the architectures the profile lists (runc looks at
/// no others: unlisted ones get libseccomp's bad-arch action anyway).
pub(crate) fn limits(seccomp: &LinuxSeccomp) -> Vec<ArchLimit> {
    let names: Vec<&str> = seccomp
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|s| s.names().iter().map(String::as_str))
        .collect();
    let mut out: Vec<ArchLimit> = Vec::new();
    for a in seccomp.architectures().iter().flatten() {
        let a = if *a == Arch::ScmpArchNative {
            native()
        } else {
            Some(*a)
        };
        let Some(a) = a else { continue };
        let max = names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch::to_scmp(a)).ok())
            .map(i32::from)
            .filter(|nr| *nr > 0)
            .max();
        let Some(max) = max else {
            tracing::warn!(
                "seccomp: no syscall of the profile exists on {a:?}; no -ENOSYS limit for it"
            );
            continue;
        };
        let max = max as u32;
        let (audit, is_x32) = match a {
            Arch::ScmpArchX32 => (AUDIT_ARCH_X86_64, true),
            other => (other as u32, false),
        };
        let entry = match out.iter_mut().position(|e| e.audit_arch == audit) {
            Some(i) => &mut out[i],
            None => {
                out.push(ArchLimit {
                    audit_arch: audit,
                    native: None,
                    x32: None,
                });
                out.last_mut().unwrap()
            }
        };
        if is_x32 {
            entry.x32 = Some(max);
        } else {
            entry.native = Some(max);
        }
    }
    out
}

fn native() -> Option<Arch> {
    Some(match std::env::consts::ARCH {
        "x86_64" => Arch::ScmpArchX86_64,
        "x86" => Arch::ScmpArchX86,
        "aarch64" => Arch::ScmpArchAarch64,
        "arm" => Arch::ScmpArchArm,
        "s390x" => Arch::ScmpArchS390x,
        "riscv64" => Arch::ScmpArchRiscv64,
        "powerpc64" if cfg!(target_endian = "little") => Arch::ScmpArchPpc64le,
        "powerpc64" => Arch::ScmpArchPpc64,
        "loongarch64" => Arch::ScmpArchLoongarch64,
        _ => return None,
    })
}

/// Where a jump goes: the next instruction, the shared ENOSYS return, the start of
/// the libseccomp filter, or an architecture's section / x32 subsection.
#[derive(Clone, Copy, PartialEq)]
enum Label {
    Next,
    Enosys,
    Filter,
    Section(usize),
    X32(usize),
}

enum Item {
    Mark(Label),
    Insn {
        code: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
}

fn insn(code: u16, k: u32, jt: Label, jf: Label) -> Item {
    Item::Insn { code, k, jt, jf }
}

/// The stub for `limits`; the libseccomp program is to follow it directly.
pub(crate) fn stub(limits: &[ArchLimit]) -> Result<Vec<libc::sock_filter>, String> {
    use Label::*;
    let mut items = vec![insn(LD_W_ABS, ARCH_OFFSET, Next, Next)];
    for (i, l) in limits.iter().enumerate() {
        items.push(insn(JEQ_K, l.audit_arch, Section(i), Next));
    }
    items.push(insn(JA, 0, Filter, Filter));
    for (i, l) in limits.iter().enumerate() {
        items.push(Item::Mark(Section(i)));
        items.push(insn(LD_W_ABS, NR_OFFSET, Next, Next));
        if l.audit_arch == AUDIT_ARCH_S390 || l.audit_arch == AUDIT_ARCH_S390X {
            items.push(insn(JEQ_K, S390_MULTIPLEX, Enosys, Next));
        }
        let is_x86_64 = l.audit_arch == AUDIT_ARCH_X86_64;
        match (l.native, l.x32) {
            (Some(max), None) if is_x86_64 => {
                // x32 calls are not this profile's business: on to the filter.
                items.push(insn(JSET_K, X32_SYSCALL_BIT, Filter, Next));
                items.push(insn(JGT_K, max, Enosys, Filter));
            }
            (Some(max), None) => items.push(insn(JGT_K, max, Enosys, Filter)),
            (None, Some(max32)) => {
                items.push(insn(JSET_K, X32_SYSCALL_BIT, Next, Filter));
                items.push(insn(JGT_K, max32, Enosys, Filter));
            }
            (Some(max), Some(max32)) => {
                items.push(insn(JSET_K, X32_SYSCALL_BIT, X32(i), Next));
                items.push(insn(JGT_K, max, Enosys, Filter));
                items.push(Item::Mark(X32(i)));
                items.push(insn(JGT_K, max32, Enosys, Filter));
            }
            (None, None) => items.push(insn(JA, 0, Filter, Filter)),
        }
    }
    items.push(Item::Mark(Enosys));
    items.push(insn(RET_K, RET_ENOSYS, Next, Next));
    items.push(Item::Mark(Filter));
    assemble(&items)
}

fn assemble(items: &[Item]) -> Result<Vec<libc::sock_filter>, String> {
    // Instruction index of each label, then forward offsets from each jump.
    let mut marks: Vec<(Label, usize)> = Vec::new();
    let mut n = 0;
    for item in items {
        match item {
            Item::Mark(l) => marks.push((*l, n)),
            Item::Insn { .. } => n += 1,
        }
    }
    let at = |l: Label, from: usize| -> Result<u32, String> {
        if l == Label::Next {
            return Ok(0);
        }
        let target = marks
            .iter()
            .find(|(m, _)| *m == l)
            .map(|(_, i)| *i)
            .ok_or("jump to a missing label")?;
        target
            .checked_sub(from + 1)
            .map(|o| o as u32)
            .ok_or_else(|| "backward jump".to_string())
    };
    let mut out = Vec::with_capacity(n);
    for item in items {
        let Item::Insn { code, k, jt, jf } = item else {
            continue;
        };
        let here = out.len();
        let (k, jt, jf) = if *code == JA {
            (at(*jt, here)?, 0, 0)
        } else {
            let (t, f) = (at(*jt, here)?, at(*jf, here)?);
            let short = |o: u32| {
                u8::try_from(o).map_err(|_| format!("jump of {o} does not fit cBPF's 8 bits"))
            };
            (*k, short(t)?, short(f)?)
        };
        out.push(libc::sock_filter {
            code: *code,
            jt,
            jf,
            k,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> LinuxSeccomp {
        crate::spec_json::parse(&v).unwrap()
    }

    fn raw(p: &[libc::sock_filter]) -> Vec<(u16, u8, u8, u32)> {
        p.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }

    #[test]
    fn only_denying_defaults_get_a_stub() {
        assert!(!wanted(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW"}))));
        assert!(!wanted(&spec(json!({"defaultAction": "SCMP_ACT_LOG"}))));
        assert!(!wanted(&spec(json!({"defaultAction": "SCMP_ACT_TRACE"}))));
        assert!(!wanted(&spec(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38})
        )));
        assert!(wanted(&spec(json!({"defaultAction": "SCMP_ACT_ERRNO"}))));
        assert!(wanted(&spec(
            json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"})
        )));
    }

    #[test]
    fn limits_are_per_listed_arch() {
        let s = spec(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read", "getppid", "no_such_call"], "action": "SCMP_ACT_ALLOW"}]}));
        let l = limits(&s);
        assert_eq!(
            l,
            vec![
                // getppid: 110 on x86_64, 64 on i386, 110 | bit 30 on x32.
                ArchLimit {
                    audit_arch: AUDIT_ARCH_X86_64,
                    native: Some(110),
                    x32: Some(110 | X32_SYSCALL_BIT)
                },
                ArchLimit {
                    audit_arch: 0x4000_0003,
                    native: Some(64),
                    x32: None
                },
            ]
        );
        assert!(limits(&spec(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})))
        .is_empty());
    }

    #[test]
    fn stub_for_x86_64_alone_passes_x32_calls_to_the_filter() {
        let p = stub(&[ArchLimit {
            audit_arch: AUDIT_ARCH_X86_64,
            native: Some(110),
            x32: None,
        }])
        .unwrap();
        assert_eq!(
            raw(&p),
            vec![
                (LD_W_ABS, 0, 0, ARCH_OFFSET),
                (JEQ_K, 1, 0, AUDIT_ARCH_X86_64), // -> section at 3
                (JA, 0, 0, 4),                    // -> filter at 7
                (LD_W_ABS, 0, 0, NR_OFFSET),
                (JSET_K, 2, 0, X32_SYSCALL_BIT), // x32 -> filter
                (JGT_K, 0, 1, 110),              // > 110 -> ENOSYS, else filter
                (RET_K, 0, 0, RET_ENOSYS),
            ]
        );
    }

    #[test]
    fn stub_for_x86_64_and_x32_checks_each_mode() {
        let p = stub(&[
            ArchLimit {
                audit_arch: AUDIT_ARCH_X86_64,
                native: Some(300),
                x32: Some(X32_SYSCALL_BIT | 500),
            },
            ArchLimit {
                audit_arch: 0x4000_0003,
                native: Some(400),
                x32: None,
            },
        ])
        .unwrap();
        assert_eq!(
            raw(&p),
            vec![
                (LD_W_ABS, 0, 0, ARCH_OFFSET),
                (JEQ_K, 2, 0, AUDIT_ARCH_X86_64), // -> 4
                (JEQ_K, 5, 0, 0x4000_0003),       // -> 8
                (JA, 0, 0, 7),                    // -> filter at 11
                (LD_W_ABS, 0, 0, NR_OFFSET),
                (JSET_K, 1, 0, X32_SYSCALL_BIT), // x32 -> 7
                (JGT_K, 3, 4, 300),              // -> ENOSYS at 10 / filter at 11
                (JGT_K, 2, 3, X32_SYSCALL_BIT | 500),
                (LD_W_ABS, 0, 0, NR_OFFSET),
                (JGT_K, 0, 1, 400),
                (RET_K, 0, 0, RET_ENOSYS),
            ]
        );
    }

    #[test]
    fn s390_multiplexer_returns_enosys() {
        let p = stub(&[ArchLimit {
            audit_arch: AUDIT_ARCH_S390X,
            native: Some(400),
            x32: None,
        }])
        .unwrap();
        assert_eq!(raw(&p)[4], (JEQ_K, 1, 0, S390_MULTIPLEX));
    }
}
