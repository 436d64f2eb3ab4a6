//! OCI architecture names to libseccomp's, and which of them the installed libseccomp knows.

use libseccomp::ScmpArch;
use oci_spec::runtime::Arch;

/// Every architecture the runtime-spec (through oci-spec) can name, except the
/// libseccomp-only "native" pseudo-architecture.
pub const ALL: [Arch; 23] = [
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];

pub(crate) fn to_scmp(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Whether the installed libseccomp knows `arch`: 2.5.x knows neither LoongArch, m68k
/// nor SuperH, which newer spec versions list. Asked of the library itself (can it
/// resolve a syscall for that arch) rather than inferred from its version; adding the
/// arch to a throwaway filter would not do, as one filter holds one byte order.
pub fn supported(arch: Arch) -> bool {
    libseccomp::ScmpSyscall::from_name_by_arch("read", to_scmp(arch)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_family_is_supported() {
        assert!(supported(Arch::ScmpArchX86_64));
        assert!(supported(Arch::ScmpArchX86));
        assert!(supported(Arch::ScmpArchX32));
        assert!(supported(Arch::ScmpArchAarch64));
    }

    #[test]
    fn all_names_are_spec_names() {
        for a in ALL {
            assert!(
                crate::error::spec_name(&a).starts_with("SCMP_ARCH_"),
                "{a:?}"
            );
        }
        assert_eq!(
            crate::error::spec_name(&Arch::ScmpArchX86_64),
            "SCMP_ARCH_X86_64"
        );
        assert_eq!(
            crate::error::spec_name(&Arch::ScmpArchMips64n32),
            "SCMP_ARCH_MIPS64N32"
        );
    }
}
