//! Every sangja-image command through the binary, on private stores.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

fn main() {
    run_trials(vec![
        trial(
            "import_images_inspect_history",
            &[],
            import_images_inspect_history,
        ),
        trial(
            "import_tarballs_and_stdin",
            &["tar"],
            import_tarballs_and_stdin,
        ),
        trial("tag_rm_prune", &[], tag_rm_prune),
        trial("save_load_roundtrip", &[], save_load_roundtrip),
        trial("unpack_layer_features", &[], unpack_layer_features),
        trial("fsck_detects_corruption", &[], fsck_detects_corruption),
        trial("bundle_config", &["runc"], bundle_config),
        trial(
            "bad_input_leaves_store_unchanged",
            &[],
            bad_input_leaves_store_unchanged,
        ),
        trial(
            "docker_grammar_image_group",
            &[],
            docker_grammar_image_group,
        ),
    ]);
}

fn inspect(env: &Env, name: &str) -> Result<Value, libtest_mimic::Failed> {
    let v: Value = serde_json::from_str(&env.ok(["inspect", name])?)?;
    Ok(v[0].clone())
}

fn import_images_inspect_history() -> TestResult {
    let env = Env::new();
    env.busybox_image(
        "me/app:1",
        &[
            "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
            "CMD [\"echo hi\"]",
            "ENV A=1 B=2",
            "WORKDIR /tmp",
            "USER bob",
            "LABEL k=v",
        ],
    )?;
    let table = env.ok(["images"])?;
    let lines: Vec<&str> = table.lines().collect();
    check(
        lines.len() == 2,
        format!("one image row expected:\n{table}"),
    )?;
    check(
        lines[0].split_whitespace().collect::<Vec<_>>()
            == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"],
        table.clone(),
    )?;
    check(
        lines[1].starts_with("me/app") && lines[1].split_whitespace().nth(1) == Some("1"),
        table.clone(),
    )?;

    let json_line = env.ok(["images", "--format", "json"])?;
    let row: Value = serde_json::from_str(json_line.trim())?;
    check(
        row["Repository"] == "me/app" && row["Tag"] == "1",
        &json_line,
    )?;
    let quiet = env.ok(["images", "-q"])?;
    check(
        quiet.trim().len() == 12,
        format!("-q prints a 12-digit id: {quiet}"),
    )?;

    let doc = inspect(&env, "me/app:1")?;
    check(doc["Id"].as_str().unwrap().starts_with("sha256:"), &doc)?;
    check(
        doc["Id"].as_str().unwrap()[7..].starts_with(quiet.trim()),
        "inspect Id matches images -q",
    )?;
    check(
        doc["RepoTags"] == serde_json::json!(["me/app:1"]),
        &doc["RepoTags"],
    )?;
    check(
        doc["RepoDigests"][0]
            .as_str()
            .unwrap()
            .starts_with("me/app@sha256:"),
        &doc["RepoDigests"],
    )?;
    check(
        doc["Config"]["Cmd"] == serde_json::json!(["echo hi"]),
        &doc["Config"],
    )?;
    check(
        doc["Config"]["Entrypoint"] == serde_json::json!(["/bin/sh", "-c"]),
        &doc["Config"],
    )?;
    check(
        doc["Config"]["Env"] == serde_json::json!(["A=1", "B=2"]),
        &doc["Config"],
    )?;
    check(
        doc["Config"]["WorkingDir"] == "/tmp" && doc["Config"]["User"] == "bob",
        &doc["Config"],
    )?;
    check(doc["Config"]["Labels"]["k"] == "v", &doc["Config"])?;
    check(
        doc["Config"]["Tty"] == false && doc["Config"]["Hostname"] == "",
        "docker's zero-valued Config fields are shown",
    )?;
    check(
        doc["Os"] == "linux"
            && doc["Architecture"] == sangja_seccomp::docker_profile::native_arch(),
        &doc,
    )?;
    check(
        doc["RootFS"]["Type"] == "layers" && doc["RootFS"]["Layers"].as_array().unwrap().len() == 1,
        &doc["RootFS"],
    )?;
    check(doc["Size"].as_u64().unwrap() > 100_000, &doc["Size"])?;
    check(
        doc["History"].as_array().unwrap().len() == 1,
        &doc["History"],
    )?;
    check(
        !doc["Created"].as_str().unwrap().is_empty(),
        "Created is set",
    )?;

    check(
        env.ok(["inspect", "--format", "{{.Os}}", "me/app:1"])? == "linux\n",
        "{{.Os}}",
    )?;
    check(
        env.ok(["inspect", "--format", "{{.Config.Env}}", "me/app:1"])? == "[A=1 B=2]\n",
        "{{.Config.Env}}",
    )?;
    let layers = env.ok(["inspect", "--format", "{{.RootFS.Layers}}", "me/app:1"])?;
    check(
        layers.starts_with("[sha256:") && layers.ends_with("]\n"),
        &layers,
    )?;
    let cfg: Value =
        serde_json::from_str(&env.ok(["inspect", "--format", "{{json .Config}}", "me/app:1"])?)?;
    check(
        cfg == doc["Config"],
        "{{json .Config}} equals the Config object",
    )?;
    check(
        env.ok([
            "inspect",
            "--format",
            "{{index .Config.Labels \"k\"}}",
            "me/app:1",
        ])? == "v\n",
        "index",
    )?;
    contains(
        &env.fails(["inspect", "--format", "{{.Os", "me/app:1"])?,
        "unclosed action",
    )?;
    // By id prefix and full id, too.
    env.ok(["inspect", quiet.trim()])?;
    env.ok(["inspect", doc["Id"].as_str().unwrap()])?;

    let history = env.ok(["history", "me/app:1"])?;
    contains(&history, "CREATED BY")?;
    contains(&history, "sangja-image import")?;
    contains(&history, &quiet.trim()[..12])?;
    let hist_json: Value = serde_json::from_str(
        env.ok(["history", "--format", "json", "me/app:1"])?
            .lines()
            .next()
            .unwrap(),
    )?;
    check(hist_json["Size"].as_u64().unwrap() > 0, &hist_json)?;
    Ok(())
}

