//! root (readonly, path, propagation), mounts of each kind and option,
//! linux.devices, masked and readonly paths (including symlink-planted ones).

use serde_json::{json, Value};
use std::path::Path;

use crate::case::{Case, CaseError, CaseResult};
use crate::cases::util::expect_error;
use crate::config::Config;
use crate::harness::Ctx;
use crate::host::Need;
use crate::report::Report;
use crate::runtime::CmdOutput;
use crate::{ensure, ensure_eq, fail};

pub static CASES: &[Case] = &[
    Case { id: "rootfs.readonly-false", field: "root.readonly", needs: &[], note: None, run: readonly_false },
    Case { id: "rootfs.absolute-path", field: "root.path", needs: &[], note: None, run: absolute_path },
    Case {
        id: "rootfs.propagation-shared",
        field: "linux.rootfsPropagation",
        needs: &[],
        note: Some("runc 1.1.5 applies rootfsPropagation to the namespace's / before pivot_root; the container's / stays private"), run: propagation_shared },
    Case { id: "rootfs.propagation-private", field: "linux.rootfsPropagation", needs: &[], note: None, run: propagation_private },
    Case { id: "rootfs.propagation-bad", field: "linux.rootfsPropagation", needs: &[], note: None, run: propagation_bad },
    Case { id: "mounts.bind-ro", field: "mounts[].options (bind, ro)", needs: &[], note: None, run: bind_ro },
    Case { id: "mounts.bind-rw", field: "mounts[].options (bind, rw)", needs: &[], note: None, run: bind_rw },
    Case { id: "mounts.bind-file", field: "mounts[] (file bind)", needs: &[], note: None, run: bind_file },
    Case { id: "mounts.bind-propagation", field: "mounts[].options (rshared, rprivate)", needs: &[], note: None, run: bind_propagation },
    Case { id: "mounts.tmpfs-options", field: "mounts[].options (tmpfs)", needs: &[], note: None, run: tmpfs_options },
    Case { id: "mounts.atime-flags", field: "mounts[].options (atime)", needs: &[], note: None, run: atime_flags },
    Case { id: "mounts.create-destination", field: "mounts[].destination", needs: &[], note: None, run: create_destination },
    Case { id: "mounts.order", field: "mounts (order)", needs: &[], note: None, run: mount_order },
    Case { id: "mounts.symlink-destination-stays-inside", field: "mounts[].destination", needs: &[], note: None, run: symlink_destination },
    Case { id: "mounts.bad-type", field: "mounts[].type", needs: &[], note: None, run: bad_type },
    Case { id: "mounts.bind-missing-source", field: "mounts[].source", needs: &[], note: None, run: bind_missing_source },
    Case { id: "mounts.bad-option", field: "mounts[].options", needs: &[], note: None, run: bad_option },
    Case { id: "devices.custom", field: "linux.devices", needs: &[], note: None, run: devices_custom },
    Case { id: "devices.bad-type", field: "linux.devices[].type", needs: &[], note: None, run: devices_bad_type },
    Case { id: "masked.custom", field: "linux.maskedPaths", needs: &[], note: None, run: masked_custom },
    Case { id: "masked.missing-path-ignored", field: "linux.maskedPaths", needs: &[], note: None, run: masked_missing },
    Case { id: "masked.symlink-planted", field: "linux.maskedPaths", needs: &[], note: None, run: masked_symlink },
    Case {
        id: "masked.dev-null-checked",
        field: "linux.maskedPaths (/dev/null, CVE-2025-31133 class)",
        needs: &[],
        note: Some("runc 1.1.5 predates the CVE-2025-31133 fix: it binds whatever /dev/null is over masked paths"), run: masked_fake_dev_null },
    Case { id: "readonly.custom", field: "linux.readonlyPaths", needs: &[], note: None, run: readonly_custom },
    Case { id: "readonly.symlink-planted", field: "linux.readonlyPaths", needs: &[], note: None, run: readonly_symlink },
    Case { id: "mounts.idmapped", field: "mounts[].uidMappings/gidMappings", needs: &[Need::UserNs, Need::IdmappedMounts], note: Some("runc 1.1.5 lacks idmapped mounts: the spec decides"), run: idmapped },
    Case { id: "readonly.missing-path-ignored", field: "linux.readonlyPaths", needs: &[], note: None, run: readonly_missing },
    Case { id: "mounts.bind-flags", field: "mounts[].options (bind + nosuid,nodev,noexec)", needs: &[], note: None, run: bind_flags },
    Case { id: "mounts.recursive-readonly", field: "mounts[].options (rro)", needs: &[], note: None, run: recursive_readonly },
    Case { id: "mounts.sync-flags", field: "mounts[].options (sync, dirsync, nosymfollow)", needs: &[], note: None, run: sync_flags },
    Case { id: "mounts.kinds", field: "mounts[].type (proc, mqueue, sysfs, tmpfs)", needs: &[], note: None, run: mount_kinds },
    Case { id: "mounts.bind-file-new-parents", field: "mounts[].destination (file, missing parents)", needs: &[], note: None, run: bind_file_new_parents },
];

