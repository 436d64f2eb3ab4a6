//! Concurrent commands on one store: imports, loads, tags, inspections and removals
//! running at once leave a store that passes fsck with every expected name.

mod common;
use common::*;
use std::sync::Arc;
use std::thread;

fn main() {
    run_trials(vec![
        trial(
            "concurrent_commands_one_store",
            &[],
            concurrent_commands_one_store,
        ),
        trial(
            "concurrent_first_use_of_a_store",
            &[],
            concurrent_first_use_of_a_store,
        ),
    ]);
}

/// Several commands creating the same new store at once all succeed.
fn concurrent_first_use_of_a_store() -> TestResult {
    let env = Arc::new(Env::new());
    let rootfs = env.path("rootfs");
    busybox_rootfs(&rootfs)?;
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let env = Arc::clone(&env);
            let rootfs = rootfs.clone();
            thread::spawn(move || {
                let name = format!("first:{i}");
                env.ok(["import".as_ref(), rootfs.as_os_str(), name.as_ref()])
                    .map_err(|e| format!("{name}: {e:?}"))
            })
        })
        .collect();
    let errors: Vec<String> = handles
        .into_iter()
        .filter_map(|h| {
            h.join()
                .map_err(|_| "worker panicked".to_string())
                .and_then(|r| r.map(|_| ()))
                .err()
        })
        .collect();
    check(errors.is_empty(), errors.join("\n"))?;
    for i in 0..6 {
        env.ok(["inspect", &format!("first:{i}")])?;
    }
    check(env.ok(["fsck"])?.starts_with("ok:"), "fsck ok")
}

fn concurrent_commands_one_store() -> TestResult {
    let env = Arc::new(Env::new());
    let rootfs = env.busybox_image("seed:1", &["CMD [\"sh\"]"])?;
    let archive = env.path("seed.tar");
    env.ok([
        "save".as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
        "seed:1".as_ref(),
    ])?;
    // A second image to be removed and re-added while the others work.
    env.ok([
        "import".as_ref(),
        "--change".as_ref(),
        "CMD [\"x\"]".as_ref(),
        rootfs.as_os_str(),
        "churn:1".as_ref(),
    ])?;

    let mut handles = Vec::new();
    for worker in 0..6 {
        let env = Arc::clone(&env);
        let rootfs = rootfs.clone();
        let archive = archive.clone();
        handles.push(thread::spawn(move || -> Result<(), String> {
            for round in 0..3 {
                let name = format!("w{worker}:r{round}");
                let change = format!("ENV W={worker} R={round}");
                match worker % 3 {
                    0 => env
                        .ok([
                            "import".as_ref(),
                            "--change".as_ref(),
                            change.as_ref(),
                            rootfs.as_os_str(),
                            name.as_ref(),
                        ])
                        .map_err(|e| format!("import {name}: {e:?}"))?,
                    1 => {
                        env.ok(["load".as_ref(), "-i".as_ref(), archive.as_os_str()])
                            .map_err(|e| format!("load: {e:?}"))?;
                        env.ok(["tag", "seed:1", &name])
                            .map_err(|e| format!("tag {name}: {e:?}"))?
                    }
                    _ => {
                        // Churn: remove and re-import an unrelated image, inspect the seed.
                        let _ = env.run(["rmi", "churn:1"]);
                        env.ok([
                            "import".as_ref(),
                            "--change".as_ref(),
                            "CMD [\"x\"]".as_ref(),
                            rootfs.as_os_str(),
                            "churn:1".as_ref(),
                        ])
                        .map_err(|e| format!("re-import churn: {e:?}"))?;
                        env.ok(["inspect", "seed:1"])
                            .map_err(|e| format!("inspect: {e:?}"))?;
                        env.ok(["tag", "seed:1", &name])
                            .map_err(|e| format!("tag {name}: {e:?}"))?
                    }
                };
            }
            Ok(())
        }));
    }
    let mut errors = Vec::new();
    for h in handles {
        if let Err(e) = h
            .join()
            .map_err(|_| "worker panicked".to_string())
            .and_then(|r| r)
        {
            errors.push(e);
        }
    }
    check(errors.is_empty(), errors.join("\n"))?;
    let fsck = env.ok(["fsck"])?;
    check(fsck.starts_with("ok:"), &fsck)?;
    for worker in 0..6 {
        for round in 0..3 {
            let name = format!("w{worker}:r{round}");
            env.ok(["inspect", "--format", "{{.Id}}", &name])?;
        }
    }
    env.ok(["inspect", "churn:1"])?;
    // Every unpack of every image works: no blob was collected from under a name.
    let list = env.ok(["images", "-q"])?;
    for (i, id) in list.lines().enumerate() {
        let out = env.path(&format!("u{i}"));
        env.ok(["unpack".as_ref(), id.as_ref(), out.as_os_str()])?;
    }
    check(
        std::fs::read_dir(env.store.join("tmp"))?.count() == 0,
        "no staging directories left",
    )?;
    // prune finds nothing to collect: nothing was orphaned.
    let out = env.ok(["prune"])?;
    check(
        !out.contains("deleted: sha256:"),
        format!("prune found orphans after concurrent commands: {out}"),
    )
}
