//! pull, push, login and logout against the real docker-registry (anonymous, htpasswd
//! basic auth, token auth from a token server run here), with skopeo as the reference
//! both ways, and a proxy that makes the registry misbehave.

mod common;
mod registry_support;

use common::*;
use registry_support::http::{Fault, Gate, Proxy, Req};
use registry_support::oci::{sha256, Compression, Layout};
use registry_support::token::TokenServer;
use registry_support::{Auth, Registry, Tls};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOOLS: [&str; 4] = ["docker-registry", "skopeo", "htpasswd", "openssl"];

fn main() {
    let t = |name: &str, f: fn() -> TestResult| trial(name, &TOOLS, f);
    run_trials(vec![
        t("push_and_pull_match_skopeo", push_and_pull_match_skopeo),
        t("pull_what_skopeo_pushed", pull_what_skopeo_pushed),
        t("index_platforms", index_platforms),
        t("basic_auth_login_logout", basic_auth_login_logout),
        t("token_auth_and_mount", token_auth_and_mount),
        t(
            "bad_registry_answers_leave_store_unchanged",
            bad_registry_answers,
        ),
        t(
            "retries_pass_transient_failures",
            retries_pass_transient_failures,
        ),
        t("interrupted_pull_resumes", interrupted_pull_resumes),
        t("tls_with_cert_dir", tls_with_cert_dir),
        t("insecure_registries", insecure_registries),
        t("search_the_catalog", search_the_catalog),
        trial(
            "hostile_token_endpoints_are_bounded",
            &[],
            hostile_token_endpoints_are_bounded,
        ),
    ]);
}

/// A test's temp dir: a store, a docker config dir, and the tool run with them.
struct T {
    env: Env,
    docker_config: PathBuf,
}

impl T {
    fn new() -> T {
        let env = Env::new();
        let docker_config = env.path("docker");
        T { env, docker_config }
    }

    fn cmd(&self, store: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--store")
            .arg(store)
            .args(args)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env(
                "SANGJA_REGISTRIES_CONFIG",
                self.env.path("no-registries.json"),
            )
            .env("SANGJA_IMAGE_RETRY_MS", "20")
            .stdin(Stdio::null());
        c
    }

    fn run_in(&self, store: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.cmd(store, args);
        match stdin {
            None => c.output().expect("run sangja-image"),
            Some(input) => {
                use std::io::Write;
                let mut child = c
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            }
        }
    }