fn harness<E: std::fmt::Display>(e: E) -> CaseError {
    CaseError::Harness(e.to_string())
}

/// A host directory with one file, for bind mounts.
fn source_dir(ctx: &Ctx, name: &str) -> Result<std::path::PathBuf, CaseError> {
    let d = ctx.dir.join(name);
    std::fs::create_dir_all(&d).map_err(harness)?;
    std::fs::write(d.join("hello"), "from the host\n").map_err(harness)?;
    Ok(d)
}

fn bind(cfg: &mut Config, source: &Path, dest: &str, options: &[&str]) {
    cfg.push("/mounts", json!({"destination": dest, "type": "bind", "source": source.to_string_lossy(), "options": options}));
}

fn readonly_false(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/root/readonly", json!(false));
    let r = ctx.check(cfg, &["touch", "/newfile"])?;
    ensure!(
        !r.mount_has("/", "ro"),
        "root mounted ro though root.readonly is false"
    );
    ensure_eq!(r.probe_errno(0), None, "errno creating /newfile");
    Ok(())
}

fn absolute_path(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&[crate::harness::CHECKER]);
    let b = ctx.bundle(&cfg)?;
    cfg.set("/root/path", json!(b.join("rootfs").to_string_lossy()));
    ctx.write_config(&b, &cfg)?;
    // Run from another directory so a relative resolution would miss it.
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
    ensure!(
        out.ok(),
        "run with an absolute root.path failed: {}",
        out.describe()
    );
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    ensure_eq!(r.0["pid"], Value::from(1), "checker pid");
    Ok(())
}

fn propagation_shared(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/linux/rootfsPropagation", json!("shared"));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.mount("/").map(|m| m["propagation"].clone()),
        Some(Value::from("shared")),
        "propagation of /"
    );
    Ok(())
}

fn propagation_private(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/linux/rootfsPropagation", json!("private"));
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.mount("/").map(|m| m["propagation"].clone()),
        Some(Value::from("private")),
        "propagation of /"
    );
    Ok(())
}

fn propagation_bad(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/linux/rootfsPropagation", json!("sideways"));
    let out = ctx.refused(&cfg, "run")?;
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("propagation") || e.contains("sideways"),
        "error does not name rootfsPropagation: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn bind_ro(ctx: &mut Ctx) -> CaseResult {
    let src = source_dir(ctx, "src")?;
    let mut cfg = Config::default();
    bind(&mut cfg, &src, "/data", &["rbind", "ro"]);
    let r = ctx.check(cfg, &["read", "/data/hello", "touch", "/data/new"])?;
    ensure_eq!(
        r.probe(0)["value"],
        Value::from("from the host\n"),
        "content of the bound file"
    );
    ensure_eq!(
        r.probe_errno(1),
        Some(libc::EROFS as i64),
        "errno creating a file in a ro bind"
    );
    ensure!(r.mount_has("/data", "ro"), "/data not mounted ro");
    ensure!(
        !src.join("new").exists(),
        "a file appeared in the host directory"
    );
    Ok(())
}

