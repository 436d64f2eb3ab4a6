//! `sangja-image`: docker-like image commands over an OCI image layout store.

use clap::Parser;

mod cli;

fn main() {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = cli::run(cli) {
        eprintln!("sangja-image: {e:#}");
        std::process::exit(1);
    }
}
