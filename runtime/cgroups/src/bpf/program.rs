//! A BPF_PROG_TYPE_CGROUP_DEVICE program compiled from the emulated device rules,
//! written as raw instructions (no assembler crate).
//!
//! The context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! where access_type = (access << 16) | type. The program returns 1 to allow.

use crate::devices::rule::ALL_ACCESS;
use crate::devices::{DevKind, Emulator};

/// One `struct bpf_insn`, encoded as the kernel reads it (little-endian u64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn encode(&self) -> u64 {
        (self.code as u64)
            | (((self.dst & 0xf) | ((self.src & 0xf) << 4)) as u64) << 8
            | ((self.off as u16) as u64) << 16
            | ((self.imm as u32) as u64) << 32
    }
}

// Opcodes (class | op | source), from linux/bpf_common.h and linux/bpf.h.
pub(crate) const LDX_W_MEM: u8 = 0x61; // BPF_LDX | BPF_W | BPF_MEM
pub(crate) const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
pub(crate) const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(crate) const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub(crate) const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
pub(crate) const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const DEVCG_DEV_BLOCK: i32 = 1;
const DEVCG_DEV_CHAR: i32 = 2;

fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// Compiles the emulated rule set. Every exception has the polarity opposite to the
/// default, so rule order does not matter; unmatched requests get the default.
pub fn compile(emu: &Emulator) -> Vec<Insn> {
    let mut p = vec![
        i(LDX_W_MEM, 2, 1, 0, 0),        // r2 = access_type
        i(ALU32_AND_K, 2, 0, 0, 0xffff), // r2 = type
        i(LDX_W_MEM, 3, 1, 0, 0),
        i(ALU32_RSH_K, 3, 0, 0, 16), // r3 = requested access
        i(LDX_W_MEM, 4, 1, 4, 0),    // r4 = major
        i(LDX_W_MEM, 5, 1, 8, 0),    // r5 = minor
    ];
    for ex in emu.exceptions() {
        // Each block jumps to its end (the next block) on the first mismatch.
        let mut block: Vec<(Insn, bool)> = Vec::new(); // (insn, jumps to next block)
        match ex.kind {
            DevKind::All => {}
            DevKind::Block => block.push((i(JNE_K, 2, 0, 0, DEVCG_DEV_BLOCK), true)),
            DevKind::Char => block.push((i(JNE_K, 2, 0, 0, DEVCG_DEV_CHAR), true)),
        }
        if ex.access != ALL_ACCESS {
            block.push((i(ALU32_MOV_X, 1, 3, 0, 0), false));
            block.push((i(ALU32_AND_K, 1, 0, 0, ex.access as i32), false));
            if ex.allow {
                // An allow applies only when it grants every requested bit.
                block.push((i(JNE_X, 1, 3, 0, 0), true));
            } else {
                // A deny applies as soon as it touches one requested bit.
                block.push((i(JEQ_K, 1, 0, 0, 0), true));
            }
        }
        if let Some(m) = ex.major {
            block.push((i(JNE_K, 4, 0, 0, m as i32), true));
        }
        if let Some(m) = ex.minor {
            block.push((i(JNE_K, 5, 0, 0, m as i32), true));
        }
        block.push((i(ALU64_MOV_K, 0, 0, 0, ex.allow as i32), false));
        block.push((i(EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        for (idx, (mut insn, jumps)) in block.into_iter().enumerate() {
            if jumps {
                insn.off = (len - idx - 1) as i16;
            }
            p.push(insn);
        }
    }
    p.push(i(ALU64_MOV_K, 0, 0, 0, emu.default_allow as i32));
    p.push(i(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::rule::{Rule, MKNOD, READ, WRITE};

    /// Runs the subset of eBPF this compiler emits against one device request.
    fn run(prog: &[Insn], kind: u32, major: u32, minor: u32, access: u32) -> u64 {
        let ctx = [(access << 16) | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let x = prog[pc];
            let (d, s) = (x.dst as usize, x.src as usize);
            pc += 1;
            match x.code {
                LDX_W_MEM => {
                    assert_eq!(s, 1);
                    r[d] = ctx[(x.off / 4) as usize] as u64
                }
                ALU32_AND_K => r[d] = (r[d] as u32 & x.imm as u32) as u64,
                ALU32_RSH_K => r[d] = ((r[d] as u32) >> x.imm) as u64,
                ALU32_MOV_X => r[d] = r[s] as u32 as u64,
                ALU64_MOV_K => r[d] = x.imm as i64 as u64,
                JEQ_K if r[d] == x.imm as i64 as u64 => pc += x.off as usize,
                JNE_K if r[d] != x.imm as i64 as u64 => pc += x.off as usize,
                JNE_X if r[d] != r[s] => pc += x.off as usize,
                JEQ_K | JNE_K | JNE_X => {}
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rule(s: &str, allow: bool) -> Rule {
        let mut r = Rule::parse_list_line(s).unwrap();
        r.allow = allow;
        r
    }

    fn agrees(emu: &Emulator) {
        let prog = compile(emu);
        for (kind, k) in [(DevKind::Block, 1), (DevKind::Char, 2)] {
            for major in [1, 5, 8, 136] {
                for minor in [0, 3, 5, 9] {
                    for access in 1..=7u8 {
                        let want = emu.allows(kind, major, minor, access);
                        let got = run(&prog, k, major, minor, access as u32) == 1;
                        assert_eq!(got, want, "{kind:?} {major}:{minor} access {access}");
                    }
                }
            }
        }
    }

    #[test]
    fn allowlist_program_matches_emulator() {
        let emu = Emulator::from_rules(&[
            rule("a *:* rwm", false),
            rule("c *:* m", true),
            rule("b *:* m", true),
            rule("c 1:3 rwm", true),
            rule("c 1:5 r", true),
            rule("c 136:* rw", true),
        ])
        .unwrap();
        agrees(&emu);
        let prog = compile(&emu);
        assert_eq!(run(&prog, 2, 1, 3, (READ | WRITE) as u32), 1);
        assert_eq!(run(&prog, 2, 1, 5, WRITE as u32), 0);
        assert_eq!(run(&prog, 1, 8, 0, MKNOD as u32), 1);
    }

    #[test]
    fn denylist_program_matches_emulator() {
        let emu =
            Emulator::from_rules(&[rule("c 1:3 w", false), rule("b 8:* rwm", false)]).unwrap();
        assert!(emu.default_allow);
        agrees(&emu);
        let prog = compile(&emu);
        // A deny touching one requested bit denies the request.
        assert_eq!(run(&prog, 2, 1, 3, (READ | WRITE) as u32), 0);
        assert_eq!(run(&prog, 2, 1, 3, READ as u32), 1);
    }

    #[test]
    fn encoding_is_the_kernel_layout() {
        // r2 = *(u32 *)(r1 + 4): code 0x61, regs 0x12, off 4, imm 0.
        assert_eq!(i(LDX_W_MEM, 2, 1, 4, 0).encode(), 0x0000_0000_0004_1261);
        assert_eq!(i(ALU64_MOV_K, 0, 0, 0, -1).encode(), 0xffff_ffff_0000_00b7);
    }
}