fn bind_rw(ctx: &mut Ctx) -> CaseResult {
    let src = source_dir(ctx, "src")?;
    let mut cfg = Config::default();
    bind(&mut cfg, &src, "/data", &["bind", "rw"]);
    let r = ctx.check(cfg, &["touch", "/data/new"])?;
    ensure_eq!(r.probe_errno(0), None, "errno creating a file in a rw bind");
    ensure!(
        src.join("new").exists(),
        "the file written in the container is not in the host directory"
    );
    Ok(())
}

fn bind_file(ctx: &mut Ctx) -> CaseResult {
    let src = source_dir(ctx, "src")?;
    let mut cfg = Config::default();
    bind(
        &mut cfg,
        &src.join("hello"),
        "/etc/bound.txt",
        &["bind", "ro"],
    );
    let r = ctx.check(cfg, &["read", "/etc/bound.txt", "stat", "/etc/bound.txt"])?;
    ensure_eq!(
        r.probe(0)["value"],
        Value::from("from the host\n"),
        "content of the bound file"
    );
    ensure_eq!(
        r.probe(1)["value"]["type"],
        Value::from("f"),
        "type of the file mount point"
    );
    Ok(())
}

fn bind_propagation(ctx: &mut Ctx) -> CaseResult {
    let a = source_dir(ctx, "shared-src")?;
    let b = source_dir(ctx, "private-src")?;
    let mut cfg = Config::default();
    bind(&mut cfg, &a, "/shared", &["rbind", "rshared"]);
    bind(&mut cfg, &b, "/private", &["rbind", "rprivate"]);
    let r = ctx.check(cfg, &[])?;
    ensure_eq!(
        r.mount("/shared").map(|m| m["propagation"].clone()),
        Some(Value::from("shared")),
        "propagation of /shared (rshared)"
    );
    ensure_eq!(
        r.mount("/private").map(|m| m["propagation"].clone()),
        Some(Value::from("private")),
        "propagation of /private (rprivate)"
    );
    Ok(())
}

fn tmpfs_options(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.push(
        "/mounts",
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700", "uid=1000", "gid=1000"]}),
    );
    let r = ctx.check(cfg, &["stat", "/mnt/t"])?;
    let Some(m) = r.mount("/mnt/t") else {
        fail!("no mount at /mnt/t");
    };
    ensure_eq!(m["fstype"], Value::from("tmpfs"), "type of /mnt/t");
    for o in ["nosuid", "nodev", "noexec", "size=1024k"] {
        ensure!(r.mount_has("/mnt/t", o), "/mnt/t lacks {o}: {m}");
    }
    let st = &r.probe(0)["value"];
    ensure_eq!(
        st["mode"].as_u64().map(|m| format!("{m:o}")),
        Some("700".to_string()),
        "mode of /mnt/t"
    );
    ensure_eq!(
        (st["uid"].as_u64(), st["gid"].as_u64()),
        (Some(1000), Some(1000)),
        "owner of /mnt/t"
    );
    Ok(())
}

fn atime_flags(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    for (dest, opt) in [
        ("/mnt/a", "noatime"),
        ("/mnt/b", "relatime"),
        ("/mnt/c", "nodiratime"),
    ] {
        cfg.push(
            "/mounts",
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [opt]}),
        );
    }
    let r = ctx.check(cfg, &[])?;
    for (dest, opt) in [
        ("/mnt/a", "noatime"),
        ("/mnt/b", "relatime"),
        ("/mnt/c", "nodiratime"),
    ] {
        ensure!(
            r.mount_has(dest, opt),
            "{dest} lacks {opt}: {:?}",
            r.mount(dest)
        );
    }
    Ok(())
}

