//! Bad input: the runtime refuses it with an error naming what is wrong,
//! exits non-zero and leaves nothing in --root.

use serde_json::json;

use crate::case::{Case, CaseResult};
use crate::cases::util::expect_error;
use crate::config::Config;
use crate::harness::Ctx;
use crate::{ensure, ensure_eq, fail};

pub static CASES: &[Case] = &[
    Case {
        id: "bad.missing-bundle",
        field: "--bundle",
        needs: &[],
        note: None,
        run: missing_bundle,
    },
    Case {
        id: "bad.missing-config",
        field: "config.json",
        needs: &[],
        note: None,
        run: missing_config,
    },
    Case {
        id: "bad.unparsable-config",
        field: "config.json",
        needs: &[],
        note: None,
        run: unparsable,
    },
    Case {
        id: "bad.missing-process",
        field: "process",
        needs: &[],
        note: None,
        run: missing_process,
    },
    Case {
        id: "bad.empty-args",
        field: "process.args",
        needs: &[],
        note: None,
        run: empty_args,
    },
    Case {
        id: "bad.missing-executable",
        field: "process.args[0]",
        needs: &[],
        note: None,
        run: missing_executable,
    },
    Case {
        id: "bad.relative-cwd",
        field: "process.cwd",
        needs: &[],
        note: None,
        run: relative_cwd,
    },
    Case {
        id: "bad.unknown-namespace",
        field: "linux.namespaces[].type",
        needs: &[],
        note: None,
        run: unknown_namespace,
    },
    Case {
        id: "bad.duplicate-namespace",
        field: "linux.namespaces",
        needs: &[],
        note: None,
        run: duplicate_namespace,
    },
    Case {
        id: "bad.namespace-path-missing",
        field: "linux.namespaces[].path",
        needs: &[],
        note: None,
        run: ns_path_missing,
    },
    Case {
        id: "bad.missing-root-path",
        field: "root.path",
        needs: &[],
        note: None,
        run: missing_root_path,
    },
    Case {
        id: "bad.hostname-without-uts",
        field: "hostname",
        needs: &[],
        note: None,
        run: hostname_without_uts,
    },
    Case {
        id: "bad.mappings-without-userns",
        field: "linux.uidMappings",
        needs: &[],
        note: Some("refused or ignored (runc ignores mappings without a user namespace)"),
        run: mappings_without_userns,
    },
    Case {
        id: "bad.unknown-rlimit",
        field: "process.rlimits[].type",
        needs: &[],
        note: None,
        run: unknown_rlimit,
    },
    Case {
        id: "bad.soft-above-hard-rlimit",
        field: "process.rlimits[]",
        needs: &[],
        note: None,
        run: soft_above_hard,
    },
    Case {
        id: "bad.wrong-field-type",
        field: "process.user.uid",
        needs: &[],
        note: None,
        run: wrong_type,
    },
    Case {
        id: "bad.invalid-id",
        field: "container id",
        needs: &[],
        note: None,
        run: invalid_id,
    },
];

/// `run` of `cfg` must fail with `needle` in the error and leave nothing.
fn refused_with(ctx: &mut Ctx, cfg: &Config, needle: &str) -> CaseResult {
    let out = ctx.refused(cfg, "run")?;
    expect_error(&out, needle)
}

fn missing_bundle(ctx: &mut Ctx) -> CaseResult {
    let id = ctx.new_id();
    let nowhere = ctx.dir.join("no-such-bundle");
    let out = ctx.rt(&["run", "--bundle", &nowhere.to_string_lossy(), &id])?;
    expect_error(&out, "no-such-bundle")?;
    ctx.nothing_left(&id)
}

fn missing_config(ctx: &mut Ctx) -> CaseResult {
    let b = ctx.bundle(&Config::default())?;
    std::fs::remove_file(b.join("config.json"))
        .map_err(|e| crate::case::CaseError::Harness(e.to_string()))?;
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
    expect_error(&out, "config.json")?;
    ctx.nothing_left(&id)
}

fn unparsable(ctx: &mut Ctx) -> CaseResult {
    let b = ctx.bundle(&Config::default())?;
    std::fs::write(
        b.join("config.json"),
        "{\"ociVersion\": \"1.2.0\", \"process\": ",
    )
    .map_err(|e| crate::case::CaseError::Harness(e.to_string()))?;
    let id = ctx.new_id();
    let out = ctx.rt(&["run", "--bundle", &b.to_string_lossy(), &id])?;
    ensure!(!out.ok(), "run of an unparsable config.json succeeded");
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("json") || e.contains("config") || e.contains("eof"),
        "error does not say the config is unparsable: {}",
        out.stderr.trim()
    );
    ctx.nothing_left(&id)
}

