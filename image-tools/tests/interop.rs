//! Interoperability with the reference tools from apt: what sangja-image saves, skopeo,
//! podman and umoci read; what they write, sangja-image loads; and `unpack` gives the
//! same tree as `umoci unpack`.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

fn main() {
    run_trials(vec![
        trial(
            "umoci_unpack_matches",
            &["umoci", "skopeo"],
            umoci_unpack_matches,
        ),
        trial(
            "skopeo_reads_and_writes",
            &["skopeo", "umoci"],
            skopeo_reads_and_writes,
        ),
        trial(
            "podman_reads_and_writes",
            &["podman"],
            podman_reads_and_writes,
        ),
    ]);
}

/// `find`-style listing: path, type, mode, owner, link target.
fn listing(root: &Path) -> Result<String, libtest_mimic::Failed> {
    let out = sh(Command::new("find")
        .arg(".")
        .arg("-printf")
        .arg("%p %y %m %U:%G %l %s\n")
        .current_dir(root))?;
    let mut lines: Vec<&str> = out.lines().filter(|l| !l.starts_with(". ")).collect();
    lines.sort();
    Ok(lines.join("\n"))
}

fn same_tree(a: &Path, b: &Path, what: &str) -> TestResult {
    let (la, lb) = (listing(a)?, listing(b)?);
    if la == lb {
        return Ok(());
    }
    let d = diff(&snapshot(a), &snapshot(b));
    Err(format!(
        "{what}: trees differ:\n{}\n--- first:\n{la}\n--- second:\n{lb}",
        d.join("\n")
    )
    .into())
}

/// A two-layer image made by umoci: every entry type in layer 1, deletions (whiteouts
/// umoci writes) in layer 2. Returns the layout path; the image is `layout:t`.
fn umoci_image(env: &Env) -> Result<std::path::PathBuf, libtest_mimic::Failed> {
    let layout = env.path("layout");
    let b = env.path("umoci-bundle");
    sh(Command::new("umoci")
        .arg("init")
        .arg("--layout")
        .arg(&layout))?;
    sh(Command::new("umoci")
        .arg("new")
        .arg("--image")
        .arg(format!("{}:t", layout.display())))?;
    sh(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:t", layout.display()))
        .arg(&b))?;
    let r = b.join("rootfs");
    busybox_rootfs(&r)?;
    fs::create_dir_all(r.join("d/sub/deep"))?;
    fs::write(r.join("d/sub/deep/f"), "x")?;
    fs::write(r.join("d/g"), "y")?;
    fs::hard_link(r.join("d/g"), r.join("d/hard"))?;
    fs::hard_link(r.join("d/g"), r.join("d/hard2"))?;
    std::os::unix::fs::chown(r.join("d/g"), Some(1000), Some(29))?;
    std::os::unix::fs::symlink("/no/where", r.join("dangling"))?;
    sh(Command::new("chmod").arg("4750").arg(r.join("bin/busybox")))?;
    sh(Command::new("mknod")
        .arg(r.join("null"))
        .args(["c", "1", "3"]))?;
    sh(Command::new("mkfifo").arg(r.join("fifo")))?;
    sh(Command::new("umoci")
        .arg("repack")
        .arg("--image")
        .arg(format!("{}:t", layout.display()))
        .arg(&b))?;
    fs::remove_dir_all(r.join("d/sub"))?;
    fs::remove_file(r.join("d/hard"))?;
    fs::write(r.join("d/new"), "z")?;
    fs::create_dir_all(r.join("d/sub"))?;
    fs::write(r.join("d/sub/again"), "back")?;
    sh(Command::new("umoci")
        .arg("repack")
        .arg("--image")
        .arg(format!("{}:t", layout.display()))
        .arg(&b))?;
    sh(Command::new("umoci")
        .args(["config", "--config.cmd", "sh", "--image"])
        .arg(format!("{}:t", layout.display())))?;
    Ok(layout)
}

fn umoci_unpack_matches() -> TestResult {
    let env = Env::new();
    let layout = umoci_image(&env)?;
    let archive = env.path("u.tar");
    sh(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:t", layout.display()))
        .arg(format!("oci-archive:{}:um:1", archive.display())))?;
    env.ok(["load".as_ref(), "-i".as_ref(), archive.as_os_str()])?;
    let ours = env.path("ours");
    env.ok(["unpack".as_ref(), "um:1".as_ref(), ours.as_os_str()])?;
    let reference = env.path("ref");
    sh(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:t", layout.display()))
        .arg(&reference))?;
    same_tree(
        &ours,
        &reference.join("rootfs"),
        "umoci-made image: sangja-image unpack vs umoci unpack",
    )?;

    // And the other way: what sangja-image saves, umoci unpacks to the same tree.
    let saved = env.path("saved.tar");
    env.ok([
        "save".as_ref(),
        "--format".as_ref(),
        "oci-archive".as_ref(),
        "-o".as_ref(),
        saved.as_os_str(),
        "um:1".as_ref(),
    ])?;
    let layout2 = env.path("layout2");
    sh(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci-archive:{}", saved.display()))
        .arg(format!("oci:{}:t2", layout2.display())))?;
    let reference2 = env.path("ref2");
    sh(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:t2", layout2.display()))
        .arg(&reference2))?;
    same_tree(
        &ours,
        &reference2.join("rootfs"),
        "sangja-image-saved image: umoci unpack vs ours",
    )
}