    fn ok_in(&self, store: &Path, args: &[&str]) -> Result<String, libtest_mimic::Failed> {
        let out = self.run_in(store, args, None);
        if !out.status.success() {
            return Err(format!(
                "sangja-image {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn fails_in(&self, store: &Path, args: &[&str]) -> Result<String, libtest_mimic::Failed> {
        let out = self.run_in(store, args, None);
        if out.status.success() {
            return Err(format!(
                "sangja-image {args:?} succeeded but should have failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn ok(&self, args: &[&str]) -> Result<String, libtest_mimic::Failed> {
        self.ok_in(&self.env.store, args)
    }

    fn fails(&self, args: &[&str]) -> Result<String, libtest_mimic::Failed> {
        self.fails_in(&self.env.store, args)
    }

    fn store(&self, name: &str) -> PathBuf {
        self.env.path(name)
    }

    /// Loads a docker-archive of `layers` into `store` as `name`.
    fn load(&self, store: &Path, name: &str, layers: &[Vec<u8>]) -> TestResult {
        let file = self
            .env
            .path(&format!("{}.tar", name.replace(['/', ':'], "_")));
        fs::write(&file, docker_archive(name, layers, &["/bin/sh"]))?;
        self.ok_in(store, &["load", "-i", file.to_str().unwrap()])?;
        Ok(())
    }
}

/// The manifest digest a store gives `name`.
fn stored_digest(store: &Path, name: &str) -> Result<String, libtest_mimic::Failed> {
    let index: Value = serde_json::from_slice(&fs::read(store.join("index.json"))?)?;
    for m in index["manifests"].as_array().unwrap() {
        if m["annotations"]["org.opencontainers.image.ref.name"] == name {
            return Ok(m["digest"].as_str().unwrap().to_string());
        }
    }
    Err(format!("{name} not in {}: {index}", store.display()).into())
}

fn index_entries(store: &Path) -> Result<Vec<Value>, libtest_mimic::Failed> {
    let index: Value = serde_json::from_slice(&fs::read(store.join("index.json"))?)?;
    Ok(index["manifests"].as_array().cloned().unwrap_or_default())
}

/// A busybox rootfs as a tar, and a few more layers of files.
fn layers(env: &Env, extra: usize) -> Result<Vec<Vec<u8>>, libtest_mimic::Failed> {
    let root = env.path("rootfs");
    if !root.exists() {
        busybox_rootfs(&root)?;
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", &root)?;
    let mut out = vec![b.into_inner()?];
    for i in 0..extra {
        let mut t = RawTar::new();
        // Different sizes, some large enough to take a few reads.
        let data: Vec<u8> = (0..(50_000 * (i + 1)))
            .map(|n| ((n * 7 + i) % 251) as u8)
            .collect();
        t.dir("data").file(&format!("data/layer{i}"), &data);
        out.push(t.finish());
    }
    Ok(out)
}

fn skopeo(args: &[&str]) -> Result<String, libtest_mimic::Failed> {
    sh(Command::new("skopeo").args(args))
}

/// The digest of what the registry serves for `reference` (docker://...), via skopeo.
fn registry_digest(reference: &str, creds: Option<&str>) -> Result<String, libtest_mimic::Failed> {
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    if let Some(c) = creds {
        args.extend(["--creds", c]);
    }
    let r = format!("docker://{reference}");
    args.push(&r);
    let out = Command::new("skopeo").args(&args).output()?;
    if !out.status.success() {
        return Err(format!(
            "skopeo inspect {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(sha256(&out.stdout))
}

/// skopeo copies `reference` to a dir: layout; returns the manifest digest and blob names.
fn skopeo_fetch(
    reference: &str,
    dir: &Path,
    creds: Option<&str>,
) -> Result<(String, Vec<String>), libtest_mimic::Failed> {
    let mut args = vec!["copy".to_string(), "--src-tls-verify=false".into()];
    if let Some(c) = creds {
        args.push("--src-creds".into());
        args.push(c.into());
    }
    args.push(format!("docker://{reference}"));
    args.push(format!("dir:{}", dir.display()));
    sh(Command::new("skopeo").args(&args))?;
    let manifest = fs::read(dir.join("manifest.json"))?;
    let mut blobs: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.len() == 64)
        .collect();
    blobs.sort();
    Ok((sha256(&manifest), blobs))
}

fn store_unchanged(
    before: &std::collections::BTreeMap<String, String>,
    store: &Path,
    what: &str,
) -> TestResult {
    let mut after = snapshot(store);
    after.retain(|k, _| !k.ends_with(".lock"));
    let mut b = before.clone();
    b.retain(|k, _| !k.ends_with(".lock"));
    let d = diff(&b, &after);
    check(d.is_empty(), format!("{what}: store changed: {d:#?}"))
}

fn blob_gets(log: &[String], repo: &str) -> Vec<String> {
    let prefix = format!("GET /v2/{repo}/blobs/");
    log.iter()
        .filter(|l| l.starts_with(&prefix))
        .cloned()
        .collect()
}

fn push_and_pull_match_skopeo() -> TestResult {
    let t = T::new();
    let reg = Registry::start(&t.env.path("registry"), Auth::None)?;
    let proxy = Proxy::start(&reg.host);
    let host = proxy.host();
    let name = format!("{host}/test/multi:v1");
    let src = t.store("src");
    t.load(&src, &name, &layers(&t.env, 3)?)?;
    let digest = stored_digest(&src, &name)?;

    let out = t.ok_in(&src, &["push", &name])?;
    contains(&out, &format!("v1: digest: {digest}"))?;
    // skopeo reads what was pushed: the same manifest bytes and blobs.
    let (sk_digest, sk_blobs) = skopeo_fetch(&name, &t.env.path("sk"), None)?;
    check(
        sk_digest == digest,
        format!("skopeo sees {sk_digest}, pushed {digest}"),
    )?;
    let mut ours: Vec<String> = fs::read_dir(src.join("blobs/sha256"))?
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|h| format!("sha256:{h}") != digest)
        .collect();
    ours.sort();
    check(
        ours == sk_blobs,
        format!("blobs differ: {ours:?} vs {sk_blobs:?}"),
    )?;

    // A second push finds every blob there.
    proxy.take_log();
    let out = t.ok_in(&src, &["push", &name])?;
    contains(&out, "Layer already exists")?;
    let log = proxy.take_log();
    check(
        !log.iter()
            .any(|l| l.starts_with("PUT /v2/test/multi/blobs")),
        format!("{log:?}"),
    )?;

    // Pull into a new store: same digest, verified, unpackable.
    let dst = t.store("dst");
    let out = t.ok_in(&dst, &["pull", &name])?;
    contains(&out, "Pull complete")?;
    contains(&out, &format!("Digest: {digest}"))?;
    check(!out.contains('\u{1b}'), "terminal codes in plain output")?;
    check(stored_digest(&dst, &name)? == digest, "pulled digest")?;
    t.ok_in(&dst, &["fsck"])?;
    let unpacked = t.env.path("unpacked");
    t.ok_in(&dst, &["unpack", &name, unpacked.to_str().unwrap()])?;
    check(
        unpacked.join("bin/busybox").is_file() && unpacked.join("data/layer2").is_file(),
        "unpacked files",
    )?;

    // Pulling again fetches no blob; --quiet prints only the reference.
    proxy.take_log();
    let out = t.ok_in(&dst, &["pull", "-q", &name])?;
    check(out == format!("{name}\n"), format!("quiet output {out:?}"))?;
    let log = proxy.take_log();
    check(
        blob_gets(&log, "test/multi").is_empty(),
        format!("blobs fetched again: {log:?}"),
    )?;

    // On a terminal: a bar per blob with bytes and rate (script(1) gives it a pty; it is
    // bsdutils', Essential in Debian, so missing it fails rather than skips this part).
    check(have_tool("script"), "script(1) (bsdutils) not installed")?;
    let tty_store = t.store("tty");
    let cmdline = format!("{} --store {} pull {name}", bin(), tty_store.display());
    let out = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("SANGJA_REGISTRIES_CONFIG", t.env.path("no-registries.json"))
        .env("DOCKER_CONFIG", &t.docker_config)
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    check(out.status.success(), format!("pull on a pty: {text}"))?;
    contains(&text, "/s")?;
    contains(&text, "\u{1b}[")?;
    contains(&text, "Pull complete")?;

    // By digest into a third store: an unnamed image with that manifest.
    let by_digest = t.store("bydigest");
    t.ok_in(
        &by_digest,
        &["pull", &format!("{host}/test/multi@{digest}")],
    )?;
    let entries = index_entries(&by_digest)?;
    check(
        entries.len() == 1 && entries[0]["digest"] == digest.as_str(),
        format!("{entries:?}"),
    )?;

    // A pull by a digest that is not this manifest's fails.
    let wrong = format!("{host}/test/multi@sha256:{}", "0".repeat(64));
    t.fails_in(&t.store("wrong"), &["pull", &wrong])?;

    // Cross-repository mount: the same image pushed to another repository.
    t.ok_in(&src, &["tag", &name, &format!("{host}/test/other:v1")])?;
    proxy.take_log();
    let out = t.ok_in(&src, &["push", &format!("{host}/test/other:v1")])?;
    contains(&out, "Mounted from test/multi")?;
    let log = proxy.take_log();
    check(
        !log.iter()
            .any(|l| l.starts_with("PUT /v2/test/other/blobs")),
        format!("uploaded instead of mounted: {log:?}"),
    )?;
    check(
        registry_digest(&format!("{host}/test/other:v1"), None)? == digest,
        "mounted image digest",
    )?;

    // --all-tags both ways.
    t.ok_in(&src, &["tag", &name, &format!("{host}/test/multi:v2")])?;
    t.ok_in(&src, &["push", "--all-tags", &format!("{host}/test/multi")])?;
    let all = t.store("all");
    let out = t.ok_in(&all, &["pull", "--all-tags", &format!("{host}/test/multi")])?;
    contains(&out, &format!("{host}/test/multi:v1"))?;
    contains(&out, &format!("{host}/test/multi:v2"))?;
    check(
        stored_digest(&all, &format!("{host}/test/multi:v2"))? == digest,
        "v2 digest",
    )?;
    Ok(())
}

fn pull_what_skopeo_pushed() -> TestResult {
    let t = T::new();
    let reg = Registry::start(&t.env.path("registry"), Auth::None)?;
    let host = reg.host.clone();
    let layout = Layout::new(&t.env.path("layout"));
    let arch = Platform::host_arch();
    let m = layout.image(&layers(&t.env, 2)?, &arch);
    layout.tag(&m, "1");
    let src = format!("oci:{}:1", layout.dir.display());
    // zstd layers made here (skopeo 1.9 does not recompress to zstd), pushed by skopeo.
    let zl = Layout::new(&t.env.path("layout-zstd"));
    let zm = zl.image_with(&layers(&t.env, 2)?, &arch, Compression::Zstd);
    zl.tag(&zm, "1");
    let zsrc = format!("oci:{}:1", zl.dir.display());
    let cases: [(&str, &[&str], &str); 4] = [
        ("fmt/oci", &[], "application/vnd.oci.image.manifest.v1+json"),
        (
            "fmt/docker",
            &["--format", "v2s2"],
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
        (
            "fmt/zstd",
            &[],
            "application/vnd.oci.image.manifest.v1+json",
        ),
        (
            "fmt/plain",
            &["--dest-decompress"],
            "application/vnd.oci.image.manifest.v1+json",
        ),
    ];
    for (repo, flags, media) in cases {
        let r = format!("{host}/{repo}:1");
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        args.extend(flags);
        let dest = format!("docker://{r}");
        args.extend([
            if repo == "fmt/zstd" {
                zsrc.as_str()
            } else {
                src.as_str()
            },
            dest.as_str(),
        ]);
        skopeo(&args)?;
        let want = registry_digest(&r, None)?;
        let store = t.store(&repo.replace('/', "-"));
        t.ok_in(&store, &["pull", &r])?;
        check(
            stored_digest(&store, &r)? == want,
            format!("{repo}: digest"),
        )?;
        let entry = index_entries(&store)?.into_iter().next().unwrap();
        check(
            entry["mediaType"] == media,
            format!("{repo}: media type {}", entry["mediaType"]),
        )?;
        t.ok_in(&store, &["fsck"])?;
        let dir = t.env.path(&format!("unpack-{}", repo.replace('/', "-")));
        t.ok_in(&store, &["unpack", &r, dir.to_str().unwrap()])?;
        check(
            dir.join("data/layer1").is_file(),
            format!("{repo}: unpacked"),
        )?;
        // And back: pushed elsewhere, the registry holds the same bytes.
        let back = format!("{host}/back/{}:1", repo.replace('/', "-"));
        t.ok_in(&store, &["tag", &r, &back])?;
        t.ok_in(&store, &["push", &back])?;
        check(
            registry_digest(&back, None)? == want,
            format!("{repo}: pushed back"),
        )?;
    }
    // zstd layers really are zstd.
    let zstd_store = t.store("fmt-zstd");
    let m: Value = serde_json::from_slice(&fs::read(
        zstd_store
            .join("blobs/sha256")
            .join(&stored_digest(&zstd_store, &format!("{host}/fmt/zstd:1"))?[7..]),
    )?)?;
    contains(&m["layers"][0]["mediaType"].to_string(), "zstd")?;
    Ok(())
}

struct Platform;
impl Platform {
    fn host_arch() -> String {
        sangja_seccomp::docker_profile::native_arch().to_string()
    }
}

fn index_platforms() -> TestResult {
    let t = T::new();
    let reg = Registry::start(&t.env.path("registry"), Auth::None)?;
    let host = reg.host.clone();
    let layout = Layout::new(&t.env.path("layout"));
    let l = layers(&t.env, 1)?;
    let host_arch = Platform::host_arch();
    let other_arch = if host_arch == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let here = layout.image(&l, &host_arch);
    let there = layout.image(&l, other_arch);
    let mut v7 = layout.image(&l[1..], "arm");
    v7["platform"]["variant"] = "v7".into();
    let index = layout.index(&[there.clone(), here.clone(), v7.clone()]);
    layout.tag(&index, "1");
    let src = format!("oci:{}:1", layout.dir.display());
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{host}/mp/oci:1"),
    ])?;
    skopeo(&[
        "copy",
        "--all",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{host}/mp/list:1"),
    ])?;

    for repo in ["mp/oci", "mp/list"] {
        let r = format!("{host}/{repo}:1");
        let raw = sh(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{r}"),
        ]))?;
        let list: Value = serde_json::from_str(&raw)?;
        let digest_for = |arch: &str, variant: Option<&str>| -> String {
            list["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| {
                    m["platform"]["architecture"] == arch
                        && variant.is_none_or(|v| m["platform"]["variant"] == v)
                })
                .map(|m| m["digest"].as_str().unwrap().to_string())
                .unwrap()
        };
        let s = t.store(&format!("{}-default", repo.replace('/', "-")));
        t.ok_in(&s, &["pull", &r])?;
        check(
            stored_digest(&s, &r)? == digest_for(&host_arch, None),
            format!("{repo}: host platform"),
        )?;
        let s = t.store(&format!("{}-other", repo.replace('/', "-")));
        t.ok_in(
            &s,
            &["pull", "--platform", &format!("linux/{other_arch}"), &r],
        )?;
        check(
            stored_digest(&s, &r)? == digest_for(other_arch, None),
            format!("{repo}: {other_arch}"),
        )?;
        let s = t.store(&format!("{}-v7", repo.replace('/', "-")));
        t.ok_in(&s, &["pull", "--platform", "linux/arm/v7", &r])?;
        check(
            stored_digest(&s, &r)? == digest_for("arm", Some("v7")),
            format!("{repo}: arm/v7"),
        )?;
        // No entry for this platform: a clear error and nothing stored.
        let s = t.store(&format!("{}-none", repo.replace('/', "-")));
        t.ok_in(&s, &["images"])?;
        let before = snapshot(&s);
        let err = t.fails_in(&s, &["pull", "--platform", "linux/s390x", &r])?;
        contains(&err, "no image for platform linux/s390x")?;
        contains(&err, &format!("linux/{other_arch}"))?;
        contains(&err, &host)?;
        store_unchanged(&before, &s, "platform missing")?;
        let err = t.fails_in(&s, &["pull", "--platform", "linux/arm/v6", &r])?;
        contains(&err, "linux/arm/v7")?;
        store_unchanged(&before, &s, "variant missing")?;
    }
    build_from_index(&t, &format!("{host}/mp/oci:1"), &host_arch, l.len())
}

/// `build --platform` picks the base from the index (no RUN: only this machine's
/// platform could run one); a base the store holds for another platform is pulled again
/// for the one asked.
fn build_from_index(t: &T, base: &str, host_arch: &str, layers: usize) -> TestResult {
    let ctx = t.env.path("build-20-ctx");
    fs::create_dir_all(&ctx)?;
    fs::write(ctx.join("Dockerfile"), format!("FROM {base}\nCOPY f /f\n"))?;
    fs::write(ctx.join("f"), "x\n")?;
    let s = t.store("build-20-platform");
    let ctx_arg = ctx.display().to_string();
    // (The index entry names v7; the config the layout writes has no variant.)
    for (platform, arch, base_layers) in [
        (Some("linux/arm/v7"), "arm", layers - 1),
        (None, host_arch, layers),
    ] {
        let mut args = vec!["build", "--runtime", "/bin/true", "-t", "built:1"];
        if let Some(p) = platform {
            args.extend(["--platform", p]);
        }
        args.push(&ctx_arg);
        t.ok_in(&s, &args)?;
        let cfg: Value = serde_json::from_str(&t.ok_in(&s, &["inspect", "built:1"])?)?;
        let cfg = &cfg[0];
        check(
            cfg["Architecture"] == arch
                && cfg["RootFS"]["Layers"].as_array().map(Vec::len) == Some(base_layers + 1),
            format!("build --platform {platform:?}: {cfg}"),
        )?;
    }
    Ok(())
}

fn login(t: &T, host: &str, user: &str, password: &str) -> Output {
    t.run_in(
        &t.env.store,
        &["login", "-u", user, "--password-stdin", host],
        Some(&format!("{password}\n")),
    )
}

fn basic_auth_login_logout() -> TestResult {
    let t = T::new();
    let (user, password) = ("tester", "s3cret:pass");
    let reg = Registry::start(
        &t.env.path("registry"),
        Auth::Htpasswd {
            user: user.into(),
            password: password.into(),
        },
    )?;
    let host = reg.host.clone();
    let name = format!("{host}/auth/img:1");
    t.load(&t.env.store, &name, &layers(&t.env, 1)?)?;
    let before = snapshot(&t.env.store);

    // Anonymous: refused, naming the registry, repository and status.
    let err = t.fails(&["push", &name])?;
    contains(&err, &host)?;
    contains(&err, "auth/img")?;
    contains(&err, "401")?;
    let other = t.store("other");
    let err = t.fails_in(&other, &["pull", &name])?;
    contains(&err, "401")?;
    contains(&err, "sangja-image login")?;

    // Wrong password: refused, nothing written.
    let out = login(&t, &host, user, "wrong");
    check(
        !out.status.success(),
        "login with a wrong password succeeded",
    )?;
    contains(&String::from_utf8_lossy(&out.stderr), "401")?;
    check(
        !t.docker_config.join("config.json").exists(),
        "config.json written after a failed login",
    )?;

    let out = login(&t, &host, user, password);
    check(
        out.status.success(),
        format!("login: {}", String::from_utf8_lossy(&out.stderr)),
    )?;
    contains(&String::from_utf8_lossy(&out.stdout), "Login Succeeded")?;
    let config: Value = serde_json::from_slice(&fs::read(t.docker_config.join("config.json"))?)?;
    use base64::Engine as _;
    let want = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    check(
        config["auths"][&host]["auth"] == want.as_str(),
        format!("{config}"),
    )?;

    t.ok(&["push", &name])?;
    let digest = stored_digest(&t.env.store, &name)?;
    let creds = format!("{user}:{password}");
    check(
        registry_digest(&name, Some(&creds))? == digest,
        "skopeo digest",
    )?;
    t.ok_in(&other, &["pull", &name])?;
    check(stored_digest(&other, &name)? == digest, "pulled digest")?;
    // skopeo pushes with the same credentials; sangja-image pulls it.
    let layout = Layout::new(&t.env.path("layout"));
    let m = layout.image(&layers(&t.env, 2)?, &Platform::host_arch());
    layout.tag(&m, "1");
    let sk = format!("{host}/auth/sk:1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:1", layout.dir.display()),
        &format!("docker://{sk}"),
    ])?;
    t.ok_in(&other, &["pull", &sk])?;
    check(
        stored_digest(&other, &sk)? == registry_digest(&sk, Some(&creds))?,
        "skopeo-pushed digest",
    )?;

    // Wrong credentials in config.json: refused, naming the user, store unchanged.
    let good = fs::read(t.docker_config.join("config.json"))?;
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{user}:wrong"));
    fs::write(
        t.docker_config.join("config.json"),
        serde_json::json!({"auths": {&host: {"auth": bad}}}).to_string(),
    )?;
    let fourth = t.store("fourth");
    t.ok_in(&fourth, &["images"])?;
    let before4 = snapshot(&fourth);
    let err = t.fails_in(&fourth, &["pull", &name])?;
    contains(&err, "401")?;
    contains(&err, &format!("credentials of user \"{user}\" refused"))?;
    store_unchanged(&before4, &fourth, "pull with wrong credentials")?;
    fs::write(t.docker_config.join("config.json"), good)?;

    let out = t.ok(&["logout", &host])?;
    contains(&out, "Removing login credentials")?;
    let config: Value = serde_json::from_slice(&fs::read(t.docker_config.join("config.json"))?)?;
    check(config["auths"].get(&host).is_none(), format!("{config}"))?;
    let third = t.store("third");
    t.ok_in(&third, &["images"])?;
    let before3 = snapshot(&third);
    contains(&t.fails_in(&third, &["pull", &name])?, "401")?;
    store_unchanged(&before3, &third, "pull after logout")?;
    drop(before);
    Ok(())
}

fn token_auth_and_mount() -> TestResult {
    let t = T::new();
    let (user, password) = ("tokenuser", "tokenpass");
    let ts = TokenServer::start(&t.env.path("token"), user, password)?;
    let reg = Registry::start(
        &t.env.path("registry"),
        Auth::Token {
            realm: ts.realm(),
            cert: ts.cert.clone(),
        },
    )?;
    let host = reg.host.clone();
    let name = format!("{host}/tok/a:1");
    t.load(&t.env.store, &name, &layers(&t.env, 2)?)?;

    let other = t.store("other");
    t.ok_in(&other, &["images"])?;
    let before = snapshot(&other);
    let err = t.fails_in(&other, &["pull", &name])?;
    contains(&err, &host)?;
    contains(&err, "401")?;
    store_unchanged(&before, &other, "anonymous pull")?;

    let out = login(&t, &host, user, "nope");
    check(!out.status.success(), "wrong token login succeeded")?;
    contains(&String::from_utf8_lossy(&out.stderr), "token server")?;
    let out = login(&t, &host, user, password);
    check(
        out.status.success(),
        format!("login: {}", String::from_utf8_lossy(&out.stderr)),
    )?;

    let issued_before = ts.issued.load(Ordering::SeqCst);
    t.ok(&["push", &name])?;
    check(
        ts.issued.load(Ordering::SeqCst) > issued_before,
        "no token was issued for the push",
    )?;
    let digest = stored_digest(&t.env.store, &name)?;
    let creds = format!("{user}:{password}");
    check(
        registry_digest(&name, Some(&creds))? == digest,
        "skopeo digest",
    )?;
    // The first token the pull gets is already expired: the registry refuses it and
    // the pull fetches a fresh one.
    ts.stale.store(1, Ordering::SeqCst);
    let issued_before = ts.issued.load(Ordering::SeqCst);
    t.ok_in(&other, &["pull", &name])?;
    check(stored_digest(&other, &name)? == digest, "pulled digest")?;
    check(
        ts.stale.load(Ordering::SeqCst) == 0,
        "the stale token was not used",
    )?;
    check(
        ts.issued.load(Ordering::SeqCst) >= issued_before + 2,
        "no fresh token after the refusal",
    )?;

    // Mount from tok/a into tok/b: the token must cover both repositories.
    let b = format!("{host}/tok/b:1");
    t.ok(&["tag", &name, &b])?;
    let out = t.ok(&["push", &b])?;
    contains(&out, "Mounted from tok/a")?;
    check(
        registry_digest(&b, Some(&creds))? == digest,
        "mounted digest",
    )?;
    Ok(())
}

/// A store with one image in it, for failures to leave as it was.
fn seeded(
    t: &T,
    name: &str,
) -> Result<(PathBuf, std::collections::BTreeMap<String, String>), libtest_mimic::Failed> {
    let s = t.store(name);
    t.load(&s, "seed/image:1", &layers(&t.env, 0)?)?;
    let snap = snapshot(&s);
    Ok((s, snap))
}

fn bad_registry_answers() -> TestResult {
    let t = T::new();
    let reg = Registry::start(&t.env.path("registry"), Auth::None)?;
    let proxy = Proxy::start(&reg.host);
    let host = proxy.host();
    let name = format!("{host}/bad/img:1");
    let src = t.store("src");
    t.load(&src, &name, &layers(&t.env, 2)?)?;
    t.ok_in(&src, &["push", &name])?;
    let (store, before) = seeded(&t, "victim")?;

    let is_manifest = |r: &Req| r.method == "GET" && r.path().contains("/manifests/");
    let is_blob = |r: &Req| r.method == "GET" && r.path().contains("/blobs/");
    type Case = (
        &'static str,
        Box<dyn Fn(&Req) -> Fault + Send + Sync>,
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            "404",
            Box::new(|_: &Req| Fault::Pass),
            &["404", "bad/missing", "MANIFEST_UNKNOWN"],
        ),
        (
            "401 without challenge",
            Box::new(move |r: &Req| {
                if is_manifest(r) {
                    Fault::Status(401)
                } else {
                    Fault::Pass
                }
            }),
            &["401", "bad/img"],
        ),
        (
            "500",
            Box::new(move |r: &Req| {
                if is_manifest(r) {
                    Fault::Status(500)
                } else {
                    Fault::Pass
                }
            }),
            &["500", "bad/img", "manifest 1"],
        ),
        (
            "429",
            Box::new(move |r: &Req| {
                if is_blob(r) {
                    Fault::Status(429)
                } else {
                    Fault::Pass
                }
            }),
            &["429", "bad/img", "blob sha256:"],
        ),
        (
            "blob 404",
            Box::new(move |r: &Req| {
                if is_blob(r) {
                    Fault::Status(404)
                } else {
                    Fault::Pass
                }
            }),
            &["404", "bad/img", "blob sha256:"],
        ),
        (
            "blob digest mismatch",
            Box::new(move |r: &Req| {
                if is_blob(r) {
                    Fault::Corrupt
                } else {
                    Fault::Pass
                }
            }),
            &["digest mismatch", "bad/img"],
        ),
        (
            "truncated body",
            Box::new(move |r: &Req| {
                if is_blob(r) {
                    Fault::Truncate
                } else {
                    Fault::Pass
                }
            }),
            &["blob sha256:", "bad/img"],
        ),
        (
            "endless blob body",
            Box::new(move |r: &Req| {
                if is_blob(r) {
                    Fault::Endless
                } else {
                    Fault::Pass
                }
            }),
            &["blob sha256:", "bad/img"],
        ),
        (
            "endless manifest body",
            Box::new(move |r: &Req| {
                if is_manifest(r) {
                    Fault::Endless
                } else {
                    Fault::Pass
                }
            }),
            &["larger than 16777216 bytes", "bad/img"],
        ),
        (
            "huge manifest",
            Box::new(move |r: &Req| {
                if is_manifest(r) {
                    let mut doc = b"{\"schemaVersion\":2,\"pad\":\"".to_vec();
                    doc.resize(17 << 20, b'x');
                    doc.extend_from_slice(b"\"}");
                    Fault::Replace(doc)
                } else {
                    Fault::Pass
                }
            }),
            &["larger than 16777216 bytes", "bad/img"],
        ),
        (
            "redirect loop",
            Box::new(move |r: &Req| {
                if is_manifest(r) {
                    Fault::Redirect(r.target.clone())
                } else {
                    Fault::Pass
                }
            }),
            &["edirect", "bad/img"],
        ),
        (
            "manifest not JSON",
            Box::new(move |r: &Req| {
                if is_manifest(r) {
                    Fault::Replace(b"<html>not json</html>".to_vec())
                } else {
                    Fault::Pass
                }
            }),
            &["not JSON", "bad/img"],
        ),
        (
            "config not JSON",
            Box::new(|_: &Req| Fault::Pass),
            &["config", "bad/img"],
        ),
    ];
    for (what, rule, needles) in cases {
        let reference = if what == "404" {
            format!("{host}/bad/missing:1")
        } else {
            name.clone()
        };
        let rule: Arc<dyn Fn(&Req) -> Fault + Send + Sync> = Arc::from(rule);
        proxy.set(move |r| rule(r));
        if what == "config not JSON" {
            // A manifest whose config blob is not JSON, pushed for real.
            let layout = Layout::new(&t.env.path("badcfg"));
            let cfg = layout.blob(b"this is not a config");
            let l = layout.blob(&layers(&t.env, 0)?[0]);
            let m = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg["digest"], "size": cfg["size"]},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l["digest"], "size": l["size"]}],
            });
            let md = layout.blob(m.to_string().as_bytes());
            let mut md = md;
            md["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
            layout.tag(&md, "1");
            skopeo(&[
                "copy",
                "--dest-tls-verify=false",
                "--dest-oci-accept-uncompressed-layers",
                &format!("oci:{}:1", layout.dir.display()),
                &format!("docker://{}/bad/img:1", reg.host),
            ])?;
        }
        let err = t.fails_in(&store, &["pull", &reference])?;
        for n in needles {
            contains(&err, n).map_err(|e| format!("{what}: {}", e.message().unwrap_or("")))?;
        }
        contains(&err, &host)?;
        store_unchanged(&before, &store, what)?;
    }
    // A failed push names the status too, and the registry keeps no tag.
    proxy.set(|r: &Req| {
        if r.method == "PUT" && r.path().contains("/manifests/") {
            Fault::Status(500)
        } else {
            Fault::Pass
        }
    });
    t.ok_in(&src, &["tag", &name, &format!("{host}/bad/pushed:1")])?;
    let err = t.fails_in(&src, &["push", &format!("{host}/bad/pushed:1")])?;
    contains(&err, "500")?;
    contains(&err, "bad/pushed")?;
    proxy.set(|_: &Req| Fault::Pass);
    check(
        registry_digest(&format!("{}/bad/pushed:1", reg.host), None).is_err(),
        "tag exists after a failed push",
    )?;
    Ok(())
}