fn import_tarballs_and_stdin() -> TestResult {
    let env = Env::new();
    let rootfs = env.path("rootfs");
    busybox_rootfs(&rootfs)?;
    fs::write(rootfs.join("etc/marker"), "tarball\n")?;
    let plain = env.path("root.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("--numeric-owner")
        .arg("-cf")
        .arg(&plain)
        .arg("."))?;
    let data = fs::read(&plain)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&data)?;
    fs::write(env.path("root.tar.gz"), gz.finish()?)?;
    fs::write(env.path("root.tar.zst"), zstd::encode_all(&data[..], 3)?)?;
    let want = snapshot(&rootfs);
    for (file, name) in [
        ("root.tar", "t:plain"),
        ("root.tar.gz", "t:gz"),
        ("root.tar.zst", "t:zst"),
    ] {
        env.ok(["import".as_ref(), env.path(file).as_os_str(), name.as_ref()])?;
        let out = env.path(&format!("out-{}", name.replace(':', "-")));
        env.ok(["unpack".as_ref(), name.as_ref(), out.as_os_str()])?;
        let d = diff(&want, &snapshot(&out));
        check(
            d.is_empty(),
            format!("{file}: unpack differs from the source:\n{}", d.join("\n")),
        )?;
        let media = env.ok(["inspect", "--format", "{{.RootFS.Type}}", name])?;
        check(media == "layers\n", media)?;
    }
    // All three have the same diff id: the uncompressed tar.
    let ids: Vec<String> = ["t:plain", "t:gz", "t:zst"]
        .iter()
        .map(|n| env.ok(["inspect", "--format", "{{.RootFS.Layers}}", n]))
        .collect::<Result<_, _>>()?;
    check(
        ids[0] == ids[1] && ids[1] == ids[2],
        format!("diff ids differ: {ids:?}"),
    )?;

    // stdin
    let mut child = Command::new(bin())
        .arg("--store")
        .arg(&env.store)
        .args(["import", "-", "t:stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().unwrap().write_all(&data)?;
    let out = child.wait_with_output()?;
    check(out.status.success(), String::from_utf8_lossy(&out.stderr))?;
    check(
        env.ok(["inspect", "--format", "{{.RootFS.Layers}}", "t:stdin"])? == ids[0],
        "stdin import has the same layer",
    )?;

    // Not a tar: refused, nothing added.
    fs::write(env.path("junk"), vec![7u8; 4096])?;
    contains(
        &env.fails([
            "import".as_ref(),
            env.path("junk").as_os_str(),
            "t:junk".as_ref(),
        ])?,
        "not a tar archive",
    )?;
    contains(&env.fails(["image", "inspect", "t:junk"])?, "No such image")?;
    Ok(())
}

fn blob_count(env: &Env) -> usize {
    fs::read_dir(env.store.join("blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn tag_rm_prune() -> TestResult {
    let env = Env::new();
    env.busybox_image("one", &["CMD [\"true\"]"])?;
    let base_blobs = blob_count(&env);
    check(
        base_blobs == 3,
        format!("manifest, config, layer: {base_blobs}"),
    )?;
    env.ok(["tag", "one", "two:latest"])?;
    env.ok(["tag", "one:latest", "localhost:5000/x/three:v1"])?;
    let tags = env.ok(["inspect", "--format", "{{json .RepoTags}}", "one"])?;
    check(
        tags.trim() == r#"["one:latest","two:latest","localhost:5000/x/three:v1"]"#,
        &tags,
    )?;
    check(blob_count(&env) == base_blobs, "tags add no blobs")?;
    contains(
        &env.fails(["tag", "one", "Bad:Name"])?,
        "invalid reference format",
    )?;
    contains(&env.fails(["tag", "nope", "x"])?, "No such image: nope")?;

    // Removing by id with several names needs --force.
    let id = env.ok(["images", "-q"])?.trim().to_string();
    contains(&env.fails(["rmi", &id])?, "must be forced")?;
    // Removing a name only untags while other names remain.
    let out = env.ok(["rmi", "two"])?;
    check(out.trim() == "Untagged: two:latest", &out)?;
    check(blob_count(&env) == base_blobs, "untag keeps blobs")?;
    env.ok(["rmi", "localhost:5000/x/three:v1"])?;
    // The last name deletes the image and its blobs.
    let out = env.ok(["image", "rm", "one"])?;
    contains(&out, "Untagged: one:latest")?;
    contains(&out, "Deleted: sha256:")?;
    check(
        blob_count(&env) == 0,
        format!("blobs left: {}", blob_count(&env)),
    )?;
    check(env.ok(["images", "-q"])?.is_empty(), "no images left")?;

    // Shared layers survive the removal of one of the images using them.
    let rootfs = env.busybox_image("a", &["CMD [\"a\"]"])?;
    env.ok([
        "import".as_ref(),
        "--change".as_ref(),
        "CMD [\"b\"]".as_ref(),
        rootfs.as_os_str(),
        "b".as_ref(),
    ])?;
    check(
        blob_count(&env) == 5,
        format!(
            "two manifests, two configs, one shared layer: {}",
            blob_count(&env)
        ),
    )?;
    env.ok(["rmi", "a"])?;
    check(blob_count(&env) == 3, "b's blobs stay")?;
    env.ok([
        "unpack".as_ref(),
        "b".as_ref(),
        env.path("b-root").as_os_str(),
    ])?;
    let remaining = env.ok(["images", "-q"])?;
    env.ok(["rmi", "--force", remaining.trim()])?;

    // prune removes blobs nothing references (and staging leftovers).
    env.busybox_image("keep", &[])?;
    let before = blob_count(&env);
    let orphan = b"orphan blob";
    fs::write(
        env.store.join("blobs/sha256").join(sha256_hex(orphan)),
        orphan,
    )?;
    fs::create_dir_all(env.store.join("tmp/txn-crashed"))?;
    let out = env.ok(["prune"])?;
    contains(&out, &sha256_hex(orphan))?;
    check(blob_count(&env) == before, "prune keeps referenced blobs")?;
    check(
        !env.store.join("tmp/txn-crashed").exists(),
        "prune removes staging leftovers",
    )?;
    check(env.ok(["fsck"])?.starts_with("ok:"), "fsck ok after prune")?;
    contains(&env.fails(["rmi", "missing"])?, "No such image")?;
    Ok(())
}

fn save_load_roundtrip() -> TestResult {
    let env = Env::new();
    env.busybox_image("src:1", &["CMD [\"sh\"]"])?;
    env.busybox_image("other:2", &["CMD [\"ls\"]", "ENV X=1"])?;
    let id1 = inspect(&env, "src:1")?["Id"].clone();
    let id2 = inspect(&env, "other:2")?["Id"].clone();
    for (format, file) in [("docker-archive", "d.tar"), ("oci-archive", "o.tar")] {
        let archive = env.path(file);
        env.ok([
            "save".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            "-o".as_ref(),
            archive.as_os_str(),
            "src:1".as_ref(),
            "other:2".as_ref(),
        ])?;
        let list = sh(Command::new("tar").arg("tf").arg(&archive))?;
        if format == "docker-archive" {
            contains(&list, "manifest.json")?;
            contains(&list, "repositories")?;
            contains(&list, "/layer.tar")?;
            let manifest: Value = serde_json::from_slice(&sh_bytes(
                Command::new("tar")
                    .arg("xOf")
                    .arg(&archive)
                    .arg("manifest.json"),
            )?)?;
            check(manifest.as_array().unwrap().len() == 2, &manifest)?;
            check(
                manifest[0]["RepoTags"] == serde_json::json!(["src:1"]),
                &manifest,
            )?;
        } else {
            contains(&list, "oci-layout")?;
            contains(&list, "index.json")?;
            contains(&list, "blobs/sha256/")?;
        }
        let other = Env::new();
        let out = other.ok(["load".as_ref(), "-i".as_ref(), archive.as_os_str()])?;
        contains(&out, "Loaded image: src:1")?;
        contains(&out, "Loaded image: other:2")?;
        check(
            inspect(&other, "src:1")?["Id"] == id1,
            format!("{format}: src:1 id differs"),
        )?;
        check(
            inspect(&other, "other:2")?["Id"] == id2,
            format!("{format}: other:2 id differs"),
        )?;
        check(other.ok(["fsck"])?.starts_with("ok:"), "fsck after load")?;
        // Loading twice changes nothing.
        other.ok(["load".as_ref(), "-i".as_ref(), archive.as_os_str()])?;
        check(
            other.ok(["images", "-q"])?.lines().count() == 2,
            "still two images",
        )?;
    }
    // save to stdout, load from stdin.
    let saved = Command::new(bin())
        .arg("--store")
        .arg(&env.store)
        .args(["save", "src:1"])
        .output()?;
    check(
        saved.status.success() && saved.stdout.len() > 100_000,
        "save to stdout",
    )?;
    let third = Env::new();
    let mut child = Command::new(bin())
        .arg("--store")
        .arg(&third.store)
        .args(["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().unwrap().write_all(&saved.stdout)?;
    let out = child.wait_with_output()?;
    check(out.status.success(), String::from_utf8_lossy(&out.stderr))?;
    contains(&String::from_utf8_lossy(&out.stdout), "Loaded image: src:1")?;
    // A gzip-compressed archive (docker save | gzip) loads too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&saved.stdout)?;
    fs::write(env.path("saved.tar.gz"), gz.finish()?)?;
    let fifth = Env::new();
    contains(
        &fifth.ok([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("saved.tar.gz").as_os_str(),
        ])?,
        "Loaded image: src:1",
    )?;
    // Two names of one image saved together: one manifest entry with both tags.
    env.ok(["tag", "src:1", "src:alias"])?;
    let both = env.path("both.tar");
    env.ok([
        "save".as_ref(),
        "-o".as_ref(),
        both.as_os_str(),
        "src:1".as_ref(),
        "src:alias".as_ref(),
    ])?;
    let manifest: Value = serde_json::from_slice(&sh_bytes(
        Command::new("tar")
            .arg("xOf")
            .arg(&both)
            .arg("manifest.json"),
    )?)?;
    check(manifest.as_array().unwrap().len() == 1, &manifest)?;
    check(
        manifest[0]["RepoTags"] == serde_json::json!(["src:1", "src:alias"]),
        &manifest,
    )?;
    // An image saved by id carries no name and loads untagged.
    let by_id = env.path("id.tar");
    env.ok([
        "save".as_ref(),
        "-o".as_ref(),
        by_id.as_os_str(),
        id1.as_str().unwrap().as_ref(),
    ])?;
    let fourth = Env::new();
    contains(
        &fourth.ok(["load".as_ref(), "-i".as_ref(), by_id.as_os_str()])?,
        "Loaded image ID: sha256:",
    )?;
    contains(&fourth.ok(["images"])?, "<none>")?;
    Ok(())
}

fn sh_bytes(cmd: &mut Command) -> Result<Vec<u8>, libtest_mimic::Failed> {
    let out = cmd.output()?;
    check(out.status.success(), format!("{cmd:?} failed"))?;
    Ok(out.stdout)
}

/// Two layers over every entry type unpack exactly: owners, modes, set-id bits, hard
/// links, symlinks, devices, fifos, xattrs, mtimes; then whiteouts and an opaque dir.
fn unpack_layer_features() -> TestResult {
    let env = Env::new();
    let src = env.path("layer1");
    fs::create_dir_all(src.join("dir/sub"))?;
    fs::create_dir_all(src.join("opaque/old"))?;
    fs::write(src.join("opaque/old/f"), "old")?;
    fs::write(src.join("opaque/keep-not"), "old")?;
    fs::write(src.join("gone"), "bye")?;
    fs::write(src.join("dir/file"), "content")?;
    fs::write(src.join("dir/suid"), "x")?;
    fs::set_permissions(src.join("dir/suid"), fs::Permissions::from_mode(0o4755))?;
    std::os::unix::fs::chown(src.join("dir/file"), Some(1000), Some(29))?;
    fs::set_permissions(src.join("dir/file"), fs::Permissions::from_mode(0o640))?;
    fs::hard_link(src.join("dir/file"), src.join("dir/hard"))?;
    std::os::unix::fs::symlink("../dir/file", src.join("dir/sub/link"))?;
    std::os::unix::fs::symlink("/etc/shadow", src.join("abs-link"))?;
    sh(Command::new("mknod")
        .arg(src.join("null"))
        .args(["c", "1", "3"]))?;
    sh(Command::new("mkfifo").arg(src.join("fifo")))?;
    sangja_image::layer::xattr::lset(&src.join("dir/file"), "user.test", b"value")?;
    let mtime = filetime(&src.join("dir/file"));
    let layer1 = sangja_image::layer::pack::pack_dir(&src, Vec::new())?;
    let mut l2 = RawTar::new();
    l2.file(".wh.gone", b"")
        .dir("opaque/")
        .file("opaque/before", b"same layer, before the marker")
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/new", b"new")
        .file("dir/.wh.hard", b"")
        .file("added", b"layer two");
    let layer2 = l2.finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer2)?;
    let layer2_gz = gz.finish()?;
    // A docker archive of the plain layers, then an oci layout with layer 2 gzipped
    // and zstd'd: all must unpack the same.
    fs::write(
        env.path("img.tar"),
        docker_archive("feat:1", &[layer1.clone(), layer2.clone()], &["sh"]),
    )?;
    env.ok([
        "load".as_ref(),
        "-i".as_ref(),
        env.path("img.tar").as_os_str(),
    ])?;
    let out = env.path("out");
    env.ok(["unpack".as_ref(), "feat:1".as_ref(), out.as_os_str()])?;
    let snap = snapshot(&out);
    let get = |k: &str| snap.get(k).cloned().unwrap_or_else(|| "MISSING".into());
    check(!snap.contains_key("gone"), "whiteout removed 'gone'")?;
    check(
        !snap.contains_key("dir/hard"),
        "whiteout removed 'dir/hard'",
    )?;
    check(
        !snap.contains_key("opaque/old") && !snap.contains_key("opaque/keep-not"),
        format!("opaque dir hides lower entries: {snap:?}"),
    )?;
    check(get("opaque/new").starts_with("file 3"), get("opaque/new"))?;
    check(
        get("opaque/before").starts_with("file 29"),
        "an entry of the same layer survives its opaque marker",
    )?;
    check(get("added").starts_with("file 9"), get("added"))?;
    check(
        get("dir/file").ends_with("mode=640 owner=1000:29"),
        get("dir/file"),
    )?;
    check(get("dir/suid").contains("mode=4755"), get("dir/suid"))?;
    check(
        get("dir/sub/link").starts_with("link -> ../dir/file"),
        get("dir/sub/link"),
    )?;
    check(
        get("abs-link").starts_with("link -> /etc/shadow"),
        get("abs-link"),
    )?;
    check(
        get("null").starts_with(&format!("dev {}", libc_makedev(1, 3))),
        get("null"),
    )?;
    check(get("fifo").starts_with("fifo"), get("fifo"))?;
    let x = sangja_image::layer::xattr::lget(&out.join("dir/file"), "user.test")?;
    check(x == b"value", "xattr user.test restored")?;
    check(
        filetime(&out.join("dir/file")).0 == mtime.0,
        "mtime (seconds, as the tar header holds it) restored",
    )?;
    // Hard links: a layer with both names keeps one inode.
    let env2 = Env::new();
    let mut hl = RawTar::new();
    hl.file("a", b"shared").hardlink("b", "a");
    fs::write(
        env2.path("hl.tar"),
        docker_archive("hl:1", &[hl.finish()], &["sh"]),
    )?;
    env2.ok([
        "load".as_ref(),
        "-i".as_ref(),
        env2.path("hl.tar").as_os_str(),
    ])?;
    let out2 = env2.path("out");
    env2.ok(["unpack".as_ref(), "hl:1".as_ref(), out2.as_os_str()])?;
    check(
        ino(&out2.join("a")) == ino(&out2.join("b")),
        "hard link shares the inode",
    )?;

    // Compressed variants of layer 2 through an oci layout written by hand.
    for (label, blob2) in [
        ("gzip", layer2_gz.clone()),
        ("zstd", zstd::encode_all(&layer2[..], 3)?),
    ] {
        let e = Env::new();
        fs::write(
            e.path("img.tar"),
            oci_archive(
                "feat:1",
                &[layer1.clone(), blob2],
                &[layer1.clone(), layer2.clone()],
            ),
        )?;
        e.ok([
            "load".as_ref(),
            "-i".as_ref(),
            e.path("img.tar").as_os_str(),
        ])?;
        let o = e.path("out");
        e.ok(["unpack".as_ref(), "feat:1".as_ref(), o.as_os_str()])?;
        let d = diff(&snap, &snapshot(&o));
        check(
            d.is_empty(),
            format!("{label}: differs from the plain unpack:\n{}", d.join("\n")),
        )?;
    }
    // The target must be new or empty.
    contains(
        &env.fails(["unpack".as_ref(), "feat:1".as_ref(), out.as_os_str()])?,
        "not empty",
    )?;
    Ok(())
}

use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn filetime(p: &std::path::Path) -> (i64, i64) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.mtime(), m.mtime_nsec())
}

fn ino(p: &std::path::Path) -> u64 {
    fs::symlink_metadata(p).unwrap().ino()
}

fn libc_makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

/// An oci-archive of one image: `blobs` as stored, `plain` the uncompressed tars (for diff ids).
fn oci_archive(name: &str, blobs: &[Vec<u8>], plain: &[Vec<u8>]) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": sangja_seccomp::docker_profile::native_arch(),
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": plain.iter().map(|l| format!("sha256:{}", sha256_hex(l))).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let layer_descs: Vec<Value> = blobs
        .iter()
        .map(|b| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", sha256_hex(b)), "size": b.len()}))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha256_hex(&config)), "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", sha256_hex(&manifest)), "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": name}}],
    }))
    .unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: String, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, path, data).unwrap();
    };
    add("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#);
    for b in blobs.iter().chain([&config, &manifest]) {
        add(format!("blobs/sha256/{}", sha256_hex(b)), b);
    }
    add("index.json".into(), &index);
    builder.into_inner().unwrap()
}

