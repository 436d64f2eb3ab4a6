//! Concurrency (issue 27): many commands at once, on different containers and on the same
//! one, against sangja and runc side by side. Each race has the outcomes runc allows (one
//! start wins, the other is told the container runs; a delete racing a start either stops
//! it or is refused), never a hang, a corrupt state.json or anything left behind.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::leftovers::Snapshot;
use common::Env;
use libtest_mimic::{Arguments, Failed, Trial};

const RUNC: &str = "/usr/sbin/runc";

type Case = fn(&Rt) -> Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let cases: &[(&str, Case)] = &[
        ("many_containers_at_once", many_containers_at_once),
        ("start_twice", start_twice),
        ("delete_during_start", delete_during_start),
        ("kill_during_create", kill_during_create),
        ("exec_during_delete", exec_during_delete),
        ("state_during_churn_is_always_whole", state_during_churn),
    ];
    let root = nix::unistd::geteuid().is_root();
    let mut trials = Vec::new();
    for (rt_name, bin) in [
        ("sangja", PathBuf::from(env!("CARGO_BIN_EXE_sangja"))),
        ("runc", PathBuf::from(RUNC)),
    ] {
        for (name, case) in cases {
            let name = format!("{rt_name}::{name}");
            let skip = if !root {
                Some("not root: the trials create containers")
            } else if !bin.exists() {
                Some("runtime binary not installed")
            } else {
                None
            };
            let bin = bin.clone();
            let case = *case;
            trials.push(match skip {
                Some(why) => Trial::test(name, || Ok(()))
                    .with_ignored_flag(true)
                    .with_kind(why),
                None => Trial::test(name.clone(), move || {
                    let marker = format!(
                        "sjcc{}{}{}",
                        std::process::id(),
                        &rt_name[..1],
                        name.len() + name.bytes().map(|b| b as usize).sum::<usize>()
                    );
                    let rt = Rt::new(bin, &marker, rt_name == "sangja");
                    let before = Snapshot::take(&marker, &rt.env.root()).ignoring_fds();
                    let result = case(&rt);
                    rt.cleanup();
                    let left = before.left_by(&Snapshot::take(&marker, &rt.env.root()));
                    result?;
                    if !left.is_empty() {
                        return Err(format!("left behind: {}", left.join("; ")).into());
                    }
                    Ok(())
                }),
            });
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

struct Rt {
    bin: PathBuf,
    /// sangja serialises commands on one container with a lock; runc does not, and the
    /// extra outcomes that allows are accepted only for it.
    locks: bool,
    env: Env,
    bundle: PathBuf,
    marker: String,
}

impl Rt {
    fn new(bin: PathBuf, marker: &str, locks: bool) -> Rt {
        let env = Env::new(marker);
        let bundle = env.bundle(&["sleep", "1000"]);
        Rt {
            bin,
            locks,
            env,
            bundle,
            marker: marker.to_string(),
        }
    }
    fn id(&self, n: usize) -> String {
        format!("{}-{n}", self.marker)
    }
    /// One command; stdio to files so a created container never holds our pipes.
    fn run(&self, args: &[&str]) -> Output {
        let tag: u64 = rand_tag();
        let out = self.env.dir.join(format!("out-{tag}"));
        let err = self.env.dir.join(format!("err-{tag}"));
        let status = Command::new(&self.bin)
            .arg("--root")
            .arg(self.env.root())
            .args(args)
            .current_dir(&self.env.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .expect("runtime runs");
        let o = Output {
            status,
            stdout: std::fs::read(&out).unwrap_or_default(),
            stderr: std::fs::read(&err).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(out);
        let _ = std::fs::remove_file(err);
        o
    }
    fn ok(&self, args: &[&str]) -> Result<(), Failed> {
        let o = self.run(args);
        if o.status.success() {
            Ok(())
        } else {
            Err(format!("{args:?}: {}", String::from_utf8_lossy(&o.stderr).trim()).into())
        }
    }
    fn bundle(&self) -> &str {
        self.bundle.to_str().unwrap()
    }
    /// Every state.json under the root parses (runc's too: both write JSON there).
    fn states_whole(&self) -> Result<(), Failed> {
        let Ok(rd) = std::fs::read_dir(self.env.root()) else {
            return Ok(());
        };
        for e in rd.flatten() {
            let p = e.path().join("state.json");
            if let Ok(b) = std::fs::read(&p) {
                serde_json::from_slice::<serde_json::Value>(&b)
                    .map_err(|err| format!("{} is not whole: {err}", p.display()))?;
            }
        }
        Ok(())
    }
    fn cleanup(&self) {
        if let Ok(rd) = std::fs::read_dir(self.env.root()) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
            }
        }
    }
}

fn rand_tag() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn err_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs both closures at once and returns both outputs.
fn race<A, B>(a: A, b: B) -> (Output, Output)
where
    A: FnOnce() -> Output + Send,
    B: FnOnce() -> Output + Send,
{
    std::thread::scope(|s| {
        let ha = s.spawn(a);
        let hb = s.spawn(b);
        (ha.join().unwrap(), hb.join().unwrap())
    })
}

fn many_containers_at_once(rt: &Rt) -> Result<(), Failed> {
    let rt = Arc::new(rt);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let rt = Arc::clone(&rt);
                s.spawn(move || -> Result<(), String> {
                    for round in 0..3 {
                        let id = rt.id(t * 10 + round);
                        for args in [
                            vec!["create", "-b", rt.bundle(), &id],
                            vec!["start", &id],
                            vec!["kill", &id, "KILL"],
                            vec!["delete", "--force", &id],
                        ] {
                            rt.ok(&args).map_err(|e| format!("{e:?}"))?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap()?;
        }
        Ok::<(), String>(())
    })?;
    rt.states_whole()
}

fn start_twice(rt: &Rt) -> Result<(), Failed> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let id = rt.id(0);
    rt.ok(&["create", "-b", rt.bundle(), &id])?;
    // runc's losing start can wait on the exec FIFO until the init exits (sleep 1000);
    // a watcher kills the container when a start has not returned in 10 s, so the case
    // ends either way and a hang is reported instead of stalling the suite.
    let done = AtomicUsize::new(0);
    let start = || {
        let o = rt.run(&["start", &id]);
        done.fetch_add(1, Ordering::SeqCst);
        o
    };
    let (a, b, hung) = std::thread::scope(|s| {
        let ha = s.spawn(start);
        let hb = s.spawn(start);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut hung = false;
        while done.load(Ordering::SeqCst) < 2 {
            if std::time::Instant::now() > deadline {
                hung = true;
                let _ = rt.run(&["kill", &id, "KILL"]);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        (ha.join().unwrap(), hb.join().unwrap(), hung)
    });
    let wins = [&a, &b].iter().filter(|o| o.status.success()).count();
    if wins != 1 {
        return Err(format!(
            "two starts: {wins} succeeded ({} / {})",
            err_of(&a).trim(),
            err_of(&b).trim()
        )
        .into());
    }
    let loser = if a.status.success() { &b } else { &a };
    let said = err_of(loser);
    let lock_free_wait = !rt.locks && hung && said.contains("container process is already dead");
    if hung && !lock_free_wait {
        return Err(format!("the losing start hung until the container was killed: {said}").into());
    }
    if !lock_free_wait && !said.contains("cannot start an already running container") {
        return Err(format!("the losing start said: {}", said.trim()).into());
    }
    rt.states_whole()?;
    rt.ok(&["delete", "--force", &id])
}

fn delete_during_start(rt: &Rt) -> Result<(), Failed> {
    for n in 0..3 {
        let id = rt.id(n);
        rt.ok(&["create", "-b", rt.bundle(), &id])?;
        let (start, delete) = race(|| rt.run(&["start", &id]), || rt.run(&["delete", &id]));
        rt.states_whole()?;
        let s = rt.run(&["state", &id]);
        match (start.status.success(), delete.status.success()) {
            // Start first: the delete of a running container is refused.
            (true, false) => {
                if !err_of(&delete).contains("is not stopped") {
                    return Err(
                        format!("delete of a running container said: {}", err_of(&delete)).into(),
                    );
                }
                if !s.status.success() {
                    return Err("the started container vanished".into());
                }
            }
            // Delete first: a created container is killed and removed; start finds nothing.
            (false, true) => {
                // runc, which takes no lock, may find the init killed but not yet removed,
                // or read the state after the delete's kill removed the exec FIFO (so the
                // container looked started); either way the container must be gone.
                let said = err_of(&start);
                let lock_free = !rt.locks
                    && said.contains("cannot start an already running container")
                    && !s.status.success();
                if !lock_free
                    && !["does not exist", "stopped", "already dead"]
                        .iter()
                        .any(|m| said.contains(m))
                {
                    return Err(format!("start after delete said: {}", err_of(&start)).into());
                }
            }
            // runc only (it takes no lock): the start read the state before the delete
            // killed the created container, so both report success; it must be gone.
            (true, true) => {
                if s.status.success() {
                    return Err("start and delete both succeeded but the container remains".into());
                }
            }
            (a, b) => {
                return Err(format!(
                    "start {a} / delete {b}: {} / {}",
                    err_of(&start).trim(),
                    err_of(&delete).trim()
                )
                .into())
            }
        }
        let _ = rt.run(&["delete", "--force", &id]);
    }
    Ok(())
}

fn kill_during_create(rt: &Rt) -> Result<(), Failed> {
    for n in 0..3 {
        let id = rt.id(n);
        let (create, kill) = race(
            || rt.run(&["create", "-b", rt.bundle(), &id]),
            || {
                std::thread::sleep(std::time::Duration::from_millis(5 * n as u64));
                rt.run(&["kill", &id, "KILL"])
            },
        );
        if !create.status.success() {
            return Err(format!("create beside a kill: {}", err_of(&create)).into());
        }
        // The kill came too early (no such container) or killed what create made.
        if !kill.status.success() && !err_of(&kill).contains("does not exist") {
            return Err(format!("kill during create said: {}", err_of(&kill)).into());
        }
        rt.states_whole()?;
        let s = rt.run(&["state", &id]);
        if !s.status.success() {
            return Err(format!("state after create: {}", err_of(&s)).into());
        }
        rt.ok(&["delete", "--force", &id])?;
    }
    Ok(())
}

fn exec_during_delete(rt: &Rt) -> Result<(), Failed> {
    for n in 0..3 {
        let id = rt.id(n);
        rt.ok(&["create", "-b", rt.bundle(), &id])?;
        rt.ok(&["start", &id])?;
        let (exec, delete) = race(
            || rt.run(&["exec", &id, "sleep", "2"]),
            || rt.run(&["delete", "--force", &id]),
        );
        if !delete.status.success() {
            return Err(format!("delete --force beside an exec: {}", err_of(&delete)).into());
        }
        // The exec either ran before the container went (and was killed with it) or was
        // told it is gone; both end, neither hangs.
        let _ = exec;
        rt.states_whole()?;
        let s = rt.run(&["state", &id]);
        if s.status.success() {
            return Err("the container is still there after delete --force".into());
        }
    }
    Ok(())
}

fn state_during_churn(rt: &Rt) -> Result<(), Failed> {
    let id = rt.id(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| -> Result<usize, String> {
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let o = rt.run(&["state", &id]);
                if o.status.success() {
                    serde_json::from_slice::<serde_json::Value>(&o.stdout)
                        .map_err(|e| format!("state printed half a document: {e}"))?;
                    seen += 1;
                } else if !err_of(&o).contains("does not exist") {
                    return Err(format!("state said: {}", err_of(&o)));
                }
                let l = rt.run(&["list", "--format", "json"]);
                if l.status.success() {
                    serde_json::from_slice::<serde_json::Value>(&l.stdout)
                        .map_err(|e| format!("list printed half a document: {e}"))?;
                }
            }
            Ok(seen)
        });
        let mut result = Ok(());
        for _ in 0..5 {
            for args in [
                vec!["create", "-b", rt.bundle(), &id],
                vec!["start", &id],
                vec!["kill", &id, "KILL"],
                vec!["delete", "--force", &id],
            ] {
                if let Err(e) = rt.ok(&args) {
                    result = Err(e);
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()?;
        result
    })?;
    Ok(())
}
