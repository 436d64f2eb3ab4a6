//! `attach`, `start -a -i` and `run --init` with the real sangja runtime (SANGJA_BIN,
//! default the workspace's target/release/sangja) on a busybox image imported into a
//! private store. Every container a test makes is removed on drop, pass or fail.

mod common;

use common::pty::Pty;
use common::*;
use libtest_mimic::Failed;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

fn sangja_bin() -> PathBuf {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja"))
}

/// sangja-init as `make build` leaves it, next to the sangja-image under test.
fn init_bin() -> PathBuf {
    std::env::var_os("SANGJA_IMAGE_INIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(bin()).with_file_name("sangja-init"))
}

fn main() {
    let missing = if !sangja_bin().is_file() {
        Some(format!(
            "runtime binary {} not found (build the workspace or set SANGJA_BIN)",
            sangja_bin().display()
        ))
    } else if !Path::new("/usr/share/containers/seccomp.json").is_file() {
        Some("/usr/share/containers/seccomp.json (golang-github-containers-common) missing".into())
    } else {
        None
    };
    let no_init = (!init_bin().is_file()).then(|| {
        format!(
            "{} not built (`make build` or `make init`)",
            init_bin().display()
        )
    });
    let mut trials = Vec::new();
    let mut add = |name: &str, f: fn() -> TestResult, needs_init: bool| {
        let mut t = trial(name, &[], f);
        let reason = missing
            .clone()
            .or_else(|| needs_init.then(|| no_init.clone()).flatten());
        if let Some(r) = reason {
            eprintln!("SKIPPED {name}: {r}");
            t = t.with_ignored_flag(true);
        }
        trials.push(t);
    };
    add("attach_tty_input_output_resize_detach", attach_tty, false);
    add("attach_stdin_stdout_stderr_status", attach_pipes, false);
    add("attach_sig_proxy", sig_proxy, false);
    add("attach_stopped_fails", attach_stopped, false);
    add("start_attach_interactive", start_attach, false);
    add("init_pid1_reaps_forwards_status", init, true);
    run_trials(trials);
}

/// A store with a busybox image `bb:1`; drop removes every container.
struct Fx {
    env: Env,
}

impl Fx {
    fn new() -> Result<Fx, Failed> {
        let env = Env::new();
        env.busybox_image("bb:1", &[])?;
        Ok(Fx { env })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--store")
            .arg(&self.env.store)
            .args(args)
            .env("SANGJA_IMAGE_RUNTIME", sangja_bin())
            .env("SANGJA_IMAGE_INIT", init_bin())
            .stdin(Stdio::null());
        c
    }

    fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run sangja-image")
    }

    fn ok(&self, args: &[&str]) -> Result<String, Failed> {
        let o = self.out(args);
        if !o.status.success() {
            return Err(format!(
                "sangja-image {args:?} failed ({}): {}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// `run -d --network none ARGS...`.
    fn detached(&self, args: &[&str]) -> Result<String, Failed> {
        let mut all = vec!["run", "-d", "--network", "none"];
        all.extend_from_slice(args);
        Ok(self.ok(&all)?.trim().to_string())
    }

    fn state(&self, name: &str) -> Result<String, Failed> {
        Ok(self
            .ok(&["inspect", "--format", "{{.State.Status}}", name])?
            .trim()
            .to_string())
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let ids = self.out(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.out(&["rm", "-f", id]);
        }
    }
}

/// A client with piped stdio whose output the test watches as it comes.
struct Piped {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Piped {
    fn spawn(mut cmd: Command) -> Result<Piped, Failed> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let grab = |mut r: Box<dyn Read + Send>| {
            let buf = Arc::new(Mutex::new(Vec::new()));
            let b = Arc::clone(&buf);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    b.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            });
            buf
        };
        let stdout = grab(Box::new(child.stdout.take().unwrap()));
        let stderr = grab(Box::new(child.stderr.take().unwrap()));
        Ok(Piped {
            child,
            stdout,
            stderr,
        })
    }

    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn expect(&mut self, needle: &str) -> TestResult {
        let out = Arc::clone(&self.stdout);
        let child = &mut self.child;
        wait_until(&format!("{needle:?} on the client's stdout"), || {
            Ok(
                String::from_utf8_lossy(&out.lock().unwrap()).contains(needle)
                    || child.try_wait()?.is_some(),
            )
        })?;
        check(
            self.out().contains(needle),
            format!(
                "no {needle:?} in stdout {:?} (stderr {:?})",
                self.out(),
                self.err()
            ),
        )
    }

    fn send(&mut self, data: &[u8]) -> TestResult {
        self.child.stdin.as_mut().unwrap().write_all(data)?;
        Ok(())
    }

    /// Exit code, or 128+signal.
    fn wait(&mut self) -> Result<i32, Failed> {
        use std::os::unix::process::ExitStatusExt;
        let child = &mut self.child;
        let mut code = 0;
        wait_until("the client to exit", || {
            Ok(child
                .try_wait()?
                .map(|s| code = s.code().unwrap_or(128 + s.signal().unwrap_or(0)))
                .is_some())
        })?;
        Ok(code)
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) of our own child, not reaped yet.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `-it` container: what is typed reaches the shell and its output comes back, the
/// terminal is sized as ours and follows our resizes, ctrl-p ctrl-q (and `--detach-keys ctrl-a,x`) detach with
/// the container running on, and attach exits with the shell's status.
fn attach_tty() -> TestResult {
    let fx = Fx::new()?;
    fx.detached(&["-it", "--name", "tty", "bb:1", "sh"])?;
    let mut p = Pty::spawn(fx.cmd(&["attach", "tty"]), 33, 101)?;
    // Arithmetic, so the echo of the typed line never matches what is looked for.
    p.send(b"[ -t 0 ] && echo TTY-$((40+2)); echo SIZE-$(stty size | tr ' ' x)\r")?;
    p.expect("TTY-42")?;
    p.expect("SIZE-33x101")?;
    // A window size change follows (SIGWINCH to the client, TIOCSWINSZ on the master).
    p.resize(40, 120)?;
    wait_until("the container's terminal at 40x120", || {
        Ok(fx
            .ok(&["exec", "tty", "sh", "-c", "stty size < /proc/1/fd/0"])?
            .trim()
            == "40 120")
    })?;
    p.send(b"\x10\x11")?;
    let code = p.wait()?;
    check(
        code == Some(0),
        format!("detach: exit {code:?}:\n{}", p.output()),
    )?;
    check(
        fx.state("tty")? == "running",
        "the container stopped on detach",
    )?;

    let mut p = Pty::spawn(
        fx.cmd(&["container", "attach", "--detach-keys", "ctrl-a,x", "tty"]),
        24,
        80,
    )?;
    p.send(b"echo AGAIN-$((1+1))\r")?;
    p.expect("AGAIN-2")?;
    // The first ctrl-a, held, is passed on when a second one follows; that one and x
    // detach.
    p.send(b"\x01\x01x")?;
    check(p.wait()? == Some(0), format!("detach: {}", p.output()))?;
    check(fx.state("tty")? == "running", "stopped on detach")?;

    let mut p = Pty::spawn(fx.cmd(&["attach", "tty"]), 24, 80)?;
    p.send(b"exit 5\r")?;
    let code = p.wait()?;
    check(
        code == Some(5),
        format!("attach exited {code:?}, not the shell's 5:\n{}", p.output()),
    )?;
    // The log keeps what the attached sessions saw.
    contains(&fx.ok(&["logs", "tty"])?, "TTY-42")
}

/// `-i` without a tty: our stdin reaches the process, its stdout and stderr come back
/// on ours (and stay in the log), attach ends with its exit status.
fn attach_pipes() -> TestResult {
    let fx = Fx::new()?;
    fx.detached(&[
        "-i",
        "--name",
        "rd",
        "bb:1",
        "sh",
        "-c",
        r#"while read l; do [ "$l" = quit ] && exit 4; echo out-$l; echo err-$l >&2; done"#,
    ])?;
    let mut a = Piped::spawn(fx.cmd(&["attach", "rd"]))?;
    a.send(b"one\n")?;
    a.expect("out-one")?;
    a.send(b"quit\n")?;
    let code = a.wait()?;
    check(
        code == 4,
        format!("attach exited {code}, not 4: {:?} {:?}", a.out(), a.err()),
    )?;
    contains(&a.err(), "err-one")?;
    check(!a.out().contains("err-one"), "stderr came on stdout")?;
    let logs = fx.ok(&["logs", "rd"])?;
    contains(&logs, "out-one")?;
    contains(&logs, "err-one")?;

    // --no-stdin: output only; the container keeps its stdin from nobody.
    fx.detached(&[
        "-i",
        "--name",
        "rd2",
        "bb:1",
        "sh",
        "-c",
        "(while :; do echo tick; sleep 0.2; done) & read l; echo line-$l",
    ])?;
    let mut a = Piped::spawn(fx.cmd(&["attach", "--no-stdin", "rd2"]))?;
    a.send(b"ignored\n")?;
    drop(a.child.stdin.take());
    a.expect("tick")?;
    // A second client sends the line: the first sees the output.
    let mut b = Piped::spawn(fx.cmd(&["attach", "rd2"]))?;
    b.send(b"typed\n")?;
    a.expect("line-typed")?;
    b.expect("line-typed")?;
    check(a.wait()? == 0 && b.wait()? == 0, "both end with status 0")?;
    check(!a.out().contains("ignored"), "--no-stdin sent stdin")
}

/// Without a tty, signals sent to attach reach the container (`--sig-proxy`, on by
/// default); with `--sig-proxy=false` they do not.
fn sig_proxy() -> TestResult {
    let fx = Fx::new()?;
    let script = r#"trap 'echo got-usr1' USR1; trap 'echo got-term; exit 9' TERM; while :; do echo tick; sleep 0.2; done"#;
    fx.detached(&["--name", "sig", "bb:1", "sh", "-c", script])?;
    let mut a = Piped::spawn(fx.cmd(&["attach", "sig"]))?;
    // Output proves the client is attached (its handlers are in place before it reads).
    a.expect("tick")?;
    a.signal(libc::SIGUSR1);
    a.expect("got-usr1")?;
    a.signal(libc::SIGTERM);
    a.expect("got-term")?;
    let code = a.wait()?;
    check(code == 9, format!("attach exited {code}, not 9"))?;

    fx.detached(&["--name", "nosig", "bb:1", "sh", "-c", script])?;
    let mut a = Piped::spawn(fx.cmd(&["attach", "--sig-proxy=false", "nosig"]))?;
    a.expect("tick")?;
    a.signal(libc::SIGUSR1);
    let code = a.wait()?;
    check(
        code == 128 + libc::SIGUSR1,
        format!("--sig-proxy=false: attach exited {code}, not killed by SIGUSR1"),
    )?;
    check(fx.state("nosig")? == "running", "the container stopped")?;
    fx.ok(&["kill", "-s", "TERM", "nosig"])?;
    fx.ok(&["wait", "nosig"])?;
    let logs = fx.ok(&["logs", "nosig"])?;
    contains(&logs, "got-term")?;
    check(
        !logs.contains("got-usr1"),
        "--sig-proxy=false forwarded SIGUSR1",
    )
}

/// docker's errors and exit 1 for a created, exited or paused container.
fn attach_stopped() -> TestResult {
    let fx = Fx::new()?;
    fx.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "new",
        "bb:1",
        "true",
    ])?;
    fx.detached(&["--name", "done", "bb:1", "true"])?;
    fx.ok(&["wait", "done"])?;
    let refused = |name: &str, message: &str| -> TestResult {
        let o = fx.out(&["attach", name]);
        check(
            o.status.code() == Some(1),
            format!("attach {name}: {}", o.status),
        )?;
        contains(&String::from_utf8_lossy(&o.stderr), message)
    };
    for name in ["new", "done"] {
        refused(
            name,
            "You cannot attach to a stopped container, start it first",
        )?;
    }
    fx.detached(&["--name", "frozen", "bb:1", "sleep", "1000"])?;
    fx.ok(&["pause", "frozen"])?;
    refused(
        "frozen",
        "You cannot attach to a paused container, unpause it first",
    )?;
    fx.ok(&["unpause", "frozen"])?;
    refused("nonesuch", "No such container: nonesuch")
}

/// `start -a -i`: the output from the very start (written before the client
/// connected), our stdin to the process, its exit status; again with a tty.
fn start_attach() -> TestResult {
    let fx = Fx::new()?;
    fx.ok(&[
        "create",
        "-i",
        "--network",
        "none",
        "--name",
        "si",
        "bb:1",
        "sh",
        "-c",
        "echo prompt; read l; echo got-$l; exit 6",
    ])?;
    let mut a = Piped::spawn(fx.cmd(&["start", "-a", "-i", "si"]))?;
    a.expect("prompt")?;
    a.send(b"x\n")?;
    a.expect("got-x")?;
    let code = a.wait()?;
    check(code == 6, format!("start -a -i exited {code}, not 6"))?;
    check(
        a.out() == "prompt\ngot-x\n",
        format!("output seen once each, in order: {:?}", a.out()),
    )?;

    fx.ok(&[
        "create",
        "-it",
        "--network",
        "none",
        "--name",
        "st",
        "bb:1",
        "sh",
    ])?;
    let mut p = Pty::spawn(fx.cmd(&["start", "-ai", "st"]), 24, 80)?;
    p.send(b"echo IN-$((2+3)); exit 3\r")?;
    p.expect("IN-5")?;
    let code = p.wait()?;
    check(code == Some(3), format!("start -ai (tty) exited {code:?}"))
}

/// Processes of a container as busybox `ps -o stat,args` shows them.
fn ps_in(fx: &Fx, name: &str) -> Result<String, Failed> {
    fx.ok(&["exec", name, "ps", "-o", "stat,args"])
}

fn zombies(ps: &str) -> bool {
    ps.lines().any(|l| l.trim_start().starts_with('Z'))
}

/// `--init`: PID 1 is the init with the command its child, an orphan is reaped (and
/// without --init it stays a zombie), the exit status passes through, and the stop
/// signal reaches the command (sleep as PID 1 would ignore SIGTERM and be killed).
fn init() -> TestResult {
    let fx = Fx::new()?;
    // The subshell's sleep is orphaned at once, handed to PID 1, and exits in a second.
    let orphan = "(sleep 1 &); exec sleep 1000";
    fx.detached(&["--init", "--name", "with", "bb:1", "sh", "-c", orphan])?;
    fx.detached(&["--name", "without", "bb:1", "sh", "-c", orphan])?;
    let pid1 = fx.ok(&["exec", "with", "cat", "/proc/1/cmdline"])?;
    check(
        pid1.starts_with("/sbin/docker-init\0--\0sh\0"),
        format!("PID 1: {pid1:?}"),
    )?;
    check(
        fx.ok(&["inspect", "--format", "{{.HostConfig.Init}}", "with"])?
            .trim()
            == "true",
        "HostConfig.Init",
    )?;
    wait_until("the orphan to become a zombie without --init", || {
        Ok(zombies(&ps_in(&fx, "without")?))
    })?;
    wait_until("the orphan's exit under --init", || {
        let ps = ps_in(&fx, "with")?;
        Ok(!ps.contains("sleep 1\n") && !zombies(&ps))
    })?;
    check(!zombies(&ps_in(&fx, "with")?), "a zombie under --init")?;
    fx.ok(&["stop", "-t", "30", "with"])?;
    let code = fx.ok(&["inspect", "--format", "{{.State.ExitCode}}", "with"])?;
    check(
        code.trim() == "143",
        format!("stop: exit {code:?}, not 143 (SIGTERM passed to sleep)"),
    )?;
    let o = fx.out(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "exit 7",
    ]);
    check(
        o.status.code() == Some(7),
        format!("run --init: {}", o.status),
    )?;
    // A command killed by a signal: 128+N, as docker's tini reports.
    let o = fx.out(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "kill -USR2 $$",
    ]);
    check(
        o.status.code() == Some(128 + libc::SIGUSR2),
        format!("killed by SIGUSR2: {}", o.status),
    )
}
