//! `sangja-image build` end to end: a primer-style Dockerfile built with sangja (and
//! runc) executing its RUN steps, then run with `run --rm` and inspected; the layer
//! cache (a no-change rebuild runs no container at all); every instruction's config
//! effect; ADD of a URL from a server the test runs on 127.0.0.1; bad input leaving
//! nothing behind; and buildah as the oracle for configs and final root filesystems.
//! Base images are busybox-static imported into a private store.

mod common;

use common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn sangja_bin() -> PathBuf {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja"))
}

fn runc_bin() -> PathBuf {
    PathBuf::from("/usr/sbin/runc")
}

fn main() {
    let no_sangja = !sangja_bin().is_file();
    let no_overlay = !fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("overlay");
    let mut trials = Vec::new();
    let mut add = |name: &str, needs: &[&str], f: fn() -> TestResult, on_sangja: bool| {
        let mut t = trial(name, needs, f);
        let reason = if on_sangja && no_sangja {
            Some(format!(
                "runtime binary {} not found (build the workspace or set SANGJA_BIN)",
                sangja_bin().display()
            ))
        } else if no_overlay {
            Some("overlayfs not available".to_string())
        } else {
            None
        };
        if let Some(r) = reason {
            eprintln!("SKIPPED {name}: {r}");
            t = t.with_ignored_flag(true);
        }
        trials.push(t);
    };
    add("primer_build_and_run_sangja", &[], primer_sangja, true);
    add("primer_build_and_run_runc", &["runc"], primer_runc, false);
    add("cache_no_change_runs_nothing", &[], cache, true);
    add("config_of_every_instruction", &[], every_instruction, true);
    add("add_url_from_local_server", &[], add_url, true);
    add("stdin_dockerfile_and_tar_context", &[], stdin_inputs, true);
    add("bad_input_leaves_nothing", &[], bad_input, true);
    add("interrupted_build_leaves_nothing", &[], interrupted, true);
    add("deep_stack_of_layers", &[], deep_stack, true);
    add("buildah_oracle", &["buildah"], buildah_oracle, true);
    add("multi_stage_target_and_skips", &[], multi_stage, true);
    add("heredocs_run_and_copy", &[], heredocs, true);
    add("source_date_epoch_reproducible", &[], reproducible, true);
    add("outputs_oci_docker_local", &[], outputs, true);
    add("run_mount_cache_bind_tmpfs", &[], run_mounts, true);
    add("run_mount_secret_in_no_layer", &[], run_mount_secret, true);
    add("run_network_none_host_default", &[], run_network, true);
    add("copy_parents_and_exclude", &[], copy_parents_exclude, true);
    add("copy_link_survives_base_change", &[], copy_link, true);
    add("platform_args_and_foreign_run", &[], platforms, true);
    add(
        "buildah_oracle_run_mounts",
        &["buildah"],
        buildah_mounts,
        true,
    );
    add("independent_stages_run_at_once", &[], stages_at_once, true);
    run_trials(trials);
}

struct Fx {
    env: Env,
    runtime: PathBuf,
}

impl Fx {
    fn new(runtime: PathBuf) -> Result<Fx, Failed> {
        let env = Env::new();
        env.busybox_image("busybox:base", &["CMD [\"sh\"]"])?;
        Ok(Fx { env, runtime })
    }

    fn ctx(&self, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> Result<PathBuf, Failed> {
        let dir = self.env.path(name);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("Dockerfile"), dockerfile)?;
        for (p, content) in files {
            let f = dir.join(p);
            fs::create_dir_all(f.parent().unwrap())?;
            fs::write(f, content)?;
        }
        Ok(dir)
    }

    fn build(&self, ctx: &Path, extra: &[&str]) -> Output {
        let mut args: Vec<String> = vec![
            "build".into(),
            "--runtime".into(),
            self.runtime.display().to_string(),
            "--progress".into(),
            "plain".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(ctx.display().to_string());
        self.env.run(&args)
    }

    fn build_ok(&self, ctx: &Path, extra: &[&str]) -> Result<String, Failed> {
        let out = self.build(ctx, extra);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        check(
            out.status.success(),
            format!("build failed ({}):\n{err}", out.status),
        )?;
        Ok(err)
    }

    fn config(&self, image: &str) -> Result<Value, Failed> {
        let out = self.env.ok(["inspect", image])?;
        let v: Value = serde_json::from_str(&out)?;
        Ok(v[0].clone())
    }

    /// What a build may leave: mounts under the store, workspaces, staging dirs,
    /// containers, runtime state.
    fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let store = self.env.store.display().to_string();
        for l in fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
        {
            if l.contains(&store) {
                out.push(format!("mount: {l}"));
            }
        }
        for sub in ["build", "tmp", "containers"] {
            if let Ok(rd) = fs::read_dir(self.env.store.join(sub)) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    // The containers' runtime root and lock are the container store's own.
                    if sub == "containers" && (n == ".state" || n == ".lock") {
                        if n == ".state"
                            && fs::read_dir(e.path()).map(|r| r.count()).unwrap_or(0) > 0
                        {
                            out.push("runtime state in containers/.state".into());
                        }
                        continue;
                    }
                    out.push(format!("{sub}/{n}"));
                }
            }
        }
        out
    }

    fn blobs(&self) -> usize {
        fs::read_dir(self.env.store.join("blobs/sha256"))
            .map(|r| r.count())
            .unwrap_or(0)
    }
}

const PRIMER: &str = r#"# syntax=docker/dockerfile:1
FROM busybox:base
LABEL org.example.name="demo app" \
      org.example.version=1
ARG GREETING=hello
ENV APP_HOME=/opt/app
RUN mkdir -p $APP_HOME/data \
 && echo "$GREETING from RUN" > $APP_HOME/greeting
COPY site/ $APP_HOME/site/
COPY notes.txt $APP_HOME/
ADD bundle.tar.gz /opt/
SHELL ["/bin/sh", "-ec"]
RUN echo "shell: $0 $-" > /opt/shell-flags
WORKDIR $APP_HOME
EXPOSE 8080
USER bob
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting site/index.html notes.txt /opt/pkg/inside; ls site; id -u; pwd"]
"#;

/// The primer's context: a directory, a file, a .tar.gz, ignored files.
fn primer_ctx(fx: &Fx) -> Result<PathBuf, Failed> {
    let ctx = fx.ctx(
        "primer",
        PRIMER,
        &[
            ("site/index.html", "<h1>index</h1>\n"),
            ("site/debug.log", "ignored\n"),
            ("notes.txt", "notes\n"),
            ("secret.env", "TOKEN=1\n"),
            (".dockerignore", "secret.env\n**/*.log\n"),
        ],
    )?;
    let src = fx.env.path("tarsrc/pkg");
    fs::create_dir_all(&src)?;
    fs::write(src.join("inside"), "from the tarball\n")?;
    sh(Command::new("tar")
        .arg("-C")
        .arg(fx.env.path("tarsrc"))
        .arg("-czf")
        .arg(ctx.join("bundle.tar.gz"))
        .arg("pkg"))?;
    Ok(ctx)
}

