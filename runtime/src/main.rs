//! The `sangja` binary: command-line glue over the library.

use clap::Parser;

fn main() {
    // The container init is sangja re-executed from its protected copy; it never parses flags.
    if std::env::args_os().nth(1).is_some_and(|a| a == "init")
        && std::env::var_os(sangja::process::INIT_FD_ENV).is_some()
    {
        sangja::process::init::main();
    }
    let cli = sangja::cli::Cli::parse();
    let logs_to_file = cli.log.is_some();
    match sangja::cli::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        // Like other Unix tools, end quietly when stdout is a closed pipe (`sangja state x | head`).
        // SIGPIPE stays ignored so a hook that does not read its stdin cannot kill us.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            std::process::exit(0)
        }
        Err(e) => {
            let msg = describe(&e);
            tracing::error!("{msg}");
            // As runc: the error goes to the log, and to stderr too when the log is a file.
            if logs_to_file || !tracing::dispatcher::has_been_set() {
                eprintln!("{msg}");
            }
            std::process::exit(1)
        }
    }
}

/// The error and its causes, as `{:#}` would print them, leaving out a cause whose text a
/// message before it already carries (most of ours name their source inline).
fn describe(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
