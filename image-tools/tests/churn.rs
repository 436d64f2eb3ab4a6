//! Churn of `sangja-image` containers (issue 27): many `run --rm`, detached runs with an
//! exec and a forced removal, and detached runs waited for and removed, all through the
//! sangja runtime. Then the host is checked for anything left behind (mounts under the
//! store, container directories, runtime state, volumes, cgroup directories, network
//! interfaces such as veths, processes, this process's descriptors), and sangja-image's
//! peak memory in the last cycles is compared with the first ones.
//!
//! `SANGJA_CHURN_CYCLES` sets the count (100 in `make test`, 1000 in `make soak`). The time
//! per cycle is printed for the record, never asserted (benchmarks measure speed).

mod common;

use common::*;
use libtest_mimic::{Failed, Trial};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let mut t = trial("run_churn_leaves_nothing_and_does_not_grow", &[], churn);
    if sangja().is_none() && !t.has_ignored_flag() {
        eprintln!("SKIPPED run_churn: SANGJA_BIN does not name the sangja runtime binary");
        t = t.with_ignored_flag(true);
    }
    let trials: Vec<Trial> = vec![t];
    run_trials(trials);
}

fn sangja() -> Option<PathBuf> {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// The sleeper's command line, unique to this test so its processes can be found.
const SLEEPER: [&str; 2] = ["sleep", "2728"];

/// What a container can leave on the host, read before and after.
#[derive(PartialEq, Eq)]
struct Host {
    /// Container directories, runtime state, volumes and mounts of the store.
    store: BTreeSet<String>,
    /// Cgroup directories named like a container id (64 hex digits), two levels deep.
    cgroups: BTreeSet<String>,
    /// Network interfaces (a leaked veth shows here).
    links: BTreeSet<String>,
    /// The test's sleepers still alive.
    procs: BTreeSet<String>,
    fds: usize,
}

fn is_container_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Host {
    fn read(store: &Path) -> Host {
        let mut cgroups = BTreeSet::new();
        for ctrl in dir_names(Path::new("/sys/fs/cgroup")) {
            let top = Path::new("/sys/fs/cgroup").join(&ctrl);
            for n in dir_names(&top) {
                if is_container_id(&n) {
                    cgroups.insert(format!("{ctrl}/{n}"));
                }
                for m in dir_names(&top.join(&n))
                    .into_iter()
                    .filter(|m| is_container_id(m))
                {
                    cgroups.insert(format!("{ctrl}/{n}/{m}"));
                }
            }
        }
        let links = dir_names(Path::new("/sys/class/net")).into_iter().collect();
        let procs = processes_running(&SLEEPER)
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        let fds = dir_names(Path::new("/proc/self/fd")).len();
        Host {
            store: store_leftovers(store).into_iter().collect(),
            cgroups,
            links,
            procs,
            fds,
        }
    }

    /// What `after` holds that `self` did not.
    fn left_by(&self, after: &Host) -> Vec<String> {
        let new = |a: &BTreeSet<String>, b: &BTreeSet<String>, what: &str| -> Vec<String> {
            b.difference(a).map(|x| format!("{what} {x}")).collect()
        };
        let mut out = new(&self.store, &after.store, "left:");
        out.extend(new(&self.cgroups, &after.cgroups, "cgroup"));
        out.extend(new(&self.links, &after.links, "network interface"));
        out.extend(new(&self.procs, &after.procs, "process"));
        if after.fds > self.fds {
            out.push(format!("{} more open descriptors", after.fds - self.fds));
        }
        out
    }
}

/// One sangja-image command, reaped with wait4 so its own peak RSS is known (KiB).
fn image_tool(env: &Env, runtime: &Path, args: &[&str]) -> Result<(String, i64), Failed> {
    let out = env.path("churn-out");
    let err = env.path("churn-err");
    let child = Command::new(bin())
        .arg("--store")
        .arg(&env.store)
        .args(args)
        .env("SANGJA_IMAGE_RUNTIME", runtime)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out)?)
        .stderr(fs::File::create(&err)?)
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
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!(
            "sangja-image {args:?}: {}",
            fs::read_to_string(&err).unwrap_or_default().trim()
        )
        .into());
    }
    Ok((fs::read_to_string(&out)?, usage.ru_maxrss))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn churn() -> TestResult {
    let runtime = sangja().expect("checked in main");
    let cycles: usize = std::env::var("SANGJA_CHURN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let env = Env::new();
    env.busybox_image("churn:1", &[])?;
    // A first run before the snapshot: the store's folders, and with bridge networking the
    // default network's bridge (kept for the next container, as docker keeps docker0),
    // exist before it.
    let warm = image_tool(&env, &runtime, &["run", "--rm", "churn:1", "true"]);
    warm.map_err(|e| format!("the warm-up run: {e:?}"))?;
    let before = Host::read(&env.store);
    let mut rss = Vec::with_capacity(cycles);
    let mut ms = Vec::with_capacity(cycles);
    let result = (|| -> TestResult {
        for n in 0..cycles {
            let name = format!("churn27-{n}");
            let t = Instant::now();
            let mut peak = 0;
            let mut step = |args: &[&str]| -> Result<String, Failed> {
                let (out, kib) = image_tool(&env, &runtime, args)?;
                peak = peak.max(kib);
                Ok(out)
            };
            match n % 3 {
                0 => {
                    let out = step(&["run", "--rm", "churn:1", "echo", "cycle"])?;
                    check(
                        out.trim() == "cycle",
                        format!("cycle {n}: run printed {out:?}"),
                    )?;
                }
                1 => {
                    let mut args = vec!["run", "-d", "--name", &name, "churn:1"];
                    args.extend(SLEEPER);
                    step(&args)?;
                    step(&["exec", &name, "true"])?;
                    step(&["rm", "-f", &name])?;
                }
                _ => {
                    step(&[
                        "run", "-d", "--name", &name, "-v", "/data", "churn:1", "true",
                    ])?;
                    let code = step(&["wait", &name])?;
                    check(code.trim() == "0", format!("cycle {n}: wait said {code:?}"))?;
                    step(&["rm", "-v", &name])?;
                }
            }
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            rss.push(peak as f64);
        }
        Ok(())
    })();
    if result.is_err() {
        for n in 0..cycles {
            let _ = env.run(["rm", "-f", "-v", &format!("churn27-{n}")]);
        }
        return result;
    }
    let after = Host::read(&env.store);
    let left = before.left_by(&after);
    check(
        left.is_empty(),
        format!("after {cycles} cycles: {}", left.join("; ")),
    )?;
    let tenth = (cycles / 10).max(3).min(cycles);
    let (rss_first, rss_last) = (median(&rss[..tenth]), median(&rss[rss.len() - tenth..]));
    let (ms_first, ms_last) = (median(&ms[..tenth]), median(&ms[ms.len() - tenth..]));
    println!(
        "image churn: {cycles} cycles, nothing left; sangja-image peak RSS median first {tenth}: {rss_first} KiB, last {tenth}: {rss_last} KiB; ms per cycle median first: {ms_first:.1}, last: {ms_last:.1}"
    );
    // Each command starts afresh: a peak that follows the number run before would be
    // state it reads that grows (records, logs, the index).
    check(
        rss_last <= rss_first * 1.10 + 512.0,
        format!(
            "sangja-image's peak RSS grew over the run: {rss_first} KiB in the first cycles, {rss_last} KiB in the last"
        ),
    )
}
