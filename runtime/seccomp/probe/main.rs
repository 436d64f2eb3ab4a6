//! Test helper: loads a seccomp profile into itself, then performs one action.
//!
//! Loading a filter is irreversible and applies to the whole process, so the end-to-end
//! tests (a threaded harness) run this program instead of loading filters themselves.
//!
//! usage: sangja-seccomp-probe [--pre-thread] [--catch-sigsys] [--drop-cap N] [--wait-stdin]
//!                             [--drop-cap-first N] [--nnp]
//!                             PROFILE.json|none COMMAND [ARGS...]
//! commands:
//!   syscall NAME [A0..A5]          prints "ret=R errno=E"
//!   thread-syscall NAME [A0..A5]   the same from a new thread; the main thread then
//!                                  prints "thread gone" if the thread was killed,
//!                                  and "main alive" in every case it survives
//!   i386 NAME [A0..A2]             the syscall through int 0x80 with its i386 number
//!   exec PATH [ARGS...]
//!   status KEY                     prints KEY's value from /proc/self/status
//! PROFILE is a raw `linux.seccomp` object. With --pre-thread, `syscall` runs in a
//! thread that was started before the filter was loaded (for TSYNC). With a NOTIFY
//! profile the listener fd goes to listenerPath before the command runs. --drop-cap
//! drops a capability after loading, --drop-cap-first before; --nnp sets no_new_privs
//! before loading.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::mpsc;

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{ContainerState, StateBuilder};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut pre_thread = false;
    let mut wait_stdin = false;
    let mut no_new_privs = false;
    let mut drop_first = None;
    let mut drop_cap = None;
    while let Some(first) = args.first().cloned() {
        match first.as_str() {
            "--pre-thread" => pre_thread = true,
            "--wait-stdin" => wait_stdin = true,
            "--nnp" => no_new_privs = true,
            "--drop-cap-first" => {
                args.remove(0);
                drop_first = Some(
                    args[0]
                        .parse::<u32>()
                        .expect("--drop-cap-first takes a number"),
                );
            }
            "--catch-sigsys" => catch_sigsys(),
            "--drop-cap" => {
                args.remove(0);
                drop_cap = Some(args[0].parse::<u32>().expect("--drop-cap takes a number"));
            }
            _ => break,
        }
        args.remove(0);
    }
    if args.len() < 2 {
        die("usage: sangja-seccomp-probe [options] PROFILE|none COMMAND [ARGS...]");
    }
    no_core_dumps();

    // A thread started before the filter exists, waiting for a syscall to make.
    let pre = pre_thread.then(|| {
        let (tx, rx) = mpsc::channel::<(i64, [u64; 6])>();
        let (done_tx, done_rx) = mpsc::channel::<(i64, i32)>();
        std::thread::spawn(move || {
            if let Ok((nr, a)) = rx.recv() {
                done_tx.send(raw_syscall(nr, a)).ok();
            }
        });
        (tx, done_rx)
    });

    if wait_stdin {
        // A tracer attaches meanwhile and lets us go by writing a byte.
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut std::io::stdin(), &mut byte).ok();
    }
    // The runtime's two orders: without no_new_privs, load while CAP_SYS_ADMIN is held;
    // these options let a test try the other ones.
    if let Some(cap) = drop_first {
        drop_capability(cap);
    }
    if no_new_privs {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            die("PR_SET_NO_NEW_PRIVS failed");
        }
    }
    if args[0] != "none" {
        load(&args[0]);
    }
    if let Some(cap) = drop_cap {
        drop_capability(cap);
    }

    let rest = &args[2..];
    match args[1].as_str() {
        "syscall" => {
            let (nr, a) = parse_call(rest);
            let (ret, errno) = match &pre {
                Some((tx, done)) => {
                    tx.send((nr, a)).unwrap();
                    done.recv().unwrap()
                }
                None => raw_syscall(nr, a),
            };
            say(&format!("ret={ret} errno={errno}"));
        }
        "thread-syscall" => thread_syscall(rest),
        "i386" => i386(rest),
        "exec" => exec(rest),
        "status" => {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let key = format!("{}:", rest[0]);
            let line = status.lines().find(|l| l.starts_with(&key)).unwrap_or("");
            say(line.trim_start_matches(&key).trim());
        }
        other => die(&format!("unknown command {other}")),
    }
}

