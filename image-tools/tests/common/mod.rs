//! Shared helpers for the sangja-image integration tests: a private store per test,
//! running the binary, fixture rootfs trees, and tree snapshots to compare results.
#![allow(dead_code)]

pub mod pty;

use libtest_mimic::{Failed, Trial};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub type TestResult = Result<(), Failed>;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sangja-image")
}

/// A temp directory (removed on drop, even when the test fails) with a store in it.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("sangja-image-test")
            .tempdir()
            .expect("temp dir");
        let store = dir.path().join("store");
        Env { dir, store }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new(bin())
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run sangja-image")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok<I, S>(&self, args: I) -> Result<String, Failed>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        let out = self.run(&args);
        if !out.status.success() {
            return Err(format!(
                "sangja-image {:?} failed ({}): {}",
                args,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs and requires failure; returns stderr.
    pub fn fails<I, S>(&self, args: I) -> Result<String, Failed>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        let out = self.run(&args);
        if out.status.success() {
            return Err(format!(
                "sangja-image {:?} succeeded but should have failed: {}",
                args,
                String::from_utf8_lossy(&out.stdout)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// A busybox image imported under `name` with the given changes; returns the rootfs used.
    pub fn busybox_image(&self, name: &str, changes: &[&str]) -> Result<PathBuf, Failed> {
        let rootfs = self.path(&format!("rootfs-{}", name.replace([':', '/'], "_")));
        busybox_rootfs(&rootfs)?;
        let mut args = vec!["import".to_string()];
        for c in changes {
            args.push("--change".into());
            args.push(c.to_string());
        }
        args.push(rootfs.display().to_string());
        args.push(name.to_string());
        self.ok(&args)?;
        Ok(rootfs)
    }
}

pub fn check(cond: bool, msg: impl std::fmt::Display) -> TestResult {
    if cond {
        Ok(())
    } else {
        Err(msg.to_string().into())
    }
}

pub fn contains(haystack: &str, needle: &str) -> TestResult {
    check(
        haystack.contains(needle),
        format!("expected {needle:?} in:\n{haystack}"),
    )
}

/// A minimal busybox rootfs with users, groups, and a sticky /tmp.
pub fn busybox_rootfs(root: &Path) -> TestResult {
    fs::create_dir_all(root.join("bin"))?;
    fs::create_dir_all(root.join("etc"))?;
    fs::create_dir_all(root.join("tmp"))?;
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::copy("/bin/busybox", root.join("bin/busybox"))?;
    let list = Command::new("/bin/busybox").arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))?;
        }
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n",
    )?;
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nbob:x:1000:\naudio:x:29:bob\n",
    )?;
    Ok(())
}

pub fn have_tool(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    nix_uid() == 0
}

fn nix_uid() -> u32 {
    fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// A trial that needs some tools and root: skipped (ignored, with the reason printed)
/// when they are missing, never passed silently.
pub fn trial(name: &str, needs: &[&str], f: fn() -> TestResult) -> Trial {
    let mut missing: Vec<String> = needs
        .iter()
        .filter(|t| !have_tool(t))
        .map(|t| format!("{t} not installed"))
        .collect();
    if !is_root() {
        missing.push("needs root (chown, mknod, xattrs)".into());
    }
    if !Path::new("/bin/busybox").is_file() {
        missing.push("/bin/busybox (busybox-static) not installed".into());
    }
    let trial = Trial::test(name, f);
    if missing.is_empty() {
        trial
    } else {
        eprintln!("SKIPPED {name}: {}", missing.join(", "));
        trial.with_ignored_flag(true)
    }
}

pub fn run_trials(trials: Vec<Trial>) -> ! {
    let args = libtest_mimic::Arguments::from_args();
    libtest_mimic::run(&args, trials).exit()
}

/// Runs a host command, requiring success.
pub fn sh(cmd: &mut Command) -> Result<String, Failed> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a tree holds, path by path: type, mode, owner, link target, size and content hash.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        let ft = m.file_type();
        let desc = if ft.is_symlink() {
            format!("link -> {}", fs::read_link(&path).unwrap().display())
        } else if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_file() {
            let data = fs::read(&path).unwrap_or_default();
            format!("file {} {:x}", data.len(), fnv(&data))
        } else if ft.is_char_device() || ft.is_block_device() {
            format!("dev {}", m.rdev())
        } else if ft.is_fifo() {
            "fifo".to_string()
        } else {
            "other".to_string()
        };
        let mode = if ft.is_symlink() {
            0
        } else {
            m.mode() & 0o7777
        };
        out.insert(
            rel,
            format!("{desc} mode={mode:o} owner={}:{}", m.uid(), m.gid()),
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Differences between two snapshots, one line each.
pub fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("only in first: {k} {v}")),
            Some(w) if w != v => out.push(format!("{k}: {v} vs {w}")),
            _ => {}
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            out.push(format!("only in second: {k} {v}"));
        }
    }
    out
}