fn missing_process(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.remove("/process");
    // The spec makes process REQUIRED at start; create may accept it, but the
    // container can never run. `run` must fail either way.
    let out = ctx.refused(&cfg, "run")?;
    ensure!(
        out.stderr.to_lowercase().contains("process"),
        "error does not name process: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn empty_args(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.set("/process/args", json!([]));
    let out = ctx.refused(&cfg, "run")?;
    ensure!(
        out.stderr.to_lowercase().contains("args"),
        "error does not name args: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn missing_executable(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/no/such/program"]);
    refused_with(ctx, &cfg, "/no/such/program")
}

fn relative_cwd(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/process/cwd", json!("relative/dir"));
    refused_with(ctx, &cfg, "cwd")
}

fn unknown_namespace(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .push("/linux/namespaces", json!({"type": "bogusns"}));
    refused_with(ctx, &cfg, "bogusns")
}

fn duplicate_namespace(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .push("/linux/namespaces", json!({"type": "ipc"}));
    let out = ctx.refused(&cfg, "run")?;
    ensure!(
        out.stderr.to_lowercase().contains("ipc") || out.stderr.to_lowercase().contains("dup"),
        "error names neither ipc nor the duplication: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn ns_path_missing(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .namespace("network", Some("/no/such/netns"));
    refused_with(ctx, &cfg, "/no/such/netns")
}

fn missing_root_path(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/root/path", json!("no-such-rootfs"));
    refused_with(ctx, &cfg, "no-such-rootfs")
}

fn hostname_without_uts(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).remove_namespace("uts");
    crate::cases::util::guard_host_value("/proc/sys/kernel/hostname", || {
        refused_with(ctx, &cfg, "hostname")
    })
}

fn mappings_without_userns(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set(
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        )
        .set(
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        );
    // Refused, or ignored (runc drops mappings when there is no user
    // namespace): never applied through a user namespace nobody asked for.
    cfg.args(&[crate::harness::CHECKER]);
    let (id, out) = ctx.run(&cfg)?;
    if !out.ok() {
        let e = out.stderr.to_lowercase();
        ensure!(
            e.contains("user") && (e.contains("namespace") || e.contains("mapping")),
            "error does not explain the mappings need a user namespace: {}",
            out.stderr.trim()
        );
        return ctx.nothing_left(&id);
    }
    let r = crate::report::Report::parse(&out.stdout).map_err(crate::case::CaseError::Fail)?;
    ensure!(
        r.ns("user") == crate::report::host_ns("user"),
        "a user namespace was created though none was configured"
    );
    ensure_eq!(
        r.0["uid_map"],
        json!([[0, 0, 4294967295u64]]),
        "uid_map (mappings must not apply)"
    );
    Ok(())
}

fn unknown_rlimit(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).push(
        "/process/rlimits",
        json!({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}),
    );
    refused_with(ctx, &cfg, "RLIMIT_BOGUS")
}

fn soft_above_hard(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"]).set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]),
    );
    let out = ctx.refused(&cfg, "run")?;
    let e = out.stderr.to_lowercase();
    ensure!(
        e.contains("rlimit") || e.contains("nofile") || e.contains("invalid argument"),
        "error does not name the rlimit: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn wrong_type(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = Config::default();
    cfg.args(&["/bin/true"])
        .set("/process/user/uid", json!("zero"));
    let out = ctx.refused(&cfg, "run")?;
    if !out.stderr.contains("uid") {
        fail!(
            "error does not name the field process.user.uid: {}",
            out.stderr.trim()
        );
    }
    Ok(())
}

/// Ids that would name paths outside --root (or nothing) are refused.
fn invalid_id(ctx: &mut Ctx) -> CaseResult {
    let b = ctx.bundle(&Config::default())?;
    let bundle = b.to_string_lossy().into_owned();
    for id in ["../escape", "a/b", "..", ""] {
        let out = ctx.rt(&["create", "--bundle", &bundle, id])?;
        ensure!(!out.ok(), "create with id {id:?} succeeded");
        ensure!(
            !ctx.dir.join("escape").exists(),
            "id {id:?} created a state directory outside --root"
        );
    }
    Ok(())
}
