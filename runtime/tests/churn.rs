//! Churn (issue 27): many container lifecycles in a row — create/start/kill/delete, `run`,
//! and exec into a running container — then the host is checked for anything left behind
//! (mounts, cgroups, processes, state folders, FIFOs, descriptors of this process), and
//! the runtime's peak memory of the last cycles is compared with the first ones.
//!
//! `SANGJA_CHURN_CYCLES` sets the count: 100 in `make test`, 1000 in `make soak`. The time
//! per cycle is printed for the record, never asserted (benchmarks measure speed).

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::leftovers::Snapshot;
use common::Env;
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let trial = if nix::unistd::geteuid().is_root() {
        Trial::test("churn_leaves_nothing_and_does_not_grow", churn)
    } else {
        Trial::test("churn_leaves_nothing_and_does_not_grow", || Ok(()))
            .with_ignored_flag(true)
            .with_kind("not root: the trials create containers")
    };
    libtest_mimic::run(&args, vec![trial]).exit();
}

struct Ran {
    ok: bool,
    /// Peak resident memory of the sangja process, KiB (getrusage of that one child).
    max_rss_kib: i64,
    err: String,
}

/// One sangja command, reaped with wait4 so its own peak RSS is known.
fn sangja(env: &Env, args: &[&str]) -> Result<Ran, Failed> {
    let err = env.dir.join("churn-err");
    let child = Command::new(common::runtime())
        .arg("--root")
        .arg(env.root())
        .args(args)
        .current_dir(&env.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err)?)
        .process_group(0)
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with pointers to live locals; std never reaps it
    // because the Child is forgotten below.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child);
    if r != pid {
        return Err(format!("wait4 {pid}: {}", std::io::Error::last_os_error()).into());
    }
    Ok(Ran {
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        max_rss_kib: usage.ru_maxrss,
        err: std::fs::read_to_string(&err).unwrap_or_default(),
    })
}

fn must(env: &Env, args: &[&str], rss: &mut Vec<i64>) -> Result<(), Failed> {
    let r = sangja(env, args)?;
    if !r.ok {
        return Err(format!("sangja {args:?}: {}", r.err.trim()).into());
    }
    rss.push(r.max_rss_kib);
    Ok(())
}

fn churn() -> Result<(), Failed> {
    let cycles: usize = std::env::var("SANGJA_CHURN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let marker = format!("sjch{}", std::process::id());
    let env = Env::new(&marker);
    let sleeper = env.bundle(&["sleep", "1000"]);
    // The `run` cycles use a second bundle whose process exits at once.
    let quick = env.dir.join("quick");
    std::fs::create_dir_all(&quick)?;
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sleeper.join("config.json"))?)?;
    cfg["process"]["args"] = serde_json::json!(["true"]);
    cfg["root"]["path"] = serde_json::json!(sleeper.join("rootfs"));
    std::fs::write(quick.join("config.json"), serde_json::to_vec(&cfg)?)?;
    let (sleeper, quick) = (sleeper.to_str().unwrap(), quick.to_str().unwrap());

    let before = Snapshot::take(&marker, &env.root());
    let mut per_cycle_rss = Vec::with_capacity(cycles);
    let mut per_cycle_ms = Vec::with_capacity(cycles);
    for n in 0..cycles {
        let id = format!("{marker}-{n}");
        let t = Instant::now();
        let mut rss = Vec::new();
        match n % 3 {
            0 => {
                must(&env, &["create", "-b", sleeper, &id], &mut rss)?;
                must(&env, &["start", &id], &mut rss)?;
                must(&env, &["kill", &id, "KILL"], &mut rss)?;
                must(&env, &["delete", "--force", &id], &mut rss)?;
            }
            1 => must(&env, &["run", "-b", quick, &id], &mut rss)?,
            _ => {
                must(&env, &["create", "-b", sleeper, &id], &mut rss)?;
                must(&env, &["start", &id], &mut rss)?;
                must(&env, &["exec", &id, "true"], &mut rss)?;
                must(&env, &["exec", "-d", &id, "sleep", "100"], &mut rss)?;
                must(&env, &["delete", "--force", &id], &mut rss)?;
            }
        }
        per_cycle_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        per_cycle_rss.push(rss.into_iter().max().unwrap_or(0));
    }
    let after = Snapshot::take(&marker, &env.root());
    let left = before.left_by(&after);
    if !left.is_empty() {
        return Err(format!("after {cycles} cycles: {}", left.join("; ")).into());
    }
    // The first and last tenth, per kind of cycle alike (both cover all three kinds).
    let tenth = (cycles / 10).max(3);
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let rss: Vec<f64> = per_cycle_rss.iter().map(|&k| k as f64).collect();
    let (rss_first, rss_last) = (median(&rss[..tenth]), median(&rss[rss.len() - tenth..]));
    let (ms_first, ms_last) = (
        median(&per_cycle_ms[..tenth]),
        median(&per_cycle_ms[per_cycle_ms.len() - tenth..]),
    );
    println!(
        "churn: {cycles} cycles, nothing left; sangja peak RSS median first {tenth}: {rss_first} KiB, last {tenth}: {rss_last} KiB; ms per cycle median first: {ms_first:.1}, last: {ms_last:.1}"
    );
    // Each sangja process starts afresh, so its peak must not follow how many ran before:
    // growth here would be state the runtime reads that grows (the --root, a log).
    if rss_last > rss_first * 1.10 + 256.0 {
        return Err(format!(
            "sangja's peak RSS grew over the run: {rss_first} KiB in the first cycles, {rss_last} KiB in the last"
        )
        .into());
    }
    Ok(())
}