fn fsck_detects_corruption() -> TestResult {
    let env = Env::new();
    env.busybox_image("c:1", &["CMD [\"sh\"]"])?;
    check(
        env.ok(["fsck"])?.starts_with("ok: 3 blobs"),
        "fresh store is clean",
    )?;
    let layers: Vec<String> = serde_json::from_str(&env.ok([
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        "c:1",
    ])?)?;
    // The imported layer is uncompressed, so its blob is named by its diff id.
    let blob = env.store.join("blobs/sha256").join(&layers[0][7..]);
    let mut data = fs::read(&blob)?;
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    fs::write(&blob, &data)?;
    let out = env.run(["fsck"]);
    check(!out.status.success(), "fsck must fail on a corrupt blob")?;
    contains(&String::from_utf8_lossy(&out.stdout), &layers[0][7..])?;
    let target = env.path("out");
    contains(
        &env.fails(["unpack".as_ref(), "c:1".as_ref(), target.as_os_str()])?,
        "mismatch",
    )?;
    check(!target.exists(), "a failed unpack leaves no directory")?;
    // A missing blob is reported too.
    fs::remove_file(&blob)?;
    contains(
        &String::from_utf8_lossy(&env.run(["fsck"]).stdout),
        "is missing",
    )?;
    Ok(())
}