fn create_destination(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.push("/mounts", json!({"destination": "/new/deep/dir", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    let r = ctx.check(cfg, &[])?;
    ensure!(
        r.mount("/new/deep/dir")
            .is_some_and(|m| m["fstype"] == "tmpfs"),
        "no tmpfs at /new/deep/dir"
    );
    Ok(())
}

/// Mounts are applied in order: a later mount covers an earlier one.
fn mount_order(ctx: &mut Ctx) -> CaseResult {
    let src = source_dir(ctx, "src")?;
    let mut cfg = Config::default();
    cfg.push(
        "/mounts",
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    bind(&mut cfg, &src, "/data/inner", &["bind", "ro"]);
    let r = ctx.check(cfg, &["read", "/data/inner/hello"])?;
    ensure_eq!(
        r.probe(0)["value"],
        Value::from("from the host\n"),
        "file of the bind over the tmpfs"
    );
    let mounts = r.0["mounts"].as_array().cloned().unwrap_or_default();
    let pos = |t: &str| mounts.iter().position(|m| m["target"] == t);
    ensure!(
        pos("/data") < pos("/data/inner"),
        "mounts applied out of order"
    );
    Ok(())
}

/// A symlink planted in the rootfs that points at a host path: the mount
/// lands at that path *inside* the rootfs (or the runtime refuses), never on
/// the host (CVE-2021-30465 class).
fn symlink_destination(ctx: &mut Ctx) -> CaseResult {
    let hostside = ctx.dir.join("hostside");
    std::fs::create_dir_all(&hostside).map_err(harness)?;
    let mut cfg = Config::default();
    cfg.args(&[crate::harness::CHECKER]);
    cfg.push("/mounts", json!({"destination": "/escape", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    let b = ctx.bundle(&cfg)?;
    std::os::unix::fs::symlink(&hostside, b.join("rootfs/escape")).map_err(harness)?;
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
    let host_mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(harness)?
        .contains(&format!(" {} ", hostside.display()));
    ensure!(
        !host_mounted,
        "a mount appeared on the host at {}",
        hostside.display()
    );
    if !out.ok() {
        return ctx.nothing_left(&id);
    }
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    let inside = hostside.to_string_lossy().into_owned();
    ensure!(
        r.mount(&inside).is_some_and(|m| m["fstype"] == "tmpfs") || r.mount("/escape").is_some_and(|m| m["fstype"] == "tmpfs"),
        "the tmpfs is not visible in the container (at /escape or {inside}): it was mounted outside the rootfs"
    );
    Ok(())
}

fn bad_type(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).push(
        "/mounts",
        json!({"destination": "/mnt/x", "type": "nosuchfs", "source": "none"}),
    );
    let out = ctx.refused(&cfg, "run")?;
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("nosuchfs") || e.contains("/mnt/x"),
        "error names neither the type nor the destination: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn bind_missing_source(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).push("/mounts", json!({"destination": "/mnt/x", "type": "bind", "source": "/no/such/source", "options": ["bind"]}));
    let out = ctx.refused(&cfg, "run")?;
    expect_error(&out, "/no/such/source")
}

fn bad_option(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).push("/mounts", json!({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=notasize"]}));
    let out = ctx.refused(&cfg, "run")?;
    ensure!(
        out.stderr.contains("/mnt/x") || out.stderr.contains("size"),
        "error does not name the mount: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn devices_custom(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(
        "/linux/devices",
        json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1000, "gid": 1001},
            {"path": "/dev/loop-test", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600, "uid": 0, "gid": 0},
            {"path": "/dev/fifo-test", "type": "p", "fileMode": 0o620}
        ]),
    );
    let r = ctx.check(cfg, &[])?;
    for (path, ty, numbers, mode, owner) in [
        ("/dev/fuse", "c", Some((10, 229)), "640", Some((1000, 1001))),
        ("/dev/loop-test", "b", Some((7, 0)), "600", Some((0, 0))),
        ("/dev/fifo-test", "p", None, "620", None),
    ] {
        let Some(d) = r.device(path) else {
            fail!("{path} missing");
        };
        ensure_eq!(d["type"].as_str().unwrap_or(""), ty, format!("{path} type"));
        if let Some((ma, mi)) = numbers {
            ensure_eq!(
                (d["major"].as_u64(), d["minor"].as_u64()),
                (Some(ma), Some(mi)),
                format!("{path} major:minor")
            );
        }
        ensure_eq!(
            d["mode"].as_u64().map(|m| format!("{m:o}")),
            Some(mode.to_string()),
            format!("{path} mode")
        );
        if let Some((u, g)) = owner {
            ensure_eq!(
                (d["uid"].as_u64(), d["gid"].as_u64()),
                (Some(u), Some(g)),
                format!("{path} owner")
            );
        }
    }
    Ok(())
}

fn devices_bad_type(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).set(
        "/linux/devices",
        json!([{"path": "/dev/odd", "type": "x", "major": 1, "minor": 3}]),
    );
    let out = ctx.refused(&cfg, "run")?;
    ensure!(!out.stderr.trim().is_empty(), "refused without a message");
    Ok(())
}

fn masked_custom(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/linux/maskedPaths", json!(["/etc/hostname", "/home"]));
    let r = ctx.check(
        cfg,
        &[
            "read",
            "/etc/hostname",
            "ls",
            "/home",
            "openw",
            "/etc/hostname",
        ],
    )?;
    ensure!(
        r.probe(0)["ok"] != true || r.probe(0)["value"] == "",
        "masked /etc/hostname reads {:?}",
        r.probe(0)["value"]
    );
    ensure!(
        r.probe(1)["ok"] != true || r.probe(1)["value"].as_array().is_some_and(|a| a.is_empty()),
        "masked /home lists {}",
        r.probe(1)["value"]
    );
    Ok(())
}

/// A masked or readonly path missing from the rootfs is skipped, not created.
fn missing_path_ignored(ctx: &mut Ctx, field: &str) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set(&format!("/linux/{field}"), json!(["/no/such/path"]));
    let r = ctx.check(cfg, &["stat", "/no/such/path"])?;
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::ENOENT as i64),
        format!("stat of the missing path in {field}")
    );
    Ok(())
}

fn masked_missing(ctx: &mut Ctx) -> CaseResult {
    missing_path_ignored(ctx, "maskedPaths")
}

/// A masked path that is a symlink in the image is resolved inside the
/// container: the file it names there is masked.
fn masked_symlink(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&[crate::harness::CHECKER, "read", "/etc/hostname"]);
    cfg.set("/linux/maskedPaths", json!(["/etc/linked"]));
    let b = ctx.bundle(&cfg)?;
    std::os::unix::fs::symlink("/etc/hostname", b.join("rootfs/etc/linked")).map_err(harness)?;
    let host_before = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
    ensure_eq!(
        std::fs::read_to_string("/etc/hostname").unwrap_or_default(),
        host_before,
        "host /etc/hostname"
    );
    refused_or_read_empty(ctx, &id, &out, "the file behind the masked symlink")
}

