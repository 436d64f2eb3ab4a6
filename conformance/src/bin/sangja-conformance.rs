//! sangja-conformance: runs every runtime-spec case against one or more
//! runtimes (runc's command line) and prints one table; the last line counts
//! the last runtime's results. Exits non-zero when that runtime fails a case.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use sangja_conformance::cases;
use sangja_conformance::rootfs::RootfsTemplate;
use sangja_conformance::runtime::Runtime;
use sangja_conformance::suite::{self, Row, Scratch};

#[derive(Parser)]
#[command(about = "Runtime-spec conformance cases against any runtime with runc's command line")]
struct Cli {
    /// Runtime to test, `NAME=PATH` or `PATH`; repeat for side-by-side columns.
    /// The last one is counted in the closing line. Default: $RUNTIME.
    #[arg(long = "runtime")]
    runtimes: Vec<String>,
    /// The static checker copied into every rootfs.
    #[arg(long, env = "SANGJA_CHECK")]
    checker: Option<PathBuf>,
    /// busybox-static binary for the rootfs.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// Only cases whose id contains one of these strings.
    #[arg(long)]
    filter: Vec<String>,
    /// List the cases and exit.
    #[arg(long)]
    list: bool,
}

/// Set by SIGINT/SIGTERM: the run stops after the current case, whose cleanup
/// (and the scratch directory's) still runs.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(sig, on_interrupt as *const () as libc::sighandler_t);
        }
    }
}

fn default_checker() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/static/x86_64-unknown-linux-gnu/release/sangja-check")
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let selected: Vec<_> = cases::all()
        .into_iter()
        .filter(|c| cli.filter.is_empty() || cli.filter.iter().any(|f| c.id.contains(f.as_str())))
        .collect();
    if cli.list {
        for c in &selected {
            println!("{:<44} {:<34} {}", c.id, c.field, c.note.unwrap_or(""));
        }
        return Ok(());
    }
    let mut specs = cli.runtimes.clone();
    if specs.is_empty() {
        match std::env::var("RUNTIME") {
            Ok(r) if !r.is_empty() => specs.extend(r.split_whitespace().map(str::to_string)),
            _ => bail!("no runtime: pass --runtime NAME=PATH or set RUNTIME=/path"),
        }
    }
    let runtimes: Vec<Runtime> = specs.iter().map(|s| Runtime::parse(s)).collect();
    for rt in &runtimes {
        if !rt.path.is_file() {
            bail!("runtime {} not found at {}", rt.name, rt.path.display());
        }
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the conformance suite creates containers and cgroups: run it as root");
    }
    let checker = cli.checker.clone().unwrap_or_else(default_checker);
    let template =
        RootfsTemplate::new(&cli.busybox, &checker).context("preparing the test rootfs")?;
    let scratch = Scratch::new().context("creating the scratch directory")?;

    let width = selected
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(10)
        .max(4);
    let mut stdout = std::io::stdout();
    suite::print_header(&mut stdout, &runtimes, width);
    let mut rows = Vec::new();
    catch_interrupts();
    for case in selected {
        if INTERRUPTED.load(Ordering::SeqCst) {
            eprintln!("interrupted: stopping after the cases run so far");
            break;
        }
        let outcomes = runtimes
            .iter()
            .map(|rt| suite::run_case(case, rt, &template, &scratch.0))
            .collect();
        let row = Row { case, outcomes };
        suite::print_row(&mut stdout, &row, &runtimes, width);
        rows.push(row);
    }
    let last = runtimes.len() - 1;
    for (i, rt) in runtimes.iter().enumerate().take(last) {
        let (p, f, s) = suite::totals(&rows, i);
        println!("{}: {p} passed, {f} failed, {s} skipped", rt.name);
    }
    let (p, f, s) = suite::totals(&rows, last);
    println!("{p} passed, {f} failed, {s} skipped");
    drop(scratch);
    if INTERRUPTED.load(Ordering::SeqCst) {
        std::process::exit(130);
    }
    if f > 0 {
        std::process::exit(1);
    }
    Ok(())
}