fn load(path: &str) {
    let text = std::fs::read(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let value: serde_json::Value =
        serde_json::from_slice(&text).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let filter = sangja_seccomp::compile_json(&value).unwrap_or_else(|e| die(&e.to_string()));
    let listener = filter.listener_path().map(|p| p.to_path_buf());
    let metadata = filter.listener_metadata().to_string();
    let fd = filter.load().unwrap_or_else(|e| die(&e.to_string()));
    if let (Some(fd), Some(path)) = (fd, listener) {
        let pid = std::process::id() as i32;
        let state = StateBuilder::default()
            .version("1.2.0")
            .id("probe")
            .status(ContainerState::Creating)
            .pid(pid)
            .bundle("/nonexistent/bundle")
            .build()
            .unwrap();
        let message = sangja_seccomp::process_state(&metadata, &state);
        sangja_seccomp::send_listener_fd(&path, &metadata, &message, fd.as_fd())
            .unwrap_or_else(|e| die(&e.to_string()));
    }
}

fn parse_call(rest: &[String]) -> (i64, [u64; 6]) {
    let name = rest.first().unwrap_or_else(|| die("syscall needs a name"));
    let nr = ScmpSyscall::from_name(name).unwrap_or_else(|e| die(&format!("{name}: {e}")));
    let mut a = [0u64; 6];
    for (slot, v) in a.iter_mut().zip(&rest[1..]) {
        *slot = parse_number(v);
    }
    (i64::from(i32::from(nr)), a)
}

fn parse_number(v: &str) -> u64 {
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.unwrap_or_else(|_| die(&format!("not a number: {v}")))
}

fn raw_syscall(nr: i64, a: [u64; 6]) -> (i64, i32) {
    // SAFETY: the tests only ask for syscalls whose arguments are plain integers
    // (getppid, sethostname with a null name, unshare flags ...), never pointers into
    // memory this program relies on.
    let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    let errno = if ret == -1 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    };
    (ret, errno)
}

fn thread_syscall(rest: &[String]) {
    let (nr, a) = parse_call(rest);
    let (tid_tx, tid_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::gettid() };
        tid_tx.send(tid).unwrap();
        done_tx.send(raw_syscall(nr, a)).ok();
    });
    let tid = tid_rx.recv().unwrap();
    // A killed thread never answers (it cannot unwind), so watch its task entry instead.
    loop {
        if let Ok((ret, errno)) = done_rx.try_recv() {
            say(&format!("ret={ret} errno={errno}"));
            break;
        }
        if !std::path::Path::new(&format!("/proc/self/task/{tid}")).exists() {
            say("thread gone");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    say("main alive");
}

#[cfg(target_arch = "x86_64")]
fn i386(rest: &[String]) {
    let name = rest.first().unwrap_or_else(|| die("i386 needs a name"));
    let nr = ScmpSyscall::from_name_by_arch(name, ScmpArch::X86)
        .unwrap_or_else(|e| die(&format!("{name}: {e}")));
    let mut a = [0u64; 3];
    for (slot, v) in a.iter_mut().zip(&rest[1..]) {
        *slot = parse_number(v);
    }
    let ret: u64;
    // SAFETY: the 32-bit syscall entry with integer arguments only; rbx is reserved by
    // LLVM, so the first argument is swapped into it and back around the trap.
    unsafe {
        core::arch::asm!(
            "xchg {a0}, rbx",
            "int 0x80",
            "xchg {a0}, rbx",
            a0 = inout(reg) a[0] => _,
            inlateout("rax") u64::from(i32::from(nr) as u32) => ret,
            in("rcx") a[1],
            in("rdx") a[2],
        );
    }
    let ret = ret as u32 as i32;
    let (ret, errno) = if (-4095..0).contains(&ret) {
        (-1, -ret)
    } else {
        (i64::from(ret), 0)
    };
    say(&format!("ret={ret} errno={errno}"));
}

#[cfg(not(target_arch = "x86_64"))]
fn i386(_rest: &[String]) {
    die("i386 syscalls are only probed on x86_64");
}

fn exec(rest: &[String]) {
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&rest[0]).args(&rest[1..]).exec();
    die(&format!("execv {}: {err}", rest[0]));
}

/// SIGSYS from SCMP_ACT_TRAP can be caught; the handler's exit code (42) tells it apart
/// from a kill, which no handler sees.
fn catch_sigsys() {
    extern "C" fn on_sigsys(_: libc::c_int) {
        const MSG: &[u8] = b"caught SIGSYS\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; MSG is a static buffer.
        unsafe {
            libc::write(1, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(42);
        }
    }
    // SAFETY: installs a handler that only calls async-signal-safe functions.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigsys as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut()) != 0 {
            die("sigaction SIGSYS failed");
        }
    }
}

/// SIGSYS kills dump core by default; the tests want the signal, not core files.
fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
}

/// Drops one capability from the bounding, effective, permitted and inheritable sets,
/// after the filter is loaded, as a runtime without no_new_privs does.
fn drop_capability(cap: u32) {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and the two-element data array the v3 ABI
    // expects; PR_CAPBSET_DROP takes a capability number.
    unsafe {
        if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
            die("PR_CAPBSET_DROP failed");
        }
        if libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        ) != 0
        {
            die("capget failed");
        }
        let (word, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        data[word].effective &= !bit;
        data[word].permitted &= !bit;
        data[word].inheritable &= !bit;
        if libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) != 0 {
            die("capset failed");
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").ok();
    out.flush().ok();
}

fn die(msg: &str) -> ! {
    eprintln!("probe: {msg}");
    std::process::exit(100);
}