/// After a `run` whose checker read one masked file: the runtime refused (and
/// left nothing behind), or the file read empty.
fn refused_or_read_empty(ctx: &Ctx, id: &str, out: &CmdOutput, what: &str) -> CaseResult {
    if !out.ok() {
        return ctx.nothing_left(id);
    }
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    let read = r.probe(0);
    ensure!(
        read["ok"] != true || read["value"] == "",
        "{what} still reads {:?}",
        read["value"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// Masking binds /dev/null over masked files, so it must be the null device.
/// Here /dev is a bind of a host scratch directory (the runtime creates no
/// devices then) whose `null` is a symlink to a file of the rootfs: bound over
/// the masked paths, that file would show (and be writable) there, as a procfs
/// file would in the 2025 /dev/null attack. The runtime refuses, or the masked
/// file reads empty.
fn masked_fake_dev_null(ctx: &mut Ctx) -> CaseResult {
    let dev = ctx.dir.join("fake-dev");
    std::fs::create_dir_all(&dev).map_err(harness)?;
    std::os::unix::fs::symlink("/etc/planted", dev.join("null")).map_err(harness)?;
    let mut cfg = Config::default();
    cfg.args(&[crate::harness::CHECKER, "read", "/etc/masked"]);
    cfg.set("/linux/maskedPaths", json!(["/etc/masked"]));
    let mounts = cfg.0["mounts"]
        .as_array_mut()
        .ok_or_else(|| harness("no mounts"))?;
    let i = mounts
        .iter()
        .position(|m| m["destination"] == "/dev")
        .ok_or_else(|| harness("no /dev mount in the default config"))?;
    mounts[i] = json!({"destination": "/dev", "type": "bind", "source": dev.to_string_lossy(), "options": ["rbind", "rw"]});
    let b = ctx.bundle(&cfg)?;
    std::fs::write(b.join("rootfs/etc/planted"), "planted, not /dev/null\n").map_err(harness)?;
    std::fs::write(b.join("rootfs/etc/masked"), "masked secret\n").map_err(harness)?;
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
    refused_or_read_empty(
        ctx,
        &id,
        &out,
        "masked with a /dev/null that is not the null device, /etc/masked",
    )
}

fn readonly_custom(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/root/readonly", json!(false))
        .set("/linux/readonlyPaths", json!(["/tmp"]));
    let r = ctx.check(cfg, &["touch", "/tmp/x", "touch", "/newfile"])?;
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::EROFS as i64),
        "errno creating /tmp/x under a readonly path"
    );
    ensure_eq!(r.probe_errno(1), None, "errno creating /newfile outside it");
    Ok(())
}

/// A readonly path that is a relative symlink climbing out of the rootfs
/// resolves inside the container.
fn readonly_symlink(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&[
        crate::harness::CHECKER,
        "touch",
        "/tmp/x",
        "touch",
        "/newfile",
    ]);
    cfg.set("/root/readonly", json!(false))
        .set("/linux/readonlyPaths", json!(["/rolink"]));
    let b = ctx.bundle(&cfg)?;
    std::os::unix::fs::symlink("../../../../../../tmp", b.join("rootfs/rolink"))
        .map_err(harness)?;
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
    // The host's /tmp must not have become read-only.
    let probe = std::env::temp_dir().join(format!("sangja-conformance-rw-{}", std::process::id()));
    let host_rw = std::fs::write(&probe, "x").is_ok();
    let _ = std::fs::remove_file(&probe);
    ensure!(host_rw, "the host's /tmp is no longer writable");
    if !out.ok() {
        return ctx.nothing_left(&id);
    }
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::EROFS as i64),
        "errno creating /tmp/x (the symlink's target inside the container)"
    );
    ensure_eq!(r.probe_errno(1), None, "errno creating /newfile");
    Ok(())
}