fn retries_pass_transient_failures() -> TestResult {
    let t = T::new();
    let reg = Registry::start(&t.env.path("registry"), Auth::None)?;
    let proxy = Proxy::start(&reg.host);
    let host = proxy.host();
    let name = format!("{host}/flaky/img:1");
    let src = t.store("src");
    t.load(&src, &name, &layers(&t.env, 2)?)?;
    // Every upload and the manifest fail once with 503 before passing.
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let s2 = seen.clone();
    proxy.set(move |r: &Req| {
        let key = format!("{} {}", r.method, r.path());
        let first = (r.method != "HEAD") && s2.lock().unwrap().insert(key);
        if first && r.path().starts_with("/v2/flaky/") {
            Fault::Status(503)
        } else {
            Fault::Pass
        }
    });
    t.ok_in(&src, &["push", &name])?;
    let digest = stored_digest(&src, &name)?;
    check(
        registry_digest(&format!("{}/flaky/img:1", reg.host), None)? == digest,
        "pushed digest",
    )?;
    // Pull: the blobs' first answers are cut short, then 500, then right.
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let seen2 = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        usize,
    >::new()));
    proxy.set(move |r: &Req| {
        if r.method == "GET" && r.path().contains("/blobs/") {
            let mut m = seen2.lock().unwrap();
            let n = m.entry(r.path().to_string()).or_insert(0);
            *n += 1;
            c2.fetch_add(1, Ordering::SeqCst);
            match *n {
                1 => Fault::Truncate,
                2 => Fault::Status(500),
                _ => Fault::Pass,
            }
        } else {
            Fault::Pass
        }
    });
    let dst = t.store("dst");
    t.ok_in(&dst, &["pull", &name])?;
    check(stored_digest(&dst, &name)? == digest, "pulled digest")?;
    t.ok_in(&dst, &["fsck"])?;
    check(
        count.load(Ordering::SeqCst) >= 9,
        format!("{} blob GETs", count.load(Ordering::SeqCst)),
    )?;
    Ok(())
}

