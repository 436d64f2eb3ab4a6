//! Build and target platforms as BuildKit defines them: the automatic ARGs
//! (`BUILDPLATFORM`, `BUILDOS`, `BUILDARCH`, `BUILDVARIANT` for this machine,
//! `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT` for `--platform`,
//! default this machine), and whether a RUN step for a platform can execute here: only
//! this machine's natively, another only through a registered qemu-user binfmt handler
//! (never silently as this machine's).

use crate::registry::platform::Platform;
use std::path::Path;

/// The automatic platform ARGs, in BuildKit's order.
pub fn automatic_args(build: &Platform, target: &Platform) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, p) in [("TARGET", target), ("BUILD", build)] {
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}ARCH"), p.architecture.clone()));
        out.push((
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        ));
    }
    out
}

/// qemu's name for a Go architecture.
fn qemu_arch(arch: &str) -> &str {
    match arch {
        "arm64" => "aarch64",
        "amd64" => "x86_64",
        "386" => "i386",
        "ppc64le" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "mips64le" => "mips64el",
        "loong64" => "loongarch64",
        other => other,
    }
}

/// Whether a RUN for `want` can execute on `host`; the error names the missing
/// emulator. `binfmt` is /proc/sys/fs/binfmt_misc.
pub fn can_run(want: &Platform, host: &Platform, binfmt: &Path) -> Result<(), String> {
    if want.os == host.os && want.architecture == host.architecture {
        return Ok(());
    }
    if want.os != "linux" {
        return Err(format!(
            "RUN for {want}: only linux programs run here (this machine is {host})"
        ));
    }
    let name = format!("qemu-{}", qemu_arch(&want.architecture));
    let entry = binfmt.join(&name);
    // `F` (fix binary): the kernel opened the interpreter at registration, so it works
    // inside a container's root filesystem too.
    let usable = std::fs::read_to_string(&entry).ok().is_some_and(|t| {
        t.lines().next() == Some("enabled")
            && t.lines()
                .any(|l| l.strip_prefix("flags: ").is_some_and(|f| f.contains('F')))
    });
    if usable {
        return Ok(());
    }
    Err(format!(
        "RUN for {want} needs an emulator: no qemu-user binfmt handler {} is registered with the F flag (apt qemu-user-static and binfmt-support provide one); this machine ({host}) runs RUN steps only for its own platform",
        entry.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_and_emulators() {
        let host: Platform = "linux/amd64".parse().unwrap();
        let arm: Platform = "linux/arm/v7".parse().unwrap();
        let a = automatic_args(&host, &arm);
        assert!(a.contains(&("TARGETPLATFORM".into(), "linux/arm/v7".into())));
        assert!(a.contains(&("TARGETVARIANT".into(), "v7".into())));
        assert!(a.contains(&("BUILDARCH".into(), "amd64".into())));
        assert!(a.contains(&("BUILDVARIANT".into(), String::new())));
        let d = tempfile::tempdir().unwrap();
        assert!(can_run(&host, &host, d.path()).is_ok());
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let e = can_run(&arm64, &host, d.path()).unwrap_err();
        assert!(e.contains("qemu-aarch64"), "{e}");
        std::fs::write(
            d.path().join("qemu-aarch64"),
            "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OCF\n",
        )
        .unwrap();
        assert!(can_run(&arm64, &host, d.path()).is_ok());
        std::fs::write(d.path().join("qemu-aarch64"), "disabled\nflags: F\n").unwrap();
        assert!(can_run(&arm64, &host, d.path()).is_err());
    }
}
