//! The `sangja` binary: command-line glue over the library.

use clap::Parser;

fn main() {
    // The container init is sangja re-executed from its protected copy; it never parses flags.
    if std::env::args_os().nth(1).is_some_and(|a| a == "init")
        && std::env::var_os(sangja::process::INIT_FD_ENV).is_some()
    {
        sangja::process::init::main();
    }
    // Like other Unix tools, end quietly when stdout is a closed pipe (`sangja state x | head`).
    // SAFETY: restoring the default disposition of SIGPIPE has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = sangja::cli::Cli::parse();
    let logs_to_file = cli.log.is_some();
    match sangja::cli::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::error!("{msg}");
            // As runc: the error goes to the log, and to stderr too when the log is a file.
            if logs_to_file || !tracing::dispatcher::has_been_set() {
                eprintln!("{msg}");
            }
            std::process::exit(1)
        }
    }
}