fn interrupted_pull_resumes() -> TestResult {
    let t = T::new();
    let reg = Registry::start(&t.env.path("registry"), Auth::None)?;
    let proxy = Proxy::start(&reg.host);
    let host = proxy.host();
    let name = format!("{host}/resume/img:1");
    let src = t.store("src");
    let ls = layers(&t.env, 3)?;
    t.load(&src, &name, &ls)?;
    t.ok_in(&src, &["push", &name])?;
    let held = format!("sha256:{}", common::sha256_hex(&ls[0]));
    let gate = Arc::new(Gate::default());
    let g2 = gate.clone();
    let held2 = held.clone();
    proxy.set(move |r: &Req| {
        if r.method == "GET" && r.path().ends_with(&held2) {
            Fault::Hold(g2.clone())
        } else {
            Fault::Pass
        }
    });

    let dst = t.store("dst");
    let mut child = t
        .cmd(&dst, &["pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    gate.wait_arrived(1);
    // Wait until the other blobs (3 layers, config) are verified and staged.
    let deadline = Instant::now() + Duration::from_secs(60);
    let staged = || -> usize {
        fs::read_dir(dst.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| fs::read_dir(d.path()).into_iter().flatten().flatten())
            .filter(|f| f.file_name().len() == 64)
            .count()
    };
    // The manifest is staged too: 1 + 3 + config.
    while staged() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let n = staged();
    child.kill()?;
    child.wait()?;
    gate.open();
    check(n >= 5, format!("only {n} blobs staged before the kill"))?;

    proxy.set(|_: &Req| Fault::Pass);
    proxy.take_log();
    t.ok_in(&dst, &["pull", &name])?;
    let gets = blob_gets(&proxy.take_log(), "resume/img");
    check(
        gets.len() == 1 && gets[0].ends_with(&held),
        format!("fetched again: {gets:?}"),
    )?;
    t.ok_in(&dst, &["fsck"])?;
    let left: Vec<_> = fs::read_dir(dst.join("tmp"))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    check(left.is_empty(), format!("left in tmp: {left:?}"))?;
    Ok(())
}

fn tls_with_cert_dir() -> TestResult {
    let t = T::new();
    let dir = t.env.path("pki");
    fs::create_dir_all(&dir)?;
    let o = |args: &[&str]| sh(Command::new("openssl").current_dir(&dir).args(args));
    o(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=sangja test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ])?;
    o(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.2",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.2\n")?;
    o(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    ])?;
    let reg = Registry::start_on(
        &t.env.path("registry"),
        Auth::None,
        "127.0.0.2",
        Some(Tls {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        }),
    )?;
    let name = format!("{}/tls/img:1", reg.host);
    t.load(&t.env.store, &name, &layers(&t.env, 1)?)?;
    let certs = t.env.path("certs");
    fs::create_dir_all(&certs)?;
    fs::copy(dir.join("ca.crt"), certs.join("ca.crt"))?;
    // Not a local name: TLS only, and the CA is unknown without --cert-dir.
    let err = t.fails(&["push", &name])?;
    contains(&err, &reg.host)?;
    contains(&err.to_lowercase(), "certificate")?;
    t.ok(&["push", "--cert-dir", certs.to_str().unwrap(), &name])?;
    let digest = stored_digest(&t.env.store, &name)?;
    let other = t.store("other");
    t.ok_in(
        &other,
        &["pull", "--cert-dir", certs.to_str().unwrap(), &name],
    )?;
    check(stored_digest(&other, &name)? == digest, "pulled over TLS")?;
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--cert-dir",
            certs.to_str().unwrap(),
            &format!("docker://{name}"),
        ])
        .output()?;
    check(
        out.status.success() && sha256(&out.stdout) == digest,
        format!("skopeo over TLS: {}", String::from_utf8_lossy(&out.stderr)),
    )?;
    Ok(())
}