fn bundle_config() -> TestResult {
    let env = Env::new();
    env.busybox_image(
        "b:1",
        &[
            "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
            "CMD [\"id\"]",
            "ENV A=1",
            "WORKDIR /tmp",
            "USER bob",
            "VOLUME /data",
            "STOPSIGNAL SIGINT",
        ],
    )?;
    let dir = env.path("bundle");
    env.ok(["bundle".as_ref(), "b:1".as_ref(), dir.as_os_str()])?;
    check(dir.join("rootfs/bin/busybox").is_file(), "rootfs unpacked")?;
    let cfg: Value = serde_json::from_slice(&fs::read(dir.join("config.json"))?)?;
    let p = &cfg["process"];
    check(p["terminal"] == false, "terminal false")?;
    check(
        p["args"] == serde_json::json!(["/bin/sh", "-c", "id"]),
        &p["args"],
    )?;
    check(p["cwd"] == "/tmp", &p["cwd"])?;
    check(
        p["user"] == serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [29]}),
        &p["user"],
    )?;
    let env_list: Vec<String> = serde_json::from_value(p["env"].clone())?;
    check(
        env_list.iter().any(|e| e.starts_with("PATH=")),
        "PATH added",
    )?;
    check(
        env_list.contains(&"A=1".to_string()) && env_list.contains(&"HOME=/home/bob".to_string()),
        format!("{env_list:?}"),
    )?;
    check(
        cfg["root"] == serde_json::json!({"path": "rootfs", "readonly": false}),
        &cfg["root"],
    )?;
    let mounts = cfg["mounts"].as_array().unwrap();
    check(
        mounts
            .iter()
            .any(|m| m["destination"] == "/data" && m["type"] == "tmpfs"),
        "volume as tmpfs",
    )?;
    check(
        cfg["annotations"]["org.opencontainers.image.stopSignal"] == "SIGINT",
        &cfg["annotations"],
    )?;
    let seccomp = &cfg["linux"]["seccomp"];
    check(
        seccomp["defaultAction"] == "SCMP_ACT_ERRNO",
        &seccomp["defaultAction"],
    )?;
    check(
        seccomp["syscalls"]
            .as_array()
            .map(|s| !s.is_empty())
            .unwrap_or(false),
        "seccomp rules converted",
    )?;

    // Everything else is runc's default spec.
    let runc_dir = env.path("runc-spec");
    fs::create_dir_all(&runc_dir)?;
    sh(Command::new("runc").arg("spec").current_dir(&runc_dir))?;
    let runc: Value = serde_json::from_slice(&fs::read(runc_dir.join("config.json"))?)?;
    for key in ["namespaces", "maskedPaths", "readonlyPaths", "resources"] {
        check(
            cfg["linux"][key] == runc["linux"][key],
            format!("linux.{key} differs from runc spec"),
        )?;
    }
    check(
        mounts[..runc["mounts"].as_array().unwrap().len()]
            == runc["mounts"].as_array().unwrap()[..],
        "runc's mounts first",
    )?;
    for key in ["rlimits", "noNewPrivileges"] {
        check(
            p[key] == runc["process"][key],
            format!("process.{key} differs from runc spec"),
        )?;
    }
    for set in ["bounding", "effective", "permitted", "ambient"] {
        let mut a: Vec<String> = serde_json::from_value(p["capabilities"][set].clone())?;
        let mut b: Vec<String> =
            serde_json::from_value(runc["process"]["capabilities"][set].clone())?;
        a.sort();
        b.sort();
        check(a == b, format!("capabilities.{set} differ"))?;
    }

    // A command after -- replaces Entrypoint+Cmd; --no-seccomp drops the filter.
    let dir2 = env.path("bundle2");
    env.ok([
        "bundle".as_ref(),
        "--no-seccomp".as_ref(),
        "b:1".as_ref(),
        dir2.as_os_str(),
        "--".as_ref(),
        "echo".as_ref(),
        "hi".as_ref(),
    ])?;
    let cfg2: Value = serde_json::from_slice(&fs::read(dir2.join("config.json"))?)?;
    check(
        cfg2["process"]["args"] == serde_json::json!(["echo", "hi"]),
        &cfg2["process"]["args"],
    )?;
    check(cfg2["linux"]["seccomp"].is_null(), "no seccomp")?;

    // No command, unknown user, missing profile: clear errors and nothing left behind.
    env.busybox_image("nocmd:1", &[])?;
    env.busybox_image("baduser:1", &["CMD [\"id\"]", "USER nobody"])?;
    let d = env.path("bad");
    contains(
        &env.fails(["bundle".as_ref(), "nocmd:1".as_ref(), d.as_os_str()])?,
        "has no command",
    )?;
    check(!d.exists(), "no bundle left after a failure")?;
    contains(
        &env.fails(["bundle".as_ref(), "baduser:1".as_ref(), d.as_os_str()])?,
        "unable to find user nobody",
    )?;
    check(!d.exists(), "no bundle left after a failure")?;
    contains(
        &env.fails([
            "bundle".as_ref(),
            "--seccomp-profile".as_ref(),
            "/nonexistent.json".as_ref(),
            "b:1".as_ref(),
            d.as_os_str(),
        ])?,
        "/nonexistent.json",
    )?;
    check(!d.exists(), "no bundle left after a failure")?;
    Ok(())
}

