//! sangja-check: runs inside a test container and prints, as one JSON object,
//! what the container sees (namespaces, mounts, devices, credentials, limits,
//! ...) plus the outcome of the probes named on its command line:
//!
//!   sangja-check [--quiet] [openw PATH] [read PATH] [syscall NAME] [spawn N] ...
//!                [exit CODE] [sleep SECS]
//!
//! `--quiet` prints only the probes. `exit CODE` exits with that code after
//! printing; `sleep SECS` stays alive that long after printing (for cases that
//! look at a running container from outside).

mod devices;
mod ffi;
mod mounts;
mod probes;
mod procfs;

use serde_json::{json, Value};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut quiet = false;
    let mut results = Vec::new();
    let mut exit_code = 0;
    let mut sleep_secs = 0u64;
    let mut i = 0;
    while i < args.len() {
        let name = args[i].as_str();
        if name == "--quiet" {
            quiet = true;
            i += 1;
            continue;
        }
        let Some((_, argc)) = probes::PROBES.iter().find(|(n, _)| *n == name) else {
            eprintln!("sangja-check: unknown probe {name:?}");
            std::process::exit(2);
        };
        if i + 1 + argc > args.len() {
            eprintln!("sangja-check: probe {name} needs {argc} argument(s)");
            std::process::exit(2);
        }
        let pargs = args[i + 1..i + 1 + argc].to_vec();
        match name {
            "exit" => exit_code = pargs[0].parse().unwrap_or(2),
            "sleep" => sleep_secs = pargs[0].parse().unwrap_or(0),
            _ => results.push(probes::run(name, &pargs)),
        }
        i += 1 + argc;
    }
    let out = if quiet {
        json!({ "probes": results })
    } else {
        let mut report = procfs::report();
        report["probes"] = Value::Array(results);
        report
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
    let _ = stdout.flush();
    drop(stdout);
    if sleep_secs > 0 {
        std::thread::sleep(std::time::Duration::from_secs(sleep_secs));
    }
    std::process::exit(exit_code);
}