fn insecure_registries() -> TestResult {
    let t = T::new();
    // Plain http on a loopback address that is not a local name.
    let reg = Registry::start_on(&t.env.path("registry"), Auth::None, "127.0.0.2", None)?;
    let name = format!("{}/plain/img:1", reg.host);
    t.load(&t.env.store, &name, &layers(&t.env, 1)?)?;
    let err = t.fails(&["push", &name])?;
    contains(&err, &reg.host)?;
    t.ok(&["push", "--insecure", &name])?;
    let digest = stored_digest(&t.env.store, &name)?;
    // Listed in the settings file instead.
    let other = t.store("other");
    let base = t.cmd(&other, &["pull", &name]);
    let settings = t.env.path("registries.json");
    fs::write(
        &settings,
        format!("{{\"insecure-registries\": [\"{}\"]}}", reg.host),
    )?;
    let mut c = base;
    c.env("SANGJA_REGISTRIES_CONFIG", &settings);
    let out = c.output()?;
    check(
        out.status.success(),
        format!(
            "pull with settings: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    check(stored_digest(&other, &name)? == digest, "pulled digest")?;
    Ok(())
}

/// A registry whose token endpoint drips its answer a byte at a time, or never ends it:
/// the pull gives up within the token request's limit (shortened here to 2 s) with an
/// error naming the token server, and the store is left as it was.
fn hostile_token_endpoints_are_bounded() -> TestResult {
    use registry_support::http::{Resp, Server};
    let t = T::new();
    let store = t.env.store.clone();
    t.ok_in(&store, &["images"])?;
    let before = snapshot(&store);
    let cases: [(&str, Option<Duration>, &str); 2] = [
        ("dripping", Some(Duration::from_millis(200)), "limit"),
        ("endless", None, "larger than 1048576 bytes"),
    ];
    for (what, drip, needle) in cases {
        let token = Server::start(Arc::new(move |_req| {
            let mut r = Resp::new(200, b"{\"token\":\"");
            r.endless = true;
            r.drip = drip;
            r.header("Content-Type", "application/json")
        }));
        let realm = format!("http://127.0.0.1:{}/token", token.port);
        let registry = Server::start(Arc::new(move |_req| {
            Resp::new(401, b"{}").header(
                "WWW-Authenticate",
                &format!("Bearer realm=\"{realm}\",service=\"hostile\""),
            )
        }));
        let reference = format!("127.0.0.1:{}/hostile/token:1", registry.port);
        let mut child = t
            .cmd(&store, &["pull", &reference])
            .env("SANGJA_IMAGE_TOKEN_TIMEOUT_MS", "2000")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        // Liveness, not speed: an unbounded request would never end at all.
        let watchdog = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break s;
            }
            if Instant::now() > watchdog {
                let _ = child.kill();
                let _ = child.wait();
                return Err(
                    format!("{what} token answer: the pull was still waiting after 120 s").into(),
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut err)?;
        check(
            !status.success(),
            format!("{what} token answer: the pull succeeded"),
        )?;
        for n in ["token server", needle] {
            contains(&err, n).map_err(|e| format!("{what}: {}", e.message().unwrap_or("")))?;
        }
        store_unchanged(&before, &store, what)?;
    }
    Ok(())
}

/// `search REGISTRY/TERM` lists the catalog's repositories holding the term (not
/// those with no tag left), in docker's columns, `--format`, `--limit`, `--filter`; a
/// registry without the catalog API gets a message saying so, a bad limit docker's.
fn search_the_catalog() -> TestResult {
    let t = T::new();
    let reg = Registry::start(&t.env.path("registry"), Auth::None)?;
    let proxy = Proxy::start(&reg.host);
    let host = proxy.host();
    let src = t.store("src");
    let l = layers(&t.env, 1)?;
    for name in ["team/busybox:1", "team/busybox-extra:2", "other/app:1"] {
        let full = format!("{host}/{name}");
        t.load(&src, &full, &l)?;
        t.ok_in(&src, &["push", "-q", &full])?;
    }
    let table = t.ok(&["search", &format!("{host}/BUSY")])?;
    let lines: Vec<&str> = table.lines().collect();
    check(
        lines.len() == 3
            && lines[0].split_whitespace().collect::<Vec<_>>()
                == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"],
        format!("search table:\n{table}"),
    )?;
    check(
        lines[1].split_whitespace().collect::<Vec<_>>()
            == [format!("{host}/team/busybox"), "0".into()]
            && lines[2].starts_with(&format!("{host}/team/busybox-extra ")),
        format!("search rows:\n{table}"),
    )?;
    let one = t.ok(&[
        "search",
        "--limit",
        "1",
        "--format",
        "{{.Name}}",
        &format!("{host}/busy"),
    ])?;
    check(
        one == format!("{host}/team/busybox\n"),
        format!("--limit 1: {one:?}"),
    )?;
    let json = t.ok(&["search", "--format", "json", &format!("{host}/app")])?;
    let v: serde_json::Value = serde_json::from_str(json.trim())?;
    check(
        v["Name"] == format!("{host}/other/app") && v["StarCount"] == 0 && v["IsOfficial"] == false,
        format!("--format json: {json}"),
    )?;
    let none = t.ok(&["search", "--filter", "stars=1", &format!("{host}/busy")])?;
    check(
        none.lines().count() == 1,
        format!("stars=1 keeps nothing: {none}"),
    )?;
    check(
        t.ok(&["search", &format!("{host}/nothing-like-it")])?
            .lines()
            .count()
            == 1,
        "a term nothing holds",
    )?;
    // No catalog API: a message naming it; the limit checked first, as docker.
    proxy.set(|r: &Req| {
        if r.path() == "/v2/_catalog" {
            Fault::Status(404)
        } else {
            Fault::Pass
        }
    });
    let e = t.fails(&["search", &format!("{host}/busy")])?;
    contains(&e, "no catalog API")?;
    let e = t.fails(&["search", "--limit", "0", &format!("{host}/busy")])?;
    contains(&e, "limit 0 is outside the range of [1, 100]")?;
    let e = t.fails(&["search", "--filter", "color=red", &format!("{host}/busy")])?;
    contains(&e, "color")?;
    Ok(())
}