/// Snapshot of the store without its lock files (which any command may create).
fn store_state(env: &Env) -> std::collections::BTreeMap<String, String> {
    let mut s = snapshot(&env.store);
    s.retain(|k, _| !k.ends_with(".lock"));
    s
}

fn bad_input_leaves_store_unchanged() -> TestResult {
    let env = Env::new();
    env.busybox_image("base:1", &["CMD [\"sh\"]"])?;
    let good = env.path("good.tar");
    env.ok([
        "save".as_ref(),
        "-o".as_ref(),
        good.as_os_str(),
        "base:1".as_ref(),
    ])?;
    let before = store_state(&env);
    let same = |what: &str| -> TestResult {
        let d = diff(&before, &store_state(&env));
        check(
            d.is_empty(),
            format!("{what} changed the store:\n{}", d.join("\n")),
        )
    };

    contains(
        &env.fails(["inspect", "UPPER:x"])?,
        "invalid reference format",
    )?;
    contains(
        &env.fails(["inspect", "a@sha256:12"])?,
        "invalid reference format",
    )?;
    contains(
        &env.fails(["image", "inspect", "unknown:1"])?,
        "No such image: unknown:1",
    )?;
    same("bad references")?;

    // A truncated archive.
    let data = fs::read(&good)?;
    fs::write(env.path("trunc.tar"), &data[..data.len() / 2])?;
    contains(
        &env.fails([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("trunc.tar").as_os_str(),
        ])?,
        "truncated",
    )?;
    same("a truncated archive")?;
    // Garbage.
    fs::write(env.path("junk.tar"), vec![0x42u8; 10_000])?;
    let err = env.fails([
        "load".as_ref(),
        "-i".as_ref(),
        env.path("junk.tar").as_os_str(),
    ])?;
    check(err.contains("corrupt") || err.contains("neither"), &err)?;
    same("garbage")?;
    // A layer whose content does not match the config's diff id.
    let mut layer = RawTar::new();
    layer.file("f", b"one");
    let mut archive = docker_archive("bad:1", &[layer.finish()], &["sh"]);
    let pos = archive.windows(3).position(|w| w == b"one").unwrap();
    archive[pos..pos + 3].copy_from_slice(b"two");
    fs::write(env.path("mismatch.tar"), &archive)?;
    contains(
        &env.fails([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("mismatch.tar").as_os_str(),
        ])?,
        "diff id mismatch",
    )?;
    same("a layer digest mismatch")?;
    // An OCI blob whose name is not its digest.
    let mut l = RawTar::new();
    l.file("f", b"abc");
    let l = l.finish();
    let mut oci = oci_archive("x:1", std::slice::from_ref(&l), std::slice::from_ref(&l));
    let pos = oci.windows(3).position(|w| w == b"abc").unwrap();
    oci[pos..pos + 3].copy_from_slice(b"abd");
    fs::write(env.path("badblob.tar"), &oci)?;
    contains(
        &env.fails([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("badblob.tar").as_os_str(),
        ])?,
        "hashes to",
    )?;
    same("a corrupt oci blob")?;
    // An index for another platform only.
    fs::write(env.path("arm.tar"), other_platform_archive())?;
    contains(
        &env.fails([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("arm.tar").as_os_str(),
        ])?,
        "no image for platform linux/",
    )?;
    same("another platform")?;
    // Unknown format.
    let mut t = RawTar::new();
    t.file("hello.txt", b"hi");
    fs::write(env.path("plain.tar"), t.finish())?;
    contains(
        &env.fails([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("plain.tar").as_os_str(),
        ])?,
        "neither a docker-archive",
    )?;
    same("an unknown archive")?;
    // A missing archive file and a bad import name.
    contains(
        &env.fails(["load", "-i", "/nonexistent/archive.tar"])?,
        "/nonexistent/archive.tar",
    )?;
    contains(
        &env.fails(["import", "/nonexistent/dir", "x"])?,
        "/nonexistent/dir",
    )?;
    contains(
        &env.fails(["import".as_ref(), good.as_os_str(), "Bad Name".as_ref()])?,
        "invalid reference format",
    )?;
    same("missing files")?;
    // A failed save leaves no partial file.
    let out = env.path("nosuch.tar");
    contains(
        &env.fails([
            "save".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            "base:1".as_ref(),
            "nosuch".as_ref(),
        ])?,
        "No such image",
    )?;
    check(!out.exists(), "no archive written")?;
    check(
        fs::read_dir(env.dir.path())?
            .all(|e| !e.unwrap().file_name().to_string_lossy().contains("partial")),
        "no partial file",
    )?;
    same("a failed save")?;
    Ok(())
}