/// In a user namespace mapping 0 to 100000, a bind of a root-owned host
/// directory shows its files as nobody; an idmapped bind with the same
/// mapping shows them as root.
fn idmapped(ctx: &mut Ctx) -> CaseResult {
    let src = source_dir(ctx, "idmap-src")?;
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let mut cfg = Config::default();
    cfg.namespace("user", None)
        .set("/linux/uidMappings", map.clone())
        .set("/linux/gidMappings", map.clone());
    cfg.push(
        "/mounts",
        json!({"destination": "/idmapped", "type": "bind", "source": src.to_string_lossy(), "options": ["bind", "ro"], "uidMappings": map, "gidMappings": map}),
    );
    bind(&mut cfg, &src, "/plain", &["bind", "ro"]);
    cfg.args(&[
        crate::harness::CHECKER,
        "stat",
        "/idmapped/hello",
        "stat",
        "/plain/hello",
    ]);
    // The container's root (host uid 100000) cannot create mount points in
    // a root-owned rootfs: they exist beforehand.
    let b = ctx.bundle(&cfg)?;
    for d in ["idmapped", "plain"] {
        std::fs::create_dir_all(b.join("rootfs").join(d)).map_err(harness)?;
    }
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
    ensure!(out.ok(), "run failed: {}", out.describe());
    let r = Report::parse(&out.stdout).map_err(CaseError::Fail)?;
    let owner = |i: usize| {
        (
            r.probe(i)["value"]["uid"].as_u64(),
            r.probe(i)["value"]["gid"].as_u64(),
        )
    };
    ensure_eq!(
        owner(1),
        (Some(65534), Some(65534)),
        "owner through the plain bind (unmapped root)"
    );
    ensure_eq!(
        owner(0),
        (Some(0), Some(0)),
        "owner through the idmapped bind"
    );
    Ok(())
}

fn readonly_missing(ctx: &mut Ctx) -> CaseResult {
    missing_path_ignored(ctx, "readonlyPaths")
}

