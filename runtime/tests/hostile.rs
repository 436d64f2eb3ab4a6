//! Hostile bundles (issue 27): configs with huge values, deep nesting, bytes that are not
//! UTF-8, oversized files, and rootfs trees with symlink loops. Each create is refused with
//! an error naming the file, field or path, ends in bounded time, and leaves nothing.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use common::leftovers::Snapshot;
use common::Env;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};

struct Case {
    name: &'static str,
    /// Changes the bundle (its config as JSON, and the bundle folder itself).
    make: fn(&Path, &mut Value),
    /// Raw bytes that replace config.json after `make`, when set.
    raw: Option<fn() -> Vec<u8>>,
    /// What the error must say.
    says: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "deeply_nested_config",
            make: |_, _| {},
            raw: Some(|| {
                let mut v = b"{\"ociVersion\":\"1.0.2\",\"annotations\":{\"a\":".to_vec();
                v.extend(std::iter::repeat_n(b'[', 200_000));
                v.extend(std::iter::repeat_n(b']', 200_000));
                v.extend(b"}}");
                v
            }),
            says: &["config.json", "recursion limit"],
        },
        Case {
            name: "config_not_utf8",
            make: |_, _| {},
            raw: Some(|| b"{\"ociVersion\":\"1.0.2\",\"hostname\":\"\xff\xfe\"}".to_vec()),
            says: &["config.json"],
        },
        Case {
            name: "config_too_large",
            make: |_, _| {},
            raw: Some(|| {
                let mut v = b"{\"ociVersion\":\"1.0.2\",\"annotations\":{\"a\":\"".to_vec();
                v.extend(std::iter::repeat_n(b'x', 40 << 20));
                v.extend(b"\"}}");
                v
            }),
            says: &["config.json", "larger than"],
        },
        Case {
            name: "huge_hostname",
            make: |_, c| {
                c["hostname"] = json!("h".repeat(1 << 20));
            },
            raw: None,
            says: &["hostname"],
        },
        Case {
            name: "huge_argument_list",
            make: |_, c| {
                // Past the kernel's limit on argv and envp together.
                let mut args = vec!["true".to_string()];
                args.extend(vec!["x".repeat(4096); 1024]);
                c["process"]["args"] = json!(args);
            },
            raw: None,
            says: &["exec /bin/true", "E2BIG"],
        },
        Case {
            name: "mount_destination_in_a_symlink_loop",
            make: |b, c| {
                let r = b.join("rootfs");
                symlink("/loop-b", r.join("loop-a")).unwrap();
                symlink("/loop-a", r.join("loop-b")).unwrap();
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/loop-a/x", "type": "tmpfs", "source": "tmpfs"}));
            },
            raw: None,
            says: &["/loop-a/x"],
        },
        Case {
            name: "cwd_in_a_symlink_loop",
            make: |b, c| {
                let r = b.join("rootfs");
                symlink("/cwd-b", r.join("cwd-a")).unwrap();
                symlink("/cwd-a", r.join("cwd-b")).unwrap();
                c["process"]["cwd"] = json!("/cwd-a");
            },
            raw: None,
            says: &["cwd"],
        },
        Case {
            name: "rootfs_is_a_symlink_loop",
            make: |b, c| {
                symlink(b.join("root-b"), b.join("root-a")).unwrap();
                symlink(b.join("root-a"), b.join("root-b")).unwrap();
                c["root"]["path"] = json!("root-a");
            },
            raw: None,
            says: &["root.path"],
        },
    ]
}

fn main() {
    let args = Arguments::from_args();
    let root = nix::unistd::geteuid().is_root();
    let trials = cases()
        .into_iter()
        .enumerate()
        .map(|(i, case)| {
            let name = case.name;
            if root {
                Trial::test(name, move || refused(i, case))
            } else {
                Trial::test(name, || Ok(()))
                    .with_ignored_flag(true)
                    .with_kind("not root: the trials create containers")
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn refused(index: usize, case: Case) -> Result<(), Failed> {
    let marker = format!("sjhb{}x{index}", std::process::id());
    let env = Env::new(&marker);
    let bundle = env.bundle(&["true"]);
    let cfg_path = bundle.join("config.json");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&cfg_path)?)?;
    (case.make)(&bundle, &mut cfg);
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg)?)?;
    if let Some(raw) = case.raw {
        std::fs::write(&cfg_path, raw())?;
    }
    let before = Snapshot::take(&marker, &env.root()).ignoring_fds();
    let t = Instant::now();
    let out = env.rt(&["run", "-b", bundle.to_str().unwrap(), &marker]);
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Err(format!("{}: accepted", case.name).into());
    }
    for want in case.says {
        if !err.contains(want) {
            return Err(format!("the error does not name {want:?}: {}", short(&err)).into());
        }
    }
    // A generous bound, only to catch a hang or a walk without end, not a speed check.
    if took > Duration::from_secs(60) {
        return Err(format!("took {took:?} to refuse").into());
    }
    let left = before.left_by(&Snapshot::take(&marker, &env.root()));
    if !left.is_empty() {
        return Err(format!("left behind: {}", left.join("; ")).into());
    }
    Ok(())
}

fn short(s: &str) -> String {
    s.chars().take(400).collect()
}