/// An oci-archive whose index names only an arm64 (or, on arm64, amd64) manifest.
fn other_platform_archive() -> Vec<u8> {
    let other = if sangja_seccomp::docker_profile::native_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let mut l = RawTar::new();
    l.file("f", b"x");
    let l = l.finish();
    let inner = oci_archive("p:1", std::slice::from_ref(&l), std::slice::from_ref(&l));
    // Re-wrap: the inner archive's manifest listed in a nested index with a foreign platform.
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ar = tar::Archive::new(&inner[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        entries.push((path, data));
    }
    let index: Value =
        serde_json::from_slice(&entries.iter().find(|(p, _)| p == "index.json").unwrap().1)
            .unwrap();
    let mut m = index["manifests"][0].clone();
    m["platform"] = serde_json::json!({"architecture": other, "os": "linux"});
    m.as_object_mut().unwrap().remove("annotations");
    let nested = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [m]})).unwrap();
    let top = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{}", sha256_hex(&nested)), "size": nested.len(),
        "annotations": {"org.opencontainers.image.ref.name": "p:1"}}]}))
    .unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, path, data).unwrap();
    };
    for (p, d) in &entries {
        if p != "index.json" {
            add(p, d);
        }
    }
    add(&format!("blobs/sha256/{}", sha256_hex(&nested)), &nested);
    add("index.json", &top);
    builder.into_inner().unwrap()
}

