//! Concurrent commands on one store: imports, loads, tags, inspections and removals
//! running at once leave a store that passes fsck with every expected name; two pulls of
//! one image at once both succeed and keep each blob once; a build racing the removal of
//! its base leaves a consistent store.

mod common;
mod registry_support;
use common::*;
use registry_support::{Auth, Registry};
use std::path::Path;
use std::process::{Command, Output, Stdio};
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
        trial(
            "two_pulls_of_one_image_at_once",
            &["docker-registry"],
            two_pulls_of_one_image_at_once,
        ),
        trial(
            "build_while_its_base_is_removed",
            &["runc"],
            build_while_its_base_is_removed,
        ),
    ]);
}

/// The tool on `env`'s store with a private docker config and no registries config.
fn tool(env: &Env, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("--store")
        .arg(&env.store)
        .args(args)
        .env("DOCKER_CONFIG", env.path("docker"))
        .env("SANGJA_REGISTRIES_CONFIG", env.path("no-registries.json"))
        // build locates a runtime even with no RUN step; none runs here.
        .env("SANGJA_IMAGE_RUNTIME", "runc")
        .stdin(Stdio::null());
    c
}

fn described(args: &[&str], out: &Output) -> String {
    format!(
        "{args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The blob files of a store (digest hex names).
fn blob_names(store: &Path) -> Result<Vec<String>, libtest_mimic::Failed> {
    let mut v: Vec<String> = std::fs::read_dir(store.join("blobs/sha256"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// A two-layer image (busybox, and a larger file so transfers overlap).
fn two_layer_archive(env: &Env, name: &str) -> Result<std::path::PathBuf, libtest_mimic::Failed> {
    let root = env.path("rootfs-two");
    busybox_rootfs(&root)?;
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", &root)?;
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let layers = vec![
        b.into_inner()?,
        RawTar::new().file("big.bin", &data).finish(),
    ];
    let file = env.path("two.tar");
    std::fs::write(&file, docker_archive(name, &layers, &["/bin/sh"]))?;
    Ok(file)
}

fn two_pulls_of_one_image_at_once() -> TestResult {
    let src = Env::new();
    let reg = Registry::start(&src.path("registry"), Auth::None)?;
    let name = format!("{}/conc/pull:1", reg.host);
    let archive = two_layer_archive(&src, &name)?;
    src.ok(["load".as_ref(), "-i".as_ref(), archive.as_os_str()])?;
    src.ok(["push", "-q", &name])?;
    let want = blob_names(&src.store)?;

    for round in 0..3 {
        let dst = Arc::new(Env::new());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let dst = Arc::clone(&dst);
                let name = name.clone();
                thread::spawn(move || {
                    let args = ["pull", name.as_str()];
                    let out = tool(&dst, &args).output().expect("run sangja-image");
                    (out.status.success(), described(&args, &out))
                })
            })
            .collect();
        let results: Vec<(bool, String)> = handles
            .into_iter()
            .map(|h| h.join().expect("pull thread"))
            .collect();
        for (ok, what) in &results {
            check(
                *ok,
                format!("round {round}: a concurrent pull failed: {what}"),
            )?;
        }
        let fsck = dst.ok(["fsck"])?;
        check(fsck.starts_with("ok:"), format!("round {round}: {fsck}"))?;
        // Each blob once: exactly the source's blobs, nothing staged left.
        let got = blob_names(&dst.store)?;
        check(
            got == want,
            format!("round {round}: blobs {got:?}, the pushed image has {want:?}"),
        )?;
        check(
            std::fs::read_dir(dst.store.join("tmp"))?.count() == 0,
            format!("round {round}: staging directories left"),
        )?;
        let images = dst.ok(["images", "-q"])?;
        check(
            images.lines().count() == 1,
            format!("round {round}: expected one image:\n{images}"),
        )?;
    }
    Ok(())
}

/// `build FROM base` and `rm base` at once, a few times over: whichever wins, fsck passes,
/// and a build that succeeded made a complete image.
fn build_while_its_base_is_removed() -> TestResult {
    let env = Arc::new(Env::new());
    let archive = two_layer_archive(&env, "conc-base:1")?;
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx)?;
    std::fs::write(ctx.join("added.txt"), b"added\n")?;
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM conc-base:1\nCOPY added.txt /added.txt\nENV ROUND=1\n",
    )?;
    for round in 0..4 {
        env.ok(["load".as_ref(), "-i".as_ref(), archive.as_os_str()])?;
        let tag = format!("conc-built:{round}");
        let build = {
            let env = Arc::clone(&env);
            let args: Vec<String> = ["build", "--progress", "plain", "--no-cache", "-t", &tag]
                .iter()
                .map(|s| s.to_string())
                .chain([ctx.display().to_string()])
                .collect();
            thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = tool(&env, &args).output().expect("run build");
                (out.status.success(), described(&args, &out))
            })
        };
        let rm = {
            let env = Arc::clone(&env);
            thread::spawn(move || {
                let args = ["rmi", "conc-base:1"];
                let out = tool(&env, &args).output().expect("run rm");
                (out.status.success(), described(&args, &out))
            })
        };
        let (built, build_out) = build.join().expect("build thread");
        let (removed, rm_out) = rm.join().expect("rm thread");
        check(
            removed,
            format!("round {round}: rm of the base failed: {rm_out}"),
        )?;
        let fsck = env.ok(["fsck"])?;
        check(
            fsck.starts_with("ok:"),
            format!("round {round}: fsck after build ({build_out}) and rm: {fsck}"),
        )?;
        if built {
            let out = env.path(&format!("built-{round}"));
            env.ok(["unpack".as_ref(), tag.as_ref(), out.as_os_str()])
                .map_err(|e| format!("round {round}: built image does not unpack: {e:?}"))?;
            check(
                out.join("added.txt").is_file() && out.join("big.bin").is_file(),
                format!("round {round}: the built image is incomplete"),
            )?;
        } else {
            check(
                !build_out.contains("panicked"),
                format!("round {round}: build crashed: {build_out}"),
            )?;
        }
        let listed = env.ok(["images"])?;
        check(
            !listed.contains("conc-base"),
            format!("round {round}: the removed base is still listed:\n{listed}"),
        )?;
    }
    Ok(())
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