fn primer(runtime: PathBuf) -> TestResult {
    let fx = Fx::new(runtime)?;
    let ctx = primer_ctx(&fx)?;
    let log = fx.build_ok(&ctx, &["-t", "demo:1", "--build-arg", "GREETING=hi"])?;
    for want in [
        "[1/7] FROM busybox:base",
        "[2/7] RUN mkdir -p",
        "[7/7] WORKDIR $APP_HOME",
        "naming to docker.io/library/demo:1 done",
        "FINISHED",
    ] {
        contains(&log, want)?;
    }
    let out = fx.env.run([
        "run",
        "--rm",
        "--runtime",
        &fx.runtime.display().to_string(),
        "demo:1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    check(
        out.status.success(),
        format!("run failed: {}", String::from_utf8_lossy(&out.stderr)),
    )?;
    check(
        stdout
            == "hi from RUN\n<h1>index</h1>\nnotes\nfrom the tarball\nindex.html\n1000\n/opt/app\n",
        format!("run printed {stdout:?}"),
    )?;
    // The rootfs has what the steps put there, and not what .dockerignore excludes.
    let dir = fx.env.path("unpacked");
    fx.env
        .ok(["unpack", "demo:1", &dir.display().to_string()])?;
    check(
        !dir.join("opt/app/site/debug.log").exists(),
        "an ignored file was copied",
    )?;
    check(
        fs::read_to_string(dir.join("opt/shell-flags"))?
            .split_whitespace()
            .nth(2)
            .is_some_and(|flags| flags.contains('e')),
        "SHELL did not apply to RUN",
    )?;
    let c = fx.config("demo:1")?;
    let cfg = &c["Config"];
    check(cfg["User"] == "bob", format!("User {}", cfg["User"]))?;
    check(cfg["WorkingDir"] == "/opt/app", "WorkingDir")?;
    check(cfg["ExposedPorts"]["8080/tcp"].is_object(), "ExposedPorts")?;
    check(cfg["Labels"]["org.example.name"] == "demo app", "Labels")?;
    check(cfg["Labels"]["org.example.version"] == "1", "Labels")?;
    check(
        cfg["Shell"] == serde_json::json!(["/bin/sh", "-ec"]),
        "Shell",
    )?;
    check(
        cfg["Entrypoint"] == serde_json::json!(["/bin/sh", "-c"]),
        "Entrypoint",
    )?;
    check(
        cfg["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "APP_HOME=/opt/app"),
        "Env",
    )?;
    // ARG values are not in the image's Env.
    check(
        !cfg["Env"].to_string().contains("GREETING"),
        "an ARG leaked into Env",
    )?;
    // History: one entry per instruction after the base's, layers only for steps that
    // changed files.
    let hist = fx
        .env
        .ok(["history", "--format", "json", "--no-trunc", "demo:1"])?;
    contains(
        &hist,
        "RUN |1 GREETING=hi /bin/sh -c mkdir -p $APP_HOME/data",
    )?;
    contains(&hist, "COPY notes.txt /opt/app/ # buildkit")?;
    contains(&hist, "EXPOSE map[8080/tcp:{}]")?;
    let stored: Value = serde_json::from_slice(&fs::read(
        fx.env
            .store
            .join("blobs/sha256")
            .join(c["Id"].as_str().unwrap().trim_start_matches("sha256:")),
    )?)?;
    let history = stored["history"].as_array().unwrap();
    let layers = stored["rootfs"]["diff_ids"].as_array().unwrap();
    check(
        history.len() == 15,
        format!("{} history entries", history.len()),
    )?;
    let with_layer = history.iter().filter(|h| h["empty_layer"] != true).count();
    check(
        with_layer == layers.len(),
        format!(
            "{with_layer} history entries with layers, {} layers",
            layers.len()
        ),
    )?;
    let env_entry = history
        .iter()
        .find(|h| h["created_by"] == "ENV APP_HOME=/opt/app");
    check(
        env_entry.is_some_and(|h| h["empty_layer"] == true),
        "ENV is not an empty_layer entry",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

fn primer_sangja() -> TestResult {
    primer(sangja_bin())
}

fn primer_runc() -> TestResult {
    primer(runc_bin())
}

/// A runtime wrapper that records each invocation, then runs sangja.
fn counting_runtime(fx: &Fx) -> Result<(PathBuf, PathBuf), Failed> {
    let calls = fx.env.path("runtime-calls");
    let wrapper = fx.env.path("counting-runtime");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec {} \"$@\"\n",
            calls.display(),
            sangja_bin().display()
        ),
    )?;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
    Ok((wrapper, calls))
}

fn cache() -> TestResult {
    let mut fx = Fx::new(sangja_bin())?;
    let (wrapper, calls) = counting_runtime(&fx)?;
    fx.runtime = wrapper;
    let ctx = primer_ctx(&fx)?;
    fx.build_ok(&ctx, &["-t", "demo:1"])?;
    let id1 = fx.config("demo:1")?["Id"].clone();
    check(calls.exists(), "the first build ran no container")?;
    fs::remove_file(&calls)?;

    // Nothing changed: every step CACHED, no container, the same image.
    let log = fx.build_ok(&ctx, &["-t", "demo:1"])?;
    let cached = log.lines().filter(|l| l.ends_with(" CACHED")).count();
    check(cached == 6, format!("{cached} steps CACHED:\n{log}"))?;
    check(
        !calls.exists(),
        format!(
            "a no-change rebuild ran the runtime: {:?}",
            fs::read_to_string(&calls)
        ),
    )?;
    check(
        fx.config("demo:1")?["Id"] == id1,
        "a no-change rebuild made another image",
    )?;
    // -q prints only the image id.
    let out = fx.env.run([
        "build",
        "-q",
        "--runtime",
        &fx.runtime.display().to_string(),
        &ctx.display().to_string(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    check(
        stdout == id1.as_str().unwrap(),
        format!(
            "-q printed {stdout:?}, stderr {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;

    // A COPY source changes: the steps before it stay cached, it and all after rerun.
    fs::write(ctx.join("notes.txt"), "new notes\n")?;
    let log = fx.build_ok(&ctx, &["-t", "demo:2"])?;
    let step_cached = |n: usize| {
        let hdr = log
            .lines()
            .find(|l| l.contains(&format!("[{n}/7]")))
            .unwrap_or("");
        let id = hdr.split(' ').next().unwrap_or("#?").to_string();
        log.lines().any(|l| l == format!("{id} CACHED"))
    };
    check(
        step_cached(2) && step_cached(3),
        format!("steps before the change rebuilt:\n{log}"),
    )?;
    check(
        !step_cached(4) && !step_cached(5) && !step_cached(6),
        format!("steps from the change cached:\n{log}"),
    )?;
    // A build arg used by RUN changes the RUN's key.
    let log = fx.build_ok(&ctx, &["--build-arg", "GREETING=other"])?;
    check(
        !log.lines()
            .any(|l| l.ends_with(" CACHED") && l.starts_with("#3 ")),
        format!("RUN cached across a build-arg change:\n{log}"),
    )?;
    // --no-cache runs everything.
    let log = fx.build_ok(&ctx, &["--no-cache", "-t", "demo:1"])?;
    check(
        !log.contains(" CACHED"),
        format!("--no-cache used the cache:\n{log}"),
    )?;

    // prune drops cache entries whose layers are gone.
    let cache_dir = fx.env.store.join("build-cache");
    let before = fs::read_dir(&cache_dir)?.count();
    for t in ["demo:1", "demo:2"] {
        fx.env.ok(["rmi", t])?;
    }
    for l in fx.env.ok(["images", "-q", "--no-trunc"])?.lines() {
        let _ = fx.env.run(["rmi", "-f", l]);
    }
    fx.env.ok(["prune"])?;
    let after = fs::read_dir(&cache_dir)?.count();
    check(
        after < before,
        format!("prune left the cache: {before} -> {after}"),
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

fn every_instruction() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    // A base with a CMD, an ONBUILD trigger and an ENTRYPOINT-less config.
    let base = fx.ctx(
        "base",
        "FROM busybox:base\nCMD [\"inherited\"]\nONBUILD RUN echo triggered > /onbuild\nONBUILD ENV FROM_TRIGGER=1\n",
        &[],
    )?;
    fx.build_ok(&base, &["-t", "withonbuild:1"])?;
    let c = fx.config("withonbuild:1")?;
    check(
        c["Config"]["OnBuild"]
            == serde_json::json!(["RUN echo triggered > /onbuild", "ENV FROM_TRIGGER=1"]),
        format!("OnBuild {}", c["Config"]["OnBuild"]),
    )?;
    let ctx = fx.ctx(
        "all",
        r#"ARG BASE=withonbuild:1
ARG UNUSED_GLOBAL=x
FROM ${BASE}
ARG BASE
ARG V=default
ENV V=from-env
ENV LEGACY value with spaces
MAINTAINER someone <s@example.com>
LABEL base=$BASE v=$V
ENTRYPOINT ["/bin/echo"]
VOLUME /data /cache
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --retries=4 CMD wget -q -O- http://127.0.0.1/ || exit 1
WORKDIR rel
WORKDIR sub
RUN echo "v=$V base=$BASE" > marker && test "$(cat /onbuild)" = triggered
ONBUILD RUN echo next
"#,
        &[],
    )?;
    let log = fx.build_ok(
        &ctx,
        &[
            "-t",
            "all:1",
            "--label",
            "extra=yes",
            "--build-arg",
            "NOT_DECLARED=1",
        ],
    )?;
    contains(&log, "[ONBUILD] RUN echo triggered > /onbuild")?;
    let c = fx.config("all:1")?;
    let cfg = &c["Config"];
    let env = cfg["Env"].to_string();
    for want in ["V=from-env", "LEGACY=value with spaces", "FROM_TRIGGER=1"] {
        check(env.contains(want), format!("Env {env} lacks {want}"))?;
    }
    check(
        cfg["Labels"]["base"] == "withonbuild:1",
        format!("Labels {}", cfg["Labels"]),
    )?;
    check(cfg["Labels"]["v"] == "from-env", "ENV beats ARG in LABEL")?;
    check(cfg["Labels"]["extra"] == "yes", "--label")?;
    check(
        c["Author"] == "someone <s@example.com>",
        format!("Author {}", c["Author"]),
    )?;
    // ENTRYPOINT drops the inherited CMD.
    check(cfg["Cmd"].is_null(), format!("Cmd {}", cfg["Cmd"]))?;
    check(
        cfg["Volumes"]["/data"].is_object() && cfg["Volumes"]["/cache"].is_object(),
        format!("Volumes {}", cfg["Volumes"]),
    )?;
    check(cfg["StopSignal"] == "SIGUSR1", "StopSignal")?;
    let h = &cfg["Healthcheck"];
    check(
        h["Test"] == serde_json::json!(["CMD-SHELL", "wget -q -O- http://127.0.0.1/ || exit 1"])
            && h["Interval"] == 30_000_000_000i64
            && h["Timeout"] == 5_000_000_000i64
            && h["StartPeriod"] == 60_000_000_000i64
            && h["Retries"] == 4,
        format!("Healthcheck {h}"),
    )?;
    check(
        cfg["WorkingDir"] == "/rel/sub",
        format!("WorkingDir {}", cfg["WorkingDir"]),
    )?;
    check(
        cfg["OnBuild"] == serde_json::json!(["RUN echo next"]),
        format!("OnBuild {}", cfg["OnBuild"]),
    )?;
    let dir = fx.env.path("all-rootfs");
    fx.env.ok(["unpack", "all:1", &dir.display().to_string()])?;
    let marker = fs::read_to_string(dir.join("rel/sub/marker"))?;
    check(
        marker == "v=from-env base=withonbuild:1\n",
        format!("marker {marker:?}"),
    )?;
    contains(
        &log,
        "[Warning] One or more build-args [NOT_DECLARED] were not consumed",
    )?;

    // HEALTHCHECK NONE, and a shell-form CMD through SHELL.
    let ctx = fx.ctx(
        "none",
        "FROM all:1\nHEALTHCHECK NONE\nSHELL [\"/bin/sh\", \"-xc\"]\nCMD echo hi\n",
        &[],
    )?;
    fx.build_ok(&ctx, &["-t", "none:1"])?;
    let cfg = fx.config("none:1")?["Config"].clone();
    check(
        cfg["Healthcheck"]["Test"] == serde_json::json!(["NONE"]),
        format!("{}", cfg["Healthcheck"]),
    )?;
    check(
        cfg["Cmd"] == serde_json::json!(["/bin/sh", "-xc", "echo hi"]),
        format!("Cmd {}", cfg["Cmd"]),
    )?;
    // The trigger of all:1 ran here and is not inherited further.
    check(
        cfg["OnBuild"].is_null(),
        format!("OnBuild {}", cfg["OnBuild"]),
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// Serves `body` to each GET for a few connections, with a Last-Modified header.
fn serve(body: &'static [u8]) -> Result<u16, Failed> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let req = String::from_utf8_lossy(&buf);
            let (status, body): (&str, &[u8]) = if req.starts_with("GET /missing") {
                ("404 Not Found", b"")
            } else {
                ("200 OK", body)
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(body);
        }
    });
    Ok(port)
}

fn add_url() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let port = serve(b"remote content\n")?;
    let ctx = fx.ctx(
        "url",
        &format!(
            "FROM busybox:base\nADD http://127.0.0.1:{port}/files/remote.txt /downloads/\nADD http://127.0.0.1:{port}/other /named.txt\n"
        ),
        &[],
    )?;
    fx.build_ok(&ctx, &["-t", "url:1"])?;
    let dir = fx.env.path("url-rootfs");
    fx.env.ok(["unpack", "url:1", &dir.display().to_string()])?;
    let f = dir.join("downloads/remote.txt");
    check(
        fs::read_to_string(&f)? == "remote content\n",
        "downloaded content",
    )?;
    let meta = fs::metadata(&f)?;
    use std::os::unix::fs::MetadataExt;
    check(
        meta.mode() & 0o7777 == 0o600,
        format!("mode {:o}", meta.mode() & 0o7777),
    )?;
    check(
        meta.mtime() == 1_445_412_480,
        format!("mtime {}", meta.mtime()),
    )?;
    check(dir.join("named.txt").is_file(), "a destination file name")?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

fn stdin_build(fx: &Fx, input: &[u8], extra: &[&str]) -> Result<Output, Failed> {
    let mut child = Command::new(bin())
        .arg("--store")
        .arg(&fx.env.store)
        .arg("build")
        .arg("--runtime")
        .arg(&fx.runtime)
        .arg("--progress")
        .arg("plain")
        .args(extra)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().unwrap().write_all(input)?;
    Ok(child.wait_with_output()?)
}

fn stdin_inputs() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    // A Dockerfile alone on stdin: no context.
    let out = stdin_build(
        &fx,
        b"FROM busybox:base\nRUN echo ok > /ok\n",
        &["-t", "stdin:1"],
    )?;
    check(
        out.status.success(),
        format!("stdin Dockerfile: {}", String::from_utf8_lossy(&out.stderr)),
    )?;
    let out = stdin_build(&fx, b"FROM busybox:base\nCOPY x /x\n", &["-t", "stdin:2"])?;
    check(!out.status.success(), "COPY without a context succeeded")?;
    contains(&String::from_utf8_lossy(&out.stderr), "Dockerfile:2")?;
    // A tar context on stdin.
    let ctx = fx.ctx(
        "tarctx",
        "FROM busybox:base\nCOPY hello /hello\n",
        &[("hello", "hi\n")],
    )?;
    let tar = fx.env.path("ctx.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .arg("-cf")
        .arg(&tar)
        .arg("."))?;
    let out = stdin_build(&fx, &fs::read(&tar)?, &["-t", "stdin:3"])?;
    check(
        out.status.success(),
        format!("tar context: {}", String::from_utf8_lossy(&out.stderr)),
    )?;
    let dir = fx.env.path("stdin-rootfs");
    fx.env
        .ok(["unpack", "stdin:3", &dir.display().to_string()])?;
    check(
        fs::read_to_string(dir.join("hello"))? == "hi\n",
        "COPY from a tar context",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

fn bad_input() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    // A name that a failed build must not move.
    let good = fx.ctx("good", "FROM busybox:base\nRUN echo keep > /keep\n", &[])?;
    fx.build_ok(&good, &["-t", "keep:1"])?;
    let keep_id = fx.config("keep:1")?["Id"].clone();
    let outside = fx.env.path("outside-secret");
    fs::write(&outside, "host secret\n")?;
    let blobs = fx.blobs();
    // (name, Dockerfile, context files, what the error must say)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "unknown",
            "FROM busybox:base\nRUN true\nRUNN x\n",
            vec![],
            "Dockerfile:3: unknown instruction: RUNN",
        ),
        (
            "syntax",
            "FROM busybox:base\nENV A=\"unterminated\n",
            vec![],
            "Dockerfile:2:",
        ),
        (
            "missing-src",
            "FROM busybox:base\nCOPY nope /x\n",
            vec![],
            "Dockerfile:2: COPY nope /x",
        ),
        (
            "dotdot",
            "FROM busybox:base\nCOPY ../x /x\n",
            vec![],
            "outside the build context",
        ),
        (
            "symlink-out",
            "FROM busybox:base\nCOPY link /x\n",
            vec![],
            "outside the build context",
        ),
        (
            "chown",
            "FROM busybox:base\nRUN true\nCOPY --chown=nosuchuser f /f\n",
            vec![("f", "x")],
            "Dockerfile:3:",
        ),
        (
            "from",
            "FROM 127.0.0.1:1/nothing/here:latest\nRUN true\n",
            vec![],
            "Dockerfile:1:",
        ),
        (
            "run",
            "FROM busybox:base\nRUN echo partial > /partial\nRUN echo before-failing; exit 3\n",
            vec![],
            "did not complete successfully: exit code: 3",
        ),
        (
            "url",
            "FROM busybox:base\nADD http://127.0.0.1:1/x /x\n",
            vec![],
            "Dockerfile:2: ADD",
        ),
        (
            "stage-cycle",
            "FROM busybox:base AS a\nRUN true\nCOPY --from=a /x /y\n",
            vec![],
            "Dockerfile:3: circular dependency detected on stage: a",
        ),
        (
            "stage-cycle-two",
            "FROM busybox:base AS a\nCOPY --from=b /x /y\nFROM busybox:base AS b\nCOPY --from=a /x /y\n",
            vec![],
            "Dockerfile:2: circular dependency detected on stage: a",
        ),
        (
            "stage-later",
            "FROM busybox:base AS a\nCOPY --from=b /x /y\nFROM busybox:base AS b\n",
            vec![],
            "Dockerfile:2: COPY --from=b: stage b is defined later (line 3)",
        ),
        (
            "stage-unknown",
            "FROM busybox:base AS a\nRUN echo a > /a\nCOPY --from=127.0.0.1:1/nostage:1 /x /y\n",
            vec![],
            "Dockerfile:3: COPY --from=127.0.0.1:1/nostage:1 /x /y: --from=127.0.0.1:1/nostage:1: no stage named",
        ),
        (
            "stage-index",
            "FROM busybox:base\nCOPY --from=1 /x /y\nFROM busybox:base\n",
            vec![],
            "Dockerfile:2: --from=1: a stage can only use the stages before it",
        ),
        (
            "heredoc",
            "FROM busybox:base\nRUN <<EOF\necho never\nEOF \n",
            vec![],
            "Dockerfile:2: unterminated heredoc <<EOF",
        ),
        (
            "stage-target",
            "FROM busybox:base AS a\nRUN true\n",
            vec![],
            "failed to reach build target nope",
        ),
        (
            "platform",
            "FROM --platform=linux/s390x busybox:base\nRUN true\n",
            vec![],
            "Dockerfile:1:",
        ),
        (
            "json-shell",
            "FROM busybox:base\nSHELL sh -c\n",
            vec![],
            "Dockerfile:2: SHELL requires the arguments to be in JSON form",
        ),
        (
            "chmod",
            "FROM busybox:base\nCOPY --chmod=999 f /f\n",
            vec![("f", "x")],
            "invalid chmod parameter",
        ),
        (
            "mount-type",
            "FROM busybox:base\nRUN true\nRUN --mount=type=nfs,target=/x true\n",
            vec![],
            "Dockerfile:3: RUN --mount \"type=nfs,target=/x\": unsupported mount type \"nfs\"",
        ),
        (
            "mount-option",
            "FROM busybox:base\nRUN --mount=type=cache,target=/x,colour=red true\n",
            vec![],
            "Dockerfile:2: RUN --mount \"type=cache,target=/x,colour=red\": unexpected key \"colour\"",
        ),
        (
            "mount-source",
            "FROM busybox:base\nRUN --mount=type=bind,source=../up,target=/x true\n",
            vec![],
            "Dockerfile:2: RUN --mount=type=bind,source=../up,target=/x true: forbidden path outside the build context: ../up",
        ),
        (
            "secret-required",
            "FROM busybox:base\nRUN echo a > /a\nRUN --mount=type=secret,id=nope,required=true true\n",
            vec![],
            "Dockerfile:3: RUN --mount=type=secret,id=nope,required=true true: secret nope: not found",
        ),
        (
            "secret-file",
            "FROM busybox:base\nRUN --mount=type=secret,id=x cat /run/secrets/x\n",
            vec![],
            "--secret \"id=x,src=/nonexistent-build-20/secret\"",
        ),
        (
            "copy-parents-file",
            "FROM busybox:base\nCOPY --parents f /f\n",
            vec![("f", "x")],
            "Dockerfile:2: COPY --parents f /f: COPY --parents: the destination must be a directory",
        ),
        (
            "many-to-file",
            "FROM busybox:base\nCOPY a b /dst\n",
            vec![("a", "x"), ("b", "y")],
            "must be a directory and end with a /",
        ),
    ];
    for (name, dockerfile, files, want) in cases {
        let ctx = fx.ctx(&format!("bad-{name}"), dockerfile, &files)?;
        if name == "symlink-out" {
            std::os::unix::fs::symlink(&outside, ctx.join("link"))?;
        }
        let tag = format!("bad-{name}:1");
        let mut args = vec!["-t", "keep:1", "-t", &tag];
        if name == "stage-target" {
            args.extend(["--target", "nope"]);
        }
        if name == "secret-file" {
            args.extend(["--secret", "id=x,src=/nonexistent-build-20/secret"]);
        }
        let out = fx.build(&ctx, &args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        check(
            out.status.code() == Some(1),
            format!("{name}: exit {:?}:\n{err}", out.status.code()),
        )?;
        check(
            err.contains(want),
            format!("{name}: expected {want:?} in:\n{err}"),
        )?;
        if name == "run" {
            // The failing step's output is shown and the step named.
            contains(&err, "before-failing")?;
            contains(&err, "ERROR: process")?;
        }
        check(
            fx.config("keep:1")?["Id"] == keep_id,
            format!("{name}: keep:1 moved"),
        )?;
        check(
            fx.env
                .run(["inspect", &format!("bad-{name}:1")])
                .status
                .code()
                != Some(0),
            format!("{name}: tagged"),
        )?;
        check(
            fx.leftovers().is_empty(),
            format!("{name}: left {:?}", fx.leftovers()),
        )?;
        check(
            fx.blobs() == blobs,
            format!("{name}: {} blobs, was {blobs}", fx.blobs()),
        )?;
    }
    // A context that is not a directory.
    let file = fx.env.path("not-a-dir");
    fs::write(&file, "x")?;
    let out = fx.build(&file, &["-t", "x:1"]);
    check(out.status.code() == Some(1), "a file context built")?;
    contains(
        &String::from_utf8_lossy(&out.stderr),
        "context must be a directory",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left {:?}", fx.leftovers()),
    )
}

// ---- buildah as the oracle ----

const ORACLE_FILES: &[(&str, &str)] = &[
    ("site/index.html", "<h1>index</h1>\n"),
    ("site/sub/deep.txt", "deep\n"),
    ("site/skip.log", "ignored\n"),
    ("notes.txt", "notes\n"),
    ("a1.conf", "one\n"),
    ("a2.conf", "two\n"),
    (".dockerignore", "**/*.log\n"),
];

/// Dockerfiles that together use every single-stage instruction and flag.
fn oracle_dockerfiles() -> Vec<(&'static str, String)> {
    let base = "docker.io/library/busybox:base";
    vec![
        (
            "primer",
            PRIMER.replace("FROM busybox:base", &format!("FROM {base}")),
        ),
        (
            "metadata",
            format!(
                r#"FROM {base}
ARG V=default
ENV V2=$V PATH=/usr/bin:/bin
LABEL a=1 b="two words"
EXPOSE 80 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo hi
WORKDIR /w
WORKDIR x
USER bob:audio
ENTRYPOINT ["/bin/echo"]
CMD ["a", "b"]
"#
            ),
        ),
        (
            "user-workdir",
            format!(
                "FROM {base}\nUSER bob\nWORKDIR /wd/app\nRUN touch made-by-bob\nUSER root\nWORKDIR /root-owned\n"
            ),
        ),
        (
            "copies",
            format!(
                r#"FROM {base}
COPY --chown=bob:audio --chmod=640 notes.txt /opt/n.txt
COPY --chown=1000 a*.conf /etc/app/
COPY site /srv/
COPY notes.txt /tmp
ADD bundle.tar.xz /xz/
ADD bundle.tar.bz2 bundle.tar.gz /many/
COPY bundle.tar.gz /copied/
RUN mkdir -p /gone && touch /gone/f && rm -rf /gone /etc/group- && echo changed >> /etc/passwd
"#
            ),
        ),
    ]
}

fn buildah(dir: &Path, args: &[&str]) -> Result<String, Failed> {
    let policy = dir.join("policy.json");
    if !policy.exists() {
        fs::write(
            &policy,
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )?;
        fs::write(
            dir.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )?;
    }
    let mut c = Command::new("buildah");
    c.arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("runroot"))
        .arg("--storage-driver")
        .arg("vfs")
        .arg("--registries-conf")
        .arg(dir.join("registries.conf"))
        .arg(args[0])
        .env("BUILDAH_ISOLATION", "chroot");
    if matches!(args[0], "pull" | "bud" | "push") {
        c.arg("--signature-policy").arg(&policy);
    }
    c.args(&args[1..]);
    sh(&mut c)
}

/// busybox:base from a saved archive into buildah's store, under docker's name.
fn buildah_base(bdir: &Path, archive: &Path) -> TestResult {
    buildah(
        bdir,
        &[
            "pull",
            "-q",
            &format!("docker-archive:{}", archive.display()),
        ],
    )?;
    // buildah names an archive's short name localhost/...: give it docker's name.
    buildah(
        bdir,
        &[
            "tag",
            "localhost/busybox:base",
            "docker.io/library/busybox:base",
        ],
    )?;
    Ok(())
}

/// Removes buildah's working containers (its store goes with the test's temp dir).
fn buildah_rm_all(bdir: &Path) {
    let _ = Command::new("buildah")
        .arg("--root")
        .arg(bdir.join("root"))
        .arg("--runroot")
        .arg(bdir.join("runroot"))
        .arg("--storage-driver")
        .arg("vfs")
        .args(["rm", "--all"])
        .output();
}

fn buildah_oracle() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let bdir = fx.env.path("buildah");
    fs::create_dir_all(&bdir)?;
    let archive = fx.env.path("base.tar");
    fx.env
        .ok(["save", "-o", &archive.display().to_string(), "busybox:base"])?;
    let result = (|| -> TestResult {
        buildah_base(&bdir, &archive)?;
        let mut problems = Vec::new();
        for (name, dockerfile) in oracle_dockerfiles() {
            let ctx = fx.ctx(&format!("oracle-{name}"), &dockerfile, ORACLE_FILES)?;
            let src = fx.env.path("tarsrc/pkg");
            fs::create_dir_all(&src)?;
            fs::write(src.join("inside"), "from the tarball\n")?;
            for (flag, ext) in [("-czf", "gz"), ("-cJf", "xz"), ("-cjf", "bz2")] {
                sh(Command::new("tar")
                    .arg("-C")
                    .arg(fx.env.path("tarsrc"))
                    .arg(flag)
                    .arg(ctx.join(format!("bundle.tar.{ext}")))
                    .arg("pkg"))?;
            }
            let tag = format!("oracle-{name}:1");
            fx.build_ok(&ctx, &["-t", &tag, "--build-arg", "GREETING=hi"])?;
            buildah(
                &bdir,
                &[
                    "bud",
                    "--isolation",
                    "chroot",
                    "--format",
                    "docker",
                    "--build-arg",
                    "GREETING=hi",
                    "-t",
                    &tag,
                    &ctx.display().to_string(),
                ],
            )?;
            let inspected: Value =
                serde_json::from_str(&buildah(&bdir, &["inspect", "--type", "image", &tag])?)?;
            let theirs = inspected["Docker"]["config"].clone();
            let ours = fx.config(&tag)?["Config"].clone();
            for field in [
                "Env",
                "Cmd",
                "Entrypoint",
                "WorkingDir",
                "User",
                "ExposedPorts",
                "Labels",
                "Volumes",
                "StopSignal",
                "Healthcheck",
                "Shell",
                "OnBuild",
            ] {
                let norm = |v: &Value| match v {
                    Value::Null => Value::Null,
                    Value::String(s) if s.is_empty() => Value::Null,
                    Value::Array(a) if a.is_empty() => Value::Null,
                    Value::Object(o) if o.is_empty() => Value::Null,
                    v => v.clone(),
                };
                let (a, b) = (norm(&ours[field]), norm(&theirs[field]));
                // buildah labels its images with io.buildah.version.
                let (a, b) = if field == "Labels" {
                    let strip = |v: Value| match v {
                        Value::Object(mut o) => {
                            o.remove("io.buildah.version");
                            norm(&Value::Object(o))
                        }
                        v => v,
                    };
                    (strip(a), strip(b))
                } else {
                    (a, b)
                };
                if a != b {
                    problems.push(format!("{name}: {field}: sangja {a} buildah {b}"));
                }
            }
            // The final root filesystems, file by file.
            let ours_dir = fx.env.path(&format!("ours-{name}"));
            fx.env
                .ok(["unpack", &tag, &ours_dir.display().to_string()])?;
            let oci = fx.env.path(&format!("theirs-{name}.tar"));
            buildah(
                &bdir,
                &["push", &tag, &format!("oci-archive:{}", oci.display())],
            )?;
            let theirs_env = Env::new();
            let loaded = theirs_env.ok(["load", "-i", &oci.display().to_string()])?;
            let id = loaded.split_whitespace().last().unwrap_or("").to_string();
            let theirs_dir = fx.env.path(&format!("theirs-{name}"));
            theirs_env.ok(["unpack", &id, &theirs_dir.display().to_string()])?;
            // buildah's chroot isolation leaves the mount points of its RUN steps in
            // the image (empty /dev, /proc, /sys, /run, /etc/hosts, ...); docker and
            // sangja do not.
            let mut theirs_tree = snapshot(&theirs_dir);
            let ours_tree = snapshot(&ours_dir);
            for stub in [
                "dev",
                "proc",
                "sys",
                "run",
                "etc/hostname",
                "etc/hosts",
                "etc/resolv.conf",
            ] {
                if !ours_tree.contains_key(stub) {
                    theirs_tree.remove(stub);
                }
            }
            for d in diff(&ours_tree, &theirs_tree) {
                problems.push(format!("{name}: rootfs: {d}"));
            }
        }
        check(problems.is_empty(), problems.join("\n"))
    })();
    buildah_rm_all(&bdir);
    result?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// SIGINT in the middle of a RUN: the container is killed, the build fails, and the
/// workspace, mounts and staged blobs are gone.
fn interrupted() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx(
        "slow",
        "FROM busybox:base\nRUN echo started && sleep 60\n",
        &[],
    )?;
    let blobs = fx.blobs();
    let mut child = Command::new(bin())
        .arg("--store")
        .arg(&fx.env.store)
        .args(["build", "--progress", "plain", "-t", "slow:1", "--runtime"])
        .arg(&fx.runtime)
        .arg(&ctx)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("started") {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return Err("the RUN step never started".into());
        }
        let n = stderr.read(&mut buf)?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    // SAFETY: a signal to the child we started, by its pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let start = std::time::Instant::now();
    stderr.read_to_end(&mut seen)?;
    let status = child.wait()?;
    let err = String::from_utf8_lossy(&seen);
    check(status.code() == Some(1), format!("exit {status}:\n{err}"))?;
    check(
        start.elapsed() < std::time::Duration::from_secs(30),
        "the build waited for the RUN step's sleep",
    )?;
    contains(&err, "interrupted")?;
    check(
        fx.env.run(["inspect", "slow:1"]).status.code() != Some(0),
        "tagged",
    )?;
    check(fx.blobs() == blobs, "blobs added")?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// 120 layer-making steps: the overlay's lower dirs of the last steps no longer fit one
/// mount option as absolute paths (a page), so the build must name them shortly.
fn deep_stack() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let mut df = String::from("FROM busybox:base\n");
    for i in 0..120 {
        df.push_str(&format!("WORKDIR /deep/d{i}\n"));
    }
    df.push_str("RUN ls -d /deep/d* | wc -l > /count\n");
    let ctx = fx.ctx("deep", &df, &[])?;
    fx.build_ok(&ctx, &["-t", "deep:1"])?;
    let dir = fx.env.path("deep-rootfs");
    fx.env
        .ok(["unpack", "deep:1", &dir.display().to_string()])?;
    let count = fs::read_to_string(dir.join("count"))?;
    check(count.trim() == "120", format!("count {count:?}"))?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

// ---- part 2: multi-stage ----

const MULTI_STAGE: &str = r#"ARG BASE=busybox:base
ARG GREETING=hello
FROM $BASE AS builder
ARG GREETING
RUN mkdir /out && echo "$GREETING generated" > /out/gen.txt && chown 1000:1000 /out/gen.txt
FROM $BASE AS unused
RUN echo UNUSED-STAGE-RAN; exit 7
FROM builder AS second
RUN echo second > /out/second.txt
FROM scratch AS final
COPY --from=builder /out/gen.txt /gen.txt
COPY --from=second /out/ /all/
COPY --from=0 /out/gen.txt /by-index.txt
COPY --from=busybox:base /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/gen.txt"]
"#;

/// A builder stage generating files, a stage nothing needs (it would fail), a stage
/// FROM an earlier one, a scratch final stage copying from stages by name, by index
/// and from an image; then `--target` building only what that stage needs.
fn multi_stage() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx("multi", MULTI_STAGE, &[])?;
    let log = fx.build_ok(&ctx, &["-t", "multi:1", "--build-arg", "GREETING=hi"])?;
    contains(&log, "[unused] skipped")?;
    check(!log.contains("UNUSED-STAGE-RAN"), "the unused stage ran")?;
    contains(&log, "[builder 2/2] RUN mkdir /out")?;
    contains(&log, "[final 5/5] COPY --from=busybox:base")?;
    let dir = fx.env.path("multi-rootfs");
    fx.env
        .ok(["unpack", "multi:1", &dir.display().to_string()])?;
    let mut names: Vec<String> = Vec::new();
    for e in walk(&dir)? {
        names.push(e);
    }
    names.sort();
    check(
        names
            == [
                "all",
                "all/gen.txt",
                "all/second.txt",
                "bin",
                "bin/busybox",
                "by-index.txt",
                "gen.txt",
            ],
        format!("final rootfs: {names:?}"),
    )?;
    check(
        fs::read_to_string(dir.join("gen.txt"))? == "hi generated\n",
        "gen.txt content (global ARG via the stage's ARG)",
    )?;
    use std::os::unix::fs::MetadataExt;
    // COPY --from keeps the owner the stage gave the file (docker).
    check(
        fs::metadata(dir.join("gen.txt"))?.uid() == 1000,
        "COPY --from lost the owner",
    )?;
    let out = fx.env.run([
        "run",
        "--rm",
        "--runtime",
        &fx.runtime.display().to_string(),
        "multi:1",
    ]);
    check(
        String::from_utf8_lossy(&out.stdout) == "hi generated\n",
        format!(
            "run: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    // The final image has only the copies: scratch plus four layers.
    let cfg = fx.config("multi:1")?;
    check(
        cfg["RootFS"]["Layers"].as_array().map(Vec::len) == Some(4),
        format!("layers: {}", cfg["RootFS"]),
    )?;
    // --target second: builder and second only; final (after it) is not built either.
    let log = fx.build_ok(&ctx, &["-t", "multi:second", "--target", "second"])?;
    contains(&log, "[unused] skipped")?;
    check(
        !log.contains("[final"),
        format!("final built for --target second:\n{log}"),
    )?;
    let dir = fx.env.path("second-rootfs");
    fx.env
        .ok(["unpack", "multi:second", &dir.display().to_string()])?;
    check(
        fs::read_to_string(dir.join("out/second.txt"))? == "second\n"
            && fs::read_to_string(dir.join("out/gen.txt"))? == "hello generated\n",
        "--target second rootfs",
    )?;
    check(dir.join("bin/busybox").exists(), "second is FROM builder")?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// Relative paths of everything under `dir`.
fn walk(dir: &Path) -> Result<Vec<String>, Failed> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            out.push(p.strip_prefix(dir)?.display().to_string());
            if e.file_type()?.is_dir() {
                todo.push(p);
            }
        }
    }
    Ok(out)
}

// ---- part 2: heredocs ----

const HEREDOCS: &str = "FROM busybox:base
ARG WHO=world
RUN <<EOF
echo \"hello $WHO\" > /simple
echo second line >> /simple
EOF
RUN <<-EOF
\techo tabs > /chomped
\tEOF
RUN cat <<a > /first && cat <<'b' > /second
one $WHO
a
two $WHO
b
RUN <<EOF
#!/bin/sh
echo \"script $0\" > /script
EOF
COPY <<EOF /etc/copied
copied $WHO
EOF
COPY <<\"EOF\" /literal
literal $WHO
EOF
COPY <<x <<y /dir/
X
x
Y
y
";

/// Every heredoc form BuildKit documents: a plain `RUN <<EOF` (the shell runs it),
/// `<<-` (tabs stripped), two on one line (the shell reads them, quoting decides its
/// expansion), a shebang heredoc run as a script, `COPY <<EOF`, a quoted delimiter
/// (no expansion), two files into a directory.
fn heredocs() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx("heredocs", HEREDOCS, &[])?;
    fx.build_ok(&ctx, &["-t", "heredocs:1"])?;
    let dir = fx.env.path("heredocs-rootfs");
    fx.env
        .ok(["unpack", "heredocs:1", &dir.display().to_string()])?;
    for (file, want) in [
        ("simple", "hello world\nsecond line\n"),
        ("chomped", "tabs\n"),
        ("first", "one world\n"),
        ("second", "two $WHO\n"),
        ("script", "script /dev/pipes/EOF\n"),
        ("etc/copied", "copied world\n"),
        ("literal", "literal $WHO\n"),
        ("dir/x", "X\n"),
        ("dir/y", "Y\n"),
    ] {
        let got = fs::read_to_string(dir.join(file)).unwrap_or_else(|e| format!("({e})"));
        check(got == want, format!("/{file}: {got:?}, want {want:?}"))?;
    }
    check(
        !dir.join("dev/pipes").exists(),
        "the script's mount is in the image",
    )?;
    // A rebuild is all cached; a changed heredoc body is not.
    let log = fx.build_ok(&ctx, &["-t", "heredocs:1"])?;
    check(
        log.matches("CACHED").count() == 7,
        format!("rebuild not fully cached:\n{log}"),
    )?;
    fs::write(
        ctx.join("Dockerfile"),
        HEREDOCS.replace("script $0", "script changed $0"),
    )?;
    let log = fx.build_ok(&ctx, &["-t", "heredocs:2"])?;
    check(
        log.matches("CACHED").count() == 3,
        format!("a changed script was cached:\n{log}"),
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

// ---- part 2: reproducible builds and outputs ----

const REPRO: &str = "FROM busybox:base
ARG SOURCE_DATE_EPOCH
RUN echo data > /data && mkdir -p /d/e && echo f > /d/e/f
COPY f /copied
";

const EPOCH: &str = "1700000000";

/// The same inputs built twice, the store wiped in between (and the context file's
/// mtime moved on, as on another day), SOURCE_DATE_EPOCH once as a build arg and once
/// from the environment: the same image id and manifest digest; every time in the
/// config clamped to the epoch. --iidfile and --metadata-file say so.
fn reproducible() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx("repro", REPRO, &[("f", "context file\n")])?;
    let (iid1, meta1) = (fx.env.path("iid1"), fx.env.path("meta1.json"));
    fx.build_ok(
        &ctx,
        &[
            "-t",
            "repro:1",
            "--build-arg",
            &format!("SOURCE_DATE_EPOCH={EPOCH}"),
            "--iidfile",
            &iid1.display().to_string(),
            "--metadata-file",
            &meta1.display().to_string(),
        ],
    )?;
    let id1 = fs::read_to_string(&iid1)?;
    let cfg = fx.config("repro:1")?;
    check(
        cfg["Id"] == id1.as_str(),
        format!("iidfile {id1} vs {}", cfg["Id"]),
    )?;
    let meta: Value = serde_json::from_slice(&fs::read(&meta1)?)?;
    check(
        meta["containerimage.config.digest"] == id1.as_str()
            && meta["containerimage.digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:"))
            && meta["image.name"] == "docker.io/library/repro:1",
        format!("metadata file: {meta}"),
    )?;
    check(
        cfg["Created"] == "2023-11-14T22:13:20Z",
        format!("created {}", cfg["Created"]),
    )?;
    // Wipe the store; the same base imported again (a new config time), the
    // context file touched: nothing an input's content is changes.
    fs::remove_dir_all(&fx.env.store)?;
    fx.env.ok([
        "import",
        "--change",
        "CMD [\"sh\"]",
        &fx.env.path("rootfs-busybox_base").display().to_string(),
        "busybox:base",
    ])?;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(ctx.join("f"), "context file\n")?;
    let iid2 = fx.env.path("iid2");
    let meta2 = fx.env.path("meta2.json");
    let out = Command::new(bin())
        .arg("--store")
        .arg(&fx.env.store)
        .args(["build", "--progress", "plain", "-t", "repro:2", "--runtime"])
        .arg(&fx.runtime)
        .arg("--iidfile")
        .arg(&iid2)
        .arg("--metadata-file")
        .arg(&meta2)
        .arg(&ctx)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .stdin(Stdio::null())
        .output()?;
    check(
        out.status.success(),
        format!("second build: {}", String::from_utf8_lossy(&out.stderr)),
    )?;
    let id2 = fs::read_to_string(&iid2)?;
    let meta2: Value = serde_json::from_slice(&fs::read(&meta2)?)?;
    check(
        id1 == id2,
        format!(
            "image ids differ: {id1} {id2}\n{cfg}\n{}",
            fx.config("repro:2")?
        ),
    )?;
    check(
        meta["containerimage.digest"] == meta2["containerimage.digest"],
        format!("manifest digests differ: {meta} {meta2}"),
    )?;
    // Without the epoch the same build is another image (the times are real).
    fx.build_ok(&ctx, &["-t", "repro:3", "--no-cache"])?;
    check(
        fx.config("repro:3")?["Id"] != id1.as_str(),
        "an image without SOURCE_DATE_EPOCH has the epoch's id",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// `--output` of each type, loaded back by the tools that read them: umoci (oci),
/// podman load (oci and docker) into a private store, the local rootfs read directly.
/// ctr import needs a containerd daemon: the commands test of the archive code covers
/// that format; here the docker archive goes through podman.
fn outputs() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx("outputs", REPRO, &[("f", "context file\n")])?;
    let oci = fx.env.path("out-oci.tar");
    let docker = fx.env.path("out-docker.tar");
    let local = fx.env.path("out-local");
    for out in [
        format!("type=oci,dest={}", oci.display()),
        format!("type=docker,dest={}", docker.display()),
        format!("type=local,dest={}", local.display()),
    ] {
        fx.build_ok(&ctx, &["-t", "out:1", "--output", &out])?;
    }
    check(
        fs::read_to_string(local.join("data"))? == "data\n"
            && fs::read_to_string(local.join("copied"))? == "context file\n",
        "type=local rootfs",
    )?;
    check(
        local.join("bin/busybox").is_file(),
        "type=local lacks the base",
    )?;
    let mut skipped = Vec::new();
    if have_tool("umoci") {
        let layout = fx.env.path("oci-layout");
        fs::create_dir_all(&layout)?;
        sh(Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-xf")
            .arg(&oci))?;
        let tags = sh(Command::new("umoci").arg("ls").arg("--layout").arg(&layout))?;
        let tag = tags.lines().next().unwrap_or("").trim().to_string();
        check(!tag.is_empty(), "the oci archive has no tag")?;
        let bundle = fx.env.path("umoci-bundle");
        sh(Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&bundle))?;
        check(
            fs::read_to_string(bundle.join("rootfs/data"))? == "data\n",
            "umoci unpack of the oci output",
        )?;
    } else {
        skipped.push("umoci");
    }
    if have_tool("podman") {
        let root = fx.env.path("podman-root");
        let runroot = fx.env.path("podman-runroot");
        for tar in [&oci, &docker] {
            let out = sh(Command::new("podman")
                .arg("--root")
                .arg(&root)
                .arg("--runroot")
                .arg(&runroot)
                .args(["--storage-driver", "vfs", "--events-backend", "file"])
                .args(["--cgroup-manager", "cgroupfs", "load", "-i"])
                .arg(tar))?;
            contains(&out, "Loaded image")?;
        }
        let images = sh(Command::new("podman")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args(["--storage-driver", "vfs", "--events-backend", "file"])
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ]))?;
        contains(&images, "docker.io/library/out:1")?;
    } else {
        skipped.push("podman");
    }
    if !skipped.is_empty() {
        eprintln!("outputs: not loaded back by {skipped:?} (not installed)");
    }
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

// ---- part 2: RUN --mount, RUN --network, COPY --link/--parents/--exclude, platforms ----

/// Whether the plain progress shows the step whose label contains `text` as cached.
fn step_cached(log: &str, text: &str) -> Option<bool> {
    let n = log.lines().find_map(|l| {
        let (num, rest) = l.split_once(' ')?;
        (num.starts_with('#') && rest.contains(text)).then(|| num.to_string())
    })?;
    Some(log.lines().any(|l| l == format!("{n} CACHED")))
}

const MOUNTS: &str = "FROM busybox:base AS gen
RUN mkdir /gen && echo from-stage > /gen/file
FROM busybox:base
ARG ROUND
RUN --mount=type=cache,target=/cache,id=build-20-cache \\
    echo \"round $ROUND saw: $(cat /cache/mark 2>/dev/null || echo nothing)\" > /cache-report \\
 && echo \"left by $ROUND\" > /cache/mark
RUN --mount=type=bind,target=/ctx cat /ctx/input.txt > /bind-report \\
 && (test -e /ctx/ignored.txt && echo ignored-visible || echo ignored-hidden) >> /bind-report \\
 && (touch /ctx/new 2>/dev/null && echo writable || echo readonly) >> /bind-report
RUN --mount=type=bind,from=gen,source=/gen,target=/g cat /g/file > /stage-report
RUN --mount=type=bind,target=/rw,rw echo changed > /rw/input.txt && cat /rw/input.txt > /rw-report
RUN --mount=type=tmpfs,target=/t,size=1m grep ' /t ' /proc/mounts | cut -d' ' -f3 > /tmpfs-report \\
 && echo x > /t/in-tmpfs
";

/// Each mount type: a cache mount keeps what the first build left for the second (a
/// file in it, not timing); a context bind is read-only and lacks what .dockerignore
/// excludes; a bind of another stage; an rw bind whose writes do not reach the
/// context; a tmpfs. No mount target is left in the image and the cache is not in any
/// layer. A changed file under a bind runs its step again.
fn run_mounts() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx(
        "mounts",
        MOUNTS,
        &[
            ("input.txt", "input\n"),
            ("ignored.txt", "no\n"),
            (".dockerignore", "ignored.txt\n"),
        ],
    )?;
    let mut reports = Vec::new();
    for round in ["1", "2"] {
        let tag = format!("build-20-mounts:{round}");
        fx.build_ok(
            &ctx,
            &["-t", &tag, "--build-arg", &format!("ROUND={round}")],
        )?;
        let dir = fx.env.path(&format!("mounts-rootfs-{round}"));
        fx.env.ok(["unpack", &tag, &dir.display().to_string()])?;
        reports.push(fs::read_to_string(dir.join("cache-report"))?);
        for (file, want) in [
            ("bind-report", "input\nignored-hidden\nreadonly\n"),
            ("stage-report", "from-stage\n"),
            ("rw-report", "changed\n"),
            ("tmpfs-report", "tmpfs\n"),
        ] {
            let got = fs::read_to_string(dir.join(file)).unwrap_or_else(|e| format!("({e})"));
            check(got == want, format!("/{file}: {got:?}, want {want:?}"))?;
        }
        for gone in ["cache", "ctx", "g", "rw", "t"] {
            check(
                !dir.join(gone).exists(),
                format!("/{gone} (a mount target) is in the image"),
            )?;
        }
    }
    check(
        reports == ["round 1 saw: nothing\n", "round 2 saw: left by 1\n"],
        format!("cache reports: {reports:?}"),
    )?;
    check(
        fs::read_to_string(ctx.join("input.txt"))? == "input\n" && !ctx.join("new").exists(),
        "a bind mount changed the context",
    )?;
    // A bound file changes: that step runs again, the cache step before it does not.
    fs::write(ctx.join("input.txt"), "changed input\n")?;
    let log = fx.build_ok(&ctx, &["-t", "build-20-mounts:3", "--build-arg", "ROUND=2"])?;
    check(
        step_cached(&log, "RUN --mount=type=cache") == Some(true)
            && step_cached(&log, "RUN --mount=type=bind,target=/ctx") == Some(false),
        format!("cache after a bound file changed:\n{log}"),
    )?;
    let dir = fx.env.path("mounts-rootfs-3");
    fx.env
        .ok(["unpack", "build-20-mounts:3", &dir.display().to_string()])?;
    check(
        fs::read_to_string(dir.join("bind-report"))?.starts_with("changed input\n"),
        "the rebuilt bind step saw the old file",
    )?;
    // The cache lives in the store's folder, outside every layer.
    let caches: Vec<_> = fs::read_dir(fx.env.store.join("build-mounts/cache"))?
        .flatten()
        .filter(|e| e.path().join("mark").is_file())
        .collect();
    check(caches.len() == 1, format!("{} cache dirs", caches.len()))?;
    check(
        fs::read_to_string(caches[0].path().join("mark"))? == "left by 2\n",
        "the cache's file",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

const SECRET: &str = "S3CRET-build-20-value";

/// The files under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Result<Vec<String>, Failed> {
    let mut out = Vec::new();
    for rel in walk(dir)? {
        let p = dir.join(&rel);
        if p.is_file()
            && fs::read(&p)?
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        {
            out.push(rel);
        }
    }
    Ok(out)
}

/// `--secret id=tok,src=FILE`: at /run/secrets/tok, at a target with a mode, as an
/// environment variable; an optional secret not given is not mounted. The value is in
/// no layer, no config or history, and nowhere in the store.
fn run_mount_secret() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let sum = sha256_hex(SECRET.as_bytes());
    let dockerfile = format!(
        "FROM busybox:base
RUN --mount=type=secret,id=tok test \"$(sha256sum < /run/secrets/tok | cut -c1-64)\" = {sum} && echo ok > /secret-ok
RUN --mount=type=secret,id=tok,target=/etc/tokfile,mode=0440 stat -c %a /etc/tokfile > /secret-mode
RUN --mount=type=secret,id=tok,env=TOK test \"$(echo -n \"$TOK\" | sha256sum | cut -c1-64)\" = {sum} && echo ok > /secret-env
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo ok > /absent
"
    );
    let ctx = fx.ctx("secret", &dockerfile, &[])?;
    let file = fx.env.path("secret-file");
    fs::write(&file, SECRET)?;
    fx.build_ok(
        &ctx,
        &[
            "-t",
            "build-20-secret:1",
            "--secret",
            &format!("id=tok,src={}", file.display()),
        ],
    )?;
    let dir = fx.env.path("secret-rootfs");
    fx.env
        .ok(["unpack", "build-20-secret:1", &dir.display().to_string()])?;
    for (f, want) in [
        ("secret-ok", "ok\n"),
        ("secret-mode", "440\n"),
        ("secret-env", "ok\n"),
        ("absent", "ok\n"),
    ] {
        let got = fs::read_to_string(dir.join(f)).unwrap_or_else(|e| format!("({e})"));
        check(got == want, format!("/{f}: {got:?}, want {want:?}"))?;
    }
    check(
        !dir.join("run/secrets").exists(),
        "/run/secrets in the image",
    )?;
    check(
        !dir.join("etc/tokfile").exists(),
        "/etc/tokfile in the image",
    )?;
    // Every blob of the saved image (each layer tar, the config with its history, the
    // manifest), the inspect and history output, and every file of the store.
    let saved = fx.env.path("secret-save.tar");
    fx.env.ok([
        "save",
        "-o",
        &saved.display().to_string(),
        "build-20-secret:1",
    ])?;
    let unpacked = fx.env.path("secret-save");
    fs::create_dir_all(&unpacked)?;
    sh(Command::new("tar")
        .arg("-C")
        .arg(&unpacked)
        .arg("-xf")
        .arg(&saved))?;
    let mut layers = 0;
    for rel in walk(&unpacked)? {
        let p = unpacked.join(&rel);
        if p.is_file() {
            let data = fs::read(&p)?;
            if data.len() > 262 && &data[257..262] == b"ustar" {
                layers += 1;
            }
            check(
                !data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                format!("the secret is in {rel} of the saved image"),
            )?;
        }
    }
    check(layers >= 4, format!("only {layers} layer tars in the save"))?;
    for args in [
        vec!["inspect", "build-20-secret:1"],
        vec!["history", "--no-trunc", "build-20-secret:1"],
    ] {
        let out = fx.env.ok(&args)?;
        check(!out.contains(SECRET), format!("{args:?} shows the secret"))?;
    }
    let found = files_holding(&fx.env.store, SECRET)?;
    check(
        found.is_empty(),
        format!("the secret is in the store's {found:?}"),
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// The network interfaces in /proc/net/dev.
fn net_devices(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect();
    v.sort();
    v
}

/// RUN's network: the build default is none (loopback only), `--network=host` sees the
/// host's interfaces, `default` follows `build --network`. (`--security=sandbox`, the
/// default, is accepted.)
fn run_network() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx(
        "network",
        "FROM busybox:base
RUN cat /proc/net/dev > /net-plain
RUN --network=none cat /proc/net/dev > /net-none
RUN --network=host cat /proc/net/dev > /net-host
RUN --network=default cat /proc/net/dev > /net-default
RUN --security=sandbox echo sandboxed > /security
",
        &[],
    )?;
    // Other tests add and remove links meanwhile: the host's view is every device there
    // both before and after a build, and nothing that was never there.
    let is_host = |seen: &[String], before: &[String], after: &[String]| {
        before
            .iter()
            .filter(|d| after.contains(d))
            .all(|d| seen.contains(d))
            && seen.iter().all(|d| before.contains(d) || after.contains(d))
            && seen.len() > 1
    };
    for (tag, extra, default_is_host) in [
        ("build-20-net:1", None, false),
        ("build-20-net:2", Some("host"), true),
    ] {
        let mut args = vec!["-t", tag];
        if let Some(n) = extra {
            args.extend(["--network", n]);
        }
        let before = net_devices(&fs::read_to_string("/proc/net/dev")?);
        fx.build_ok(&ctx, &args)?;
        let after = net_devices(&fs::read_to_string("/proc/net/dev")?);
        let dir = fx.env.path(&format!("net-{}", tag.replace(':', "-")));
        fx.env.ok(["unpack", tag, &dir.display().to_string()])?;
        let read = |f: &str| -> Result<Vec<String>, Failed> {
            Ok(net_devices(&fs::read_to_string(dir.join(f))?))
        };
        let lo = vec!["lo".to_string()];
        check(
            read("net-none")? == lo,
            format!("none: {:?}", read("net-none")?),
        )?;
        check(
            is_host(&read("net-host")?, &before, &after),
            format!("host: {:?} (host {before:?} {after:?})", read("net-host")?),
        )?;
        let is_want = |seen: &[String]| {
            if default_is_host {
                is_host(seen, &before, &after)
            } else {
                seen == lo.as_slice()
            }
        };
        check(
            is_want(&read("net-default")?) && is_want(&read("net-plain")?),
            format!(
                "default ({tag}): {:?} {:?}",
                read("net-default")?,
                read("net-plain")?
            ),
        )?;
    }
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// COPY --parents (with and without the `/./` pivot), --exclude (repeated, on a
/// directory and on wildcard sources) checked in the image.
fn copy_parents_exclude() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx(
        "copyflags",
        "FROM busybox:base
COPY --parents app/src/a.txt other/c.txt /p/
COPY --parents app/docs /p2/
COPY --parents app/./src/ /pivot/
COPY --exclude=**/*.log --exclude=docs app/ /ex/
COPY --exclude=*.txt keep.txt app/src/* /glob/
",
        &[
            ("app/src/a.txt", "a\n"),
            ("app/src/b.log", "b\n"),
            ("app/docs/readme.md", "r\n"),
            ("other/c.txt", "c\n"),
            ("keep.txt", "k\n"),
        ],
    )?;
    fx.build_ok(&ctx, &["-t", "build-20-copy:1"])?;
    let dir = fx.env.path("copy-rootfs");
    fx.env
        .ok(["unpack", "build-20-copy:1", &dir.display().to_string()])?;
    let mut got: Vec<String> = walk(&dir)?
        .into_iter()
        // What busybox:base brings.
        .filter(|p| !["bin", "etc", "tmp"].iter().any(|b| p.starts_with(b)))
        .collect();
    got.sort();
    let want = [
        "ex",
        "ex/src",
        "ex/src/a.txt",
        "glob",
        "glob/b.log",
        "p",
        "p/app",
        "p/app/src",
        "p/app/src/a.txt",
        "p/other",
        "p/other/c.txt",
        "p2",
        "p2/app",
        "p2/app/docs",
        "p2/app/docs/readme.md",
        "pivot",
        "pivot/src",
        "pivot/src/a.txt",
        "pivot/src/b.log",
    ];
    check(got == want, format!("rootfs: {got:?}\nwant {want:?}"))?;
    check(
        fs::read_to_string(dir.join("p/other/c.txt"))? == "c\n",
        "--parents content",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// COPY --link: after the base image changes, the linked copy is a cache hit (the
/// same layer digest) while the plain COPY and the RUN after it run again.
fn copy_link() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let base = fx.ctx(
        "link-base",
        "FROM busybox:base\nRUN echo v1 > /basefile\n",
        &[],
    )?;
    fx.build_ok(&base, &["-t", "build-20-linkbase:1"])?;
    let ctx = fx.ctx(
        "link",
        "FROM build-20-linkbase:1
COPY --link f /opt/linked
COPY f /plain
RUN cat /basefile /opt/linked > /after
",
        &[("f", "context file\n")],
    )?;
    fx.build_ok(&ctx, &["-t", "build-20-link:1"])?;
    let layers1 = fx.config("build-20-link:1")?["RootFS"]["Layers"].clone();
    fs::write(
        base.join("Dockerfile"),
        "FROM busybox:base\nRUN echo v2 > /basefile\n",
    )?;
    fx.build_ok(&base, &["-t", "build-20-linkbase:1"])?;
    let log = fx.build_ok(&ctx, &["-t", "build-20-link:2"])?;
    check(
        step_cached(&log, "COPY --link f /opt/linked") == Some(true),
        format!("the linked copy was not cached after the base changed:\n{log}"),
    )?;
    check(
        step_cached(&log, "COPY f /plain") == Some(false)
            && step_cached(&log, "RUN cat") == Some(false),
        format!("steps after a changed base were cached:\n{log}"),
    )?;
    let layers2 = fx.config("build-20-link:2")?["RootFS"]["Layers"].clone();
    // busybox, the base's RUN, the link, the copy, the RUN: the link's layer is the same.
    check(
        layers1[2] == layers2[2] && layers1[1] != layers2[1],
        format!("layers: {layers1} {layers2}"),
    )?;
    let dir = fx.env.path("link-rootfs");
    fx.env
        .ok(["unpack", "build-20-link:2", &dir.display().to_string()])?;
    check(
        fs::read_to_string(dir.join("after"))? == "v2\ncontext file\n",
        "the linked file over the new base",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// The automatic platform ARGs (global in FROM, in a stage after `ARG NAME`), a
/// `FROM --platform=$BUILDPLATFORM` stage that runs here while the target is
/// linux/arm64, the target's config naming arm64, and a RUN for arm64 refused naming the
/// missing emulator.
fn platforms() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx(
        "platforms",
        "FROM --platform=$BUILDPLATFORM busybox:base AS b
RUN echo \"[$TARGETPLATFORM]\" > /undeclared
ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT
ARG BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT
RUN echo \"$TARGETPLATFORM $TARGETOS $TARGETARCH [$TARGETVARIANT] $BUILDPLATFORM $BUILDOS $BUILDARCH [$BUILDVARIANT]\" > /args
FROM scratch
COPY --from=b /args /undeclared /
",
        &[],
    )?;
    for (platform, want, arch) in [
        (
            None,
            "linux/amd64 linux amd64 [] linux/amd64 linux amd64 []\n",
            "amd64",
        ),
        (
            Some("linux/arm64"),
            "linux/arm64 linux arm64 [] linux/amd64 linux amd64 []\n",
            "arm64",
        ),
        (
            Some("linux/arm/v7"),
            "linux/arm/v7 linux arm [v7] linux/amd64 linux amd64 []\n",
            "arm",
        ),
    ] {
        let tag = format!("build-20-plat:{arch}");
        let mut args = vec!["-t", tag.as_str()];
        if let Some(p) = platform {
            args.extend(["--platform", p]);
        }
        fx.build_ok(&ctx, &args)?;
        let dir = fx.env.path(&format!("plat-{arch}"));
        fx.env.ok(["unpack", &tag, &dir.display().to_string()])?;
        let got = fs::read_to_string(dir.join("args"))?;
        check(got == want, format!("{platform:?}: {got:?}, want {want:?}"))?;
        check(
            fs::read_to_string(dir.join("undeclared"))? == "[]\n",
            "TARGETPLATFORM without an ARG line was set",
        )?;
        let cfg = fx.config(&tag)?;
        check(
            cfg["Architecture"] == arch,
            format!("{platform:?}: architecture {}", cfg["Architecture"]),
        )?;
    }
    // A RUN in an arm64 stage: refused, nothing tagged, nothing left.
    let bad = fx.ctx(
        "platform-run",
        "FROM --platform=linux/arm64 scratch\nCOPY f /f\nRUN true\n",
        &[("f", "x")],
    )?;
    let out = fx.build(&bad, &["-t", "build-20-arm:1"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    check(
        out.status.code() == Some(1),
        format!("exit {:?}", out.status),
    )?;
    contains(
        &err,
        "Dockerfile:3: RUN true: RUN for linux/arm64 needs an emulator",
    )?;
    contains(&err, "qemu-aarch64")?;
    check(
        fx.env.run(["inspect", "build-20-arm:1"]).status.code() != Some(0),
        "tagged",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

const ORACLE_MOUNTS: &str = "FROM busybox:base AS gen
RUN mkdir /gen && echo from-stage > /gen/file
FROM busybox:base
RUN --mount=type=cache,target=/cache,id=build-20-oracle echo x > /cache/f && ls /cache > /cache-report
RUN --mount=type=bind,target=/ctx cat /ctx/input.txt > /bind-report \\
 && (touch /ctx/new 2>/dev/null && echo writable || echo readonly) >> /bind-report
RUN --mount=type=bind,from=gen,source=/gen,target=/g cat /g/file > /stage-report
RUN --mount=type=bind,target=/rw,rw echo changed > /rw/input.txt && cat /rw/input.txt > /rw-report
RUN --mount=type=tmpfs,target=/t grep ' /t ' /proc/mounts | cut -d' ' -f3 > /tmpfs-report
RUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok | wc -c > /secret-report
";

/// buildah 1.28 (which has these mount types and `--secret`) against the same
/// Dockerfile: every report a RUN wrote agrees, and neither puts the secret in the image.
/// (`required=true`, not a bare `required`: buildah 1.28 panics on a key without `=`,
/// which BuildKit reads as true.)
fn buildah_mounts() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let bdir = fx.env.path("buildah-mounts");
    fs::create_dir_all(&bdir)?;
    let archive = fx.env.path("base.tar");
    fx.env
        .ok(["save", "-o", &archive.display().to_string(), "busybox:base"])?;
    let ctx = fx.ctx("oracle-mounts", ORACLE_MOUNTS, &[("input.txt", "input\n")])?;
    let secret = fx.env.path("oracle-secret");
    fs::write(&secret, SECRET)?;
    let secret_flag = format!("id=tok,src={}", secret.display());
    let result = (|| -> TestResult {
        buildah_base(&bdir, &archive)?;
        let tag = "build-20-oracle-mounts:1";
        fx.build_ok(&ctx, &["-t", tag, "--secret", &secret_flag])?;
        check(
            fs::read_to_string(ctx.join("input.txt"))? == "input\n",
            "sangja's rw bind changed the context",
        )?;
        buildah(
            &bdir,
            &[
                "bud",
                "--isolation",
                "chroot",
                "--secret",
                &secret_flag,
                "-t",
                tag,
                &ctx.display().to_string(),
            ],
        )?;
        let ours = fx.env.path("oracle-mounts-ours");
        fx.env.ok(["unpack", tag, &ours.display().to_string()])?;
        let oci = fx.env.path("oracle-mounts-theirs.tar");
        buildah(
            &bdir,
            &["push", tag, &format!("oci-archive:{}", oci.display())],
        )?;
        let theirs_env = Env::new();
        let loaded = theirs_env.ok(["load", "-i", &oci.display().to_string()])?;
        let id = loaded.split_whitespace().last().unwrap_or("").to_string();
        let theirs = fx.env.path("oracle-mounts-theirs");
        theirs_env.ok(["unpack", &id, &theirs.display().to_string()])?;
        let mut problems = Vec::new();
        for f in [
            "cache-report",
            "bind-report",
            "stage-report",
            "rw-report",
            "tmpfs-report",
            "secret-report",
        ] {
            let a = fs::read_to_string(ours.join(f)).unwrap_or_else(|e| format!("({e})"));
            let b = fs::read_to_string(theirs.join(f)).unwrap_or_else(|e| format!("({e})"));
            if a != b {
                problems.push(format!("/{f}: sangja {a:?} buildah {b:?}"));
            }
        }
        // Where buildah departs from BuildKit, docker's documented behaviour decides
        // (checked for sangja above); shown for information.
        if fs::read_to_string(ctx.join("input.txt"))? != "input\n" {
            eprintln!(
                "buildah 1.28 wrote an rw bind mount through to the context (BuildKit throws the writes away, as sangja)"
            );
        }
        for (who, dir) in [("sangja", &ours), ("buildah", &theirs)] {
            for rel in files_holding(dir, SECRET)? {
                problems.push(format!("{who}: the secret is in /{rel}"));
            }
        }
        check(problems.is_empty(), problems.join("\n"))
    })();
    buildah_rm_all(&bdir);
    result?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}

/// Each stage marks a shared cache directory and waits for the other's mark: both
/// finish only when they run at the same time (no timing: a stage alone gives up after
/// WAIT tries and fails).
const AT_ONCE: &str = "ARG ID
FROM busybox:base AS a
ARG ID
ARG WAIT=600
RUN --mount=type=cache,target=/sync,id=$ID touch /sync/a && i=0; \\
    while [ ! -e /sync/b ] && [ $i -lt $WAIT ]; do sleep 0.1; i=$((i+1)); done; \\
    test -e /sync/b && echo met-b > /a
FROM busybox:base AS b
ARG ID
ARG WAIT=600
RUN --mount=type=cache,target=/sync,id=$ID touch /sync/b && i=0; \\
    while [ ! -e /sync/a ] && [ $i -lt $WAIT ]; do sleep 0.1; i=$((i+1)); done; \\
    test -e /sync/a && echo met-a > /b
FROM scratch
COPY --from=a /a /a
COPY --from=b /b /b
";

/// `--jobs 2`: two independent stages run at once (each sees the other's mark) and the
/// progress says so; `--jobs 1` runs them one after the other, so the first gives up.
fn stages_at_once() -> TestResult {
    let fx = Fx::new(sangja_bin())?;
    let ctx = fx.ctx("at-once", AT_ONCE, &[])?;
    let log = fx.build_ok(
        &ctx,
        &[
            "-t",
            "build-20-jobs:1",
            "--jobs",
            "2",
            "--build-arg",
            "ID=build-20-jobs-two",
        ],
    )?;
    contains(&log, "[internal] stages a, b run at once (--jobs 2)")?;
    let dir = fx.env.path("jobs-rootfs");
    fx.env
        .ok(["unpack", "build-20-jobs:1", &dir.display().to_string()])?;
    check(
        fs::read_to_string(dir.join("a"))? == "met-b\n"
            && fs::read_to_string(dir.join("b"))? == "met-a\n",
        "the stages did not meet",
    )?;
    let out = fx.build(
        &ctx,
        &[
            "-t",
            "build-20-jobs:2",
            "--jobs",
            "1",
            "--build-arg",
            "ID=build-20-jobs-one",
            "--build-arg",
            "WAIT=5",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    check(
        out.status.code() == Some(1) && !err.contains("run at once"),
        format!("--jobs 1: {:?}\n{err}", out.status),
    )?;
    contains(&err, "did not complete successfully: exit code: 1")?;
    // One of two stages running together fails: that failure is the build's (not the
    // other stage's stop), nothing is tagged.
    let failing = fx.ctx(
        "at-once-fail",
        "FROM busybox:base AS a
RUN echo a-failing; exit 3
FROM busybox:base AS b
RUN true
RUN echo b > /b
FROM scratch
COPY --from=a /bin/busybox /a
COPY --from=b /b /b
",
        &[],
    )?;
    let out = fx.build(&failing, &["-t", "build-20-jobs:3", "--jobs", "2"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    check(
        out.status.code() == Some(1),
        format!("{:?}\n{err}", out.status),
    )?;
    contains(&err, "Dockerfile:2: RUN echo a-failing; exit 3: process")?;
    contains(&err, "exit code: 3")?;
    check(
        fx.env.run(["inspect", "build-20-jobs:3"]).status.code() != Some(0),
        "tagged",
    )?;
    check(
        fx.leftovers().is_empty(),
        format!("left: {:?}", fx.leftovers()),
    )
}