/// docker's two grammars: the `image` group and the top-level shortcuts, `rm` meaning
/// containers (`rmi` images), `inspect` resolving a name, docker's messages and exit
/// statuses (1 for a failed command, 125 for a command line it cannot parse).
fn docker_grammar_image_group() -> TestResult {
    let env = Env::new();
    env.busybox_image("gr:1", &["CMD [\"true\"]"])?;
    let ls = env.ok(["image", "ls"])?;
    contains(&ls, "gr ")?;
    check(ls == env.ok(["images"])?, "image ls and images differ")?;
    check(
        env.ok(["image", "list", "-q"])? == env.ok(["images", "-q"])?,
        "image list -q and images -q differ",
    )?;
    env.ok(["image", "tag", "gr:1", "gr:2"])?;
    contains(&env.ok(["image", "history", "gr:2"])?, "CREATED BY")?;
    let v: Value = serde_json::from_str(&env.ok(["image", "inspect", "gr:2"])?)?;
    check(
        v[0]["RepoTags"].to_string().contains("gr:2"),
        format!("image inspect: {}", v[0]["RepoTags"]),
    )?;
    let tar = env.path("gr.tar");
    env.ok(["image", "save", "-o", tar.to_str().unwrap(), "gr:1"])?;

    // `rm` is about containers now: an image name is no container, the image stays.
    let out = env.run(["rm", "gr:2"]);
    check(
        out.status.code() == Some(1),
        format!("rm gr:2: {}", out.status),
    )?;
    contains(
        &String::from_utf8_lossy(&out.stderr),
        "Error: No such container: gr:2",
    )?;
    contains(&env.ok(["images"])?, "gr ")?;
    contains(&env.ok(["image", "rm", "gr:2"])?, "Untagged: gr:2")?;
    contains(&env.ok(["rmi", "gr:1"])?, "Deleted: sha256:")?;
    check(
        env.ok(["images", "-q"])?.is_empty(),
        "images left after rmi",
    )?;
    contains(
        &env.ok(["image", "load", "-i", tar.to_str().unwrap()])?,
        "gr:1",
    )?;
    contains(&env.ok(["image", "prune"])?, "Total reclaimed space")?;

    // inspect: a container first, then an image; docker's message for neither.
    let v: Value = serde_json::from_str(&env.ok(["inspect", "gr:1"])?)?;
    check(
        v[0]["RepoTags"].is_array(),
        "inspect did not find the image",
    )?;
    contains(
        &env.ok(["inspect", "-f", "{{.Config.Cmd}}", "gr:1"])?,
        "[true]",
    )?;
    let out = env.run(["inspect", "nope"]);
    check(
        out.status.code() == Some(1),
        format!("inspect nope: {}", out.status),
    )?;
    contains(
        &String::from_utf8_lossy(&out.stderr),
        "Error: No such object: nope",
    )?;
    contains(
        &env.fails(["inspect", "--type", "container", "gr:1"])?,
        "No such container: gr:1",
    )?;
    contains(
        &env.fails(["container", "inspect", "gr:1"])?,
        "No such container: gr:1",
    )?;
    contains(
        &env.fails(["rmi", "missing"])?,
        "Error: No such image: missing",
    )?;

    // The container verbs name a missing container as docker does, exit 1.
    for verb in [
        &["exec", "ghost", "true"][..],
        &["stop", "ghost"],
        &["kill", "ghost"],
        &["start", "ghost"],
        &["pause", "ghost"],
        &["unpause", "ghost"],
        &["wait", "ghost"],
        &["top", "ghost"],
        &["logs", "ghost"],
        &["rename", "ghost", "x"],
        &["export", "ghost"],
        &["cp", "ghost:/etc/passwd", "/tmp/x"],
        &["container", "rm", "ghost"],
    ] {
        let out = env.run(verb);
        check(
            out.status.code() == Some(1),
            format!("{verb:?}: {}", out.status),
        )?;
        contains(
            &String::from_utf8_lossy(&out.stderr),
            "No such container: ghost",
        )?;
    }
    // images: --filter, --format templates, --digests, a REPOSITORY argument.
    env.busybox_image("other:2", &["CMD [\"true\"]"])?;
    let refs = env.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])?;
    check(
        refs.lines().any(|l| l == "gr:1") && refs.lines().any(|l| l == "other:2"),
        format!("--format template: {refs}"),
    )?;
    let only = env.ok([
        "images",
        "--filter",
        "reference=gr*",
        "--format",
        "{{.Repository}}",
    ])?;
    check(only == "gr\n", format!("reference filter: {only:?}"))?;
    let only = env.ok(["images", "other", "-q"])?;
    check(
        only.lines().count() == 1,
        format!("REPOSITORY argument: {only:?}"),
    )?;
    check(
        env.ok(["images", "--filter", "dangling=true", "-q"])?
            .is_empty(),
        "dangling=true listed named images",
    )?;
    let table = env.ok(["images", "--format", "table {{.Repository}}\\t{{.Tag}}"])?;
    check(
        table
            .lines()
            .next()
            .map(|h| h.split_whitespace().collect::<Vec<_>>())
            == Some(vec!["REPOSITORY", "TAG"]),
        format!("table template header: {table}"),
    )?;
    let digests = env.ok(["images", "--digests"])?;
    contains(&digests, "DIGEST")?;
    contains(&digests, "sha256:")?;
    contains(
        &env.fails(["images", "--filter", "colour=red"])?,
        "invalid filter 'colour'",
    )?;

    // Empty listings, both spellings.
    for ps in [
        &["ps", "-a"][..],
        &["container", "ls", "-a"],
        &["container", "ps"],
    ] {
        contains(&env.ok(ps)?, "CONTAINER ID")?;
    }
    // A command line docker cannot parse: 125.
    let out = env.run(["ps", "--no-such-flag"]);
    check(
        out.status.code() == Some(125),
        format!("bad flag: {}", out.status),
    )?;
    let out = env.run(["cp", "a", "b"]);
    check(
        out.status.code() == Some(1),
        format!("cp a b: {}", out.status),
    )?;
    contains(
        &String::from_utf8_lossy(&out.stderr),
        "must specify at least one container source",
    )?;
    Ok(())
}