fn skopeo_reads_and_writes() -> TestResult {
    let env = Env::new();
    env.busybox_image("sk:1", &["CMD [\"sh\"]", "ENV K=V"])?;
    let id = env
        .ok(["inspect", "--format", "{{.Id}}", "sk:1"])?
        .trim()
        .to_string();
    for (format, transport) in [
        ("docker-archive", "docker-archive"),
        ("oci-archive", "oci-archive"),
    ] {
        let file = env.path(&format!("{format}.tar"));
        env.ok([
            "save".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            "-o".as_ref(),
            file.as_os_str(),
            "sk:1".as_ref(),
        ])?;
        let info: serde_json::Value = serde_json::from_str(&sh(Command::new("skopeo")
            .arg("inspect")
            .arg(format!("{transport}:{}", file.display())))?)?;
        check(
            info["Env"] == serde_json::json!(["K=V"]),
            format!("skopeo inspect of our {format}: {info}"),
        )?;
        let cfg: serde_json::Value = serde_json::from_str(&sh(Command::new("skopeo")
            .arg("inspect")
            .arg("--config")
            .arg(format!("{transport}:{}", file.display())))?)?;
        check(
            cfg["config"]["Cmd"] == serde_json::json!(["sh"]),
            format!("skopeo inspect --config: {cfg}"),
        )?;
        // skopeo copies it on, and the copy loads back as the same image.
        let back = env.path(&format!("back-{format}.tar"));
        sh(Command::new("skopeo")
            .arg("copy")
            .arg(format!("{transport}:{}", file.display()))
            .arg(format!("{transport}:{}:skopeo/{format}:2", back.display())))?;
        let other = Env::new();
        let out = other.ok(["load".as_ref(), "-i".as_ref(), back.as_os_str()])?;
        contains(&out, &format!("skopeo/{format}:2"))?;
        let back_id = other
            .ok([
                "inspect",
                "--format",
                "{{.Id}}",
                &format!("skopeo/{format}:2"),
            ])?
            .trim()
            .to_string();
        check(
            back_id == id,
            format!("{format}: image id changed through skopeo: {id} -> {back_id}"),
        )?;
    }
    // An image skopeo writes from an umoci layout (gzip layers, whiteouts) loads and unpacks.
    let layout = umoci_image(&env)?;
    let da = env.path("from-skopeo.tar");
    sh(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:t", layout.display()))
        .arg(format!("docker-archive:{}:sk/umoci:3", da.display())))?;
    env.ok(["load".as_ref(), "-i".as_ref(), da.as_os_str()])?;
    let ours = env.path("ours");
    env.ok(["unpack".as_ref(), "sk/umoci:3".as_ref(), ours.as_os_str()])?;
    let reference = env.path("ref");
    sh(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:t", layout.display()))
        .arg(&reference))?;
    same_tree(
        &ours,
        &reference.join("rootfs"),
        "skopeo docker-archive of a umoci image",
    )
}

/// podman with a private store and no daemon state outside the test directory.
struct Podman<'a> {
    env: &'a Env,
}

impl Podman<'_> {
    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.env.path("podman-root"))
            .arg("--runroot")
            .arg(self.env.path("podman-run"))
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--storage-driver",
                "vfs",
            ]);
        c
    }
}

fn podman_reads_and_writes() -> TestResult {
    let env = Env::new();
    let podman = Podman { env: &env };
    env.busybox_image("pm:1", &["CMD [\"sh\"]"])?;
    let id = env
        .ok(["inspect", "--format", "{{.Id}}", "pm:1"])?
        .trim()
        .trim_start_matches("sha256:")
        .to_string();
    for format in ["docker-archive", "oci-archive"] {
        let file = env.path(&format!("{format}.tar"));
        env.ok([
            "save".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            "-o".as_ref(),
            file.as_os_str(),
            "pm:1".as_ref(),
        ])?;
        let out = sh(podman.cmd().arg("load").arg("-i").arg(&file))?;
        contains(&out, "pm:1")?;
        let pid = sh(podman
            .cmd()
            .args(["image", "inspect", "--format", "{{.Id}}", "pm:1"]))?;
        check(
            pid.trim() == id,
            format!("podman sees {} for our {id} ({format})", pid.trim()),
        )?;
    }
    for format in ["docker-archive", "oci-archive"] {
        let file = env.path(&format!("podman-{format}.tar"));
        sh(podman
            .cmd()
            .args(["save", "--format", format, "-o"])
            .arg(&file)
            .arg("pm:1"))?;
        let other = Env::new();
        let out = other.ok(["load".as_ref(), "-i".as_ref(), file.as_os_str()])?;
        contains(&out, "Loaded image")?;
        let loaded = other.ok(["images", "--no-trunc", "--format", "json"])?;
        let row: serde_json::Value =
            serde_json::from_str(loaded.lines().next().ok_or("nothing loaded")?)?;
        check(
            row["ID"].as_str() == Some(&format!("sha256:{id}")),
            format!("podman {format} loads as {row}"),
        )?;
        check(row["Tag"] == "1", format!("name kept: {row}"))?;
        let o = other.path("out");
        other.ok([
            "unpack".as_ref(),
            row["ID"].as_str().unwrap().as_ref(),
            o.as_os_str(),
        ])?;
        check(o.join("bin/busybox").is_file(), "podman's image unpacks")?;
    }
    let _ = podman.cmd().args(["rmi", "--all", "--force"]).output();
    Ok(())
}