/// A tar layer built entry by entry, with raw names (so hostile names can be written).
pub struct RawTar {
    buf: Vec<u8>,
}

impl Default for RawTar {
    fn default() -> Self {
        Self::new()
    }
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar { buf: Vec::new() }
    }

    pub fn entry(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
    ) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        {
            let u = h.as_ustar_mut().unwrap();
            u.name[..name.len()].copy_from_slice(name.as_bytes());
            u.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, tar::EntryType::Regular, "", data, 0o644)
    }
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Directory, "", b"", 0o755)
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Symlink, target, b"", 0o777)
    }
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Link, target, b"", 0o644)
    }

    /// A GNU sparse entry (`S`) of apparent size `real_size` holding `segments`
    /// (offset, bytes) of data; up to four segments, in the header itself. Every segment
    /// but the last must be a multiple of 512 bytes long.
    pub fn sparse(&mut self, name: &str, real_size: u64, segments: &[(u64, &[u8])]) -> &mut Self {
        assert!(segments.len() <= 4, "only the header's four sparse slots");
        // Octal when it fits, else GNU base-256 (high bit set, big-endian).
        let octal = |field: &mut [u8], v: u64| {
            let s = format!("{v:0width$o}", width = field.len() - 1);
            if s.len() < field.len() {
                field[..s.len()].copy_from_slice(s.as_bytes());
                field[s.len()] = 0;
            } else {
                field.fill(0);
                let n = field.len();
                field[n - 8..].copy_from_slice(&v.to_be_bytes());
                field[0] = 0x80;
            }
        };
        let mut h = tar::Header::new_gnu();
        let stored: usize = segments.iter().map(|(_, d)| d.len()).sum();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            for (slot, (off, data)) in g.sparse.iter_mut().zip(segments) {
                octal(&mut slot.offset, *off);
                octal(&mut slot.numbytes, data.len() as u64);
            }
            octal(&mut g.realsize, real_size);
        }
        h.set_entry_type(tar::EntryType::GNUSparse);
        h.set_mode(0o644);
        h.set_size(stored as u64);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        for (_, data) in segments {
            self.buf.extend_from_slice(data);
        }
        let pad = (512 - stored % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn finish(&self) -> Vec<u8> {
        let mut b = self.buf.clone();
        b.extend(std::iter::repeat_n(0u8, 1024));
        b
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    sangja_image::digest::Digest::of_bytes(data)
        .hex()
        .to_string()
}

/// A docker-archive holding one image made of `layers` (uncompressed tars).
pub fn docker_archive(name: &str, layers: &[Vec<u8>], cmd: &[&str]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let config = serde_json::json!({
        "architecture": sangja_seccomp::docker_profile::native_arch(),
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| serde_json::json!({"created_by": "test layer"})).collect::<Vec<_>>(),
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", sha256_hex(&config));
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, path, data).unwrap();
    };
    let mut layer_paths = Vec::new();
    for l in layers {
        let p = format!("{}/layer.tar", sha256_hex(l));
        add(&p, l);
        layer_paths.push(p);
    }
    add(&config_name, &config);
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": [name], "Layers": layer_paths}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    builder.into_inner().unwrap()
}

/// Entries of a directory, by name (none when it is missing).
#[allow(dead_code)]
pub fn dir_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// What containers leave in and under a store: container directories (and unfinished
/// removals), runtime state, volumes and mounts under it.
#[allow(dead_code)]
pub fn store_leftovers(store: &Path) -> Vec<String> {
    let mut left = Vec::new();
    let containers = store.join("containers");
    for n in dir_names(&containers) {
        if !n.starts_with('.') || n.starts_with(".removing-") {
            left.push(format!("container directory {n}"));
        }
    }
    for n in dir_names(&containers.join(".state")) {
        left.push(format!("runtime state {n}"));
    }
    for n in dir_names(&store.join("volumes")) {
        left.push(format!("volume {n}"));
    }
    let prefix = store.to_string_lossy().into_owned();
    for line in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        if let Some(point) = line.split(' ').nth(4).filter(|p| p.starts_with(&prefix)) {
            left.push(format!("mount {point}"));
        }
    }
    left
}

/// Processes whose command line is exactly `args` (NUL-separated in /proc).
#[allow(dead_code)]
pub fn processes_running(args: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    dir_names(Path::new("/proc"))
        .into_iter()
        .filter_map(|p| p.parse::<u32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

/// Polls `done` every 50 ms until it holds; fails after a minute (a guard against a
/// hang, not a time limit on what is tested).
pub fn wait_until(what: &str, mut done: impl FnMut() -> Result<bool, Failed>) -> TestResult {
    for _ in 0..1200 {
        if done()? {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("gave up waiting for {what}").into())
}