fn bind_flags(ctx: &mut Ctx) -> CaseResult {
    let src = source_dir(ctx, "src")?;
    let mut cfg = Config::default();
    bind(
        &mut cfg,
        &src,
        "/data",
        &["bind", "nosuid", "nodev", "noexec", "ro"],
    );
    let r = ctx.check(cfg, &[])?;
    for o in ["nosuid", "nodev", "noexec", "ro"] {
        ensure!(
            r.mount_has("/data", o),
            "/data lacks {o}: {:?}",
            r.mount("/data")
        );
    }
    Ok(())
}

/// `rro` makes every mount under a recursive bind read-only, not only the top.
fn recursive_readonly(ctx: &mut Ctx) -> CaseResult {
    let src = source_dir(ctx, "rro-src")?;
    let sub = src.join("sub");
    std::fs::create_dir_all(&sub).map_err(harness)?;
    let c = std::ffi::CString::new(sub.to_string_lossy().as_bytes()).map_err(harness)?;
    // SAFETY: mount(2) with NUL-terminated strings we own; the tmpfs goes under
    // this case's scratch directory, which the harness unmounts at the end.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    ensure!(
        rc == 0,
        "harness: cannot mount a tmpfs at {}: {}",
        sub.display(),
        std::io::Error::last_os_error()
    );
    let mut cfg = Config::default();
    bind(&mut cfg, &src, "/data", &["rbind", "rro"]);
    let r = ctx.check(cfg, &["touch", "/data/sub/x", "touch", "/data/x"]);
    // SAFETY: as above; detaching the tmpfs this case mounted.
    unsafe {
        libc::umount2(c.as_ptr(), libc::MNT_DETACH);
    }
    let r = r?;
    ensure_eq!(
        r.probe_errno(0),
        Some(libc::EROFS as i64),
        "errno creating a file in the submount"
    );
    ensure_eq!(
        r.probe_errno(1),
        Some(libc::EROFS as i64),
        "errno creating a file at the top"
    );
    Ok(())
}

fn sync_flags(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.push("/mounts", json!({"destination": "/mnt/s", "type": "tmpfs", "source": "tmpfs", "options": ["sync", "dirsync", "nosymfollow"]}));
    let r = ctx.check(cfg, &[])?;
    for o in ["sync", "dirsync", "nosymfollow"] {
        ensure!(
            r.mount_has("/mnt/s", o),
            "/mnt/s lacks {o}: {:?}",
            r.mount("/mnt/s")
        );
    }
    Ok(())
}

/// Extra mounts of each pseudo file system type land with that type.
fn mount_kinds(ctx: &mut Ctx) -> CaseResult {
    let kinds = [
        ("/mnt/proc2", "proc"),
        ("/mnt/mq2", "mqueue"),
        ("/mnt/sys2", "sysfs"),
        ("/mnt/tmp2", "tmpfs"),
    ];
    let mut cfg = Config::default();
    for (dest, ty) in kinds {
        let mut opts = vec!["nosuid", "nodev", "noexec"];
        if ty == "sysfs" {
            opts.push("ro");
        }
        cfg.push(
            "/mounts",
            json!({"destination": dest, "type": ty, "source": ty, "options": opts}),
        );
    }
    let r = ctx.check(cfg, &[])?;
    for (dest, ty) in kinds {
        ensure_eq!(
            r.mount(dest).map(|m| m["fstype"].clone()),
            Some(Value::from(ty)),
            format!("type of {dest}")
        );
    }
    Ok(())
}

/// A file bind whose destination and parents do not exist: the parents are
/// made as directories and the mount point as a file.
fn bind_file_new_parents(ctx: &mut Ctx) -> CaseResult {
    let src = source_dir(ctx, "src")?;
    let mut cfg = Config::default();
    bind(
        &mut cfg,
        &src.join("hello"),
        "/new/parent/hello.txt",
        &["bind", "ro"],
    );
    let r = ctx.check(
        cfg,
        &["read", "/new/parent/hello.txt", "stat", "/new/parent"],
    )?;
    ensure_eq!(
        r.probe(0)["value"],
        Value::from("from the host\n"),
        "content of the bound file"
    );
    ensure_eq!(
        r.probe(1)["value"]["type"],
        Value::from("d"),
        "type of the created parent"
    );
    Ok(())
}
