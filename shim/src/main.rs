//! containerd-shim-sangja-v2: thin glue; the shim lives in the library.

use sangja_shim::{info, shim::SangjaShim, RUNTIME_TYPE};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |f: &str| args.iter().skip(1).any(|a| a == f || a == &format!("-{f}"));
    if flag("-v") || flag("-version") {
        print!("{}", info::version());
        return;
    }
    if flag("-info") {
        match info::info() {
            Ok(bytes) => {
                let _ = std::io::stdout().write_all(&bytes);
                return;
            }
            Err(e) => {
                eprintln!("containerd-shim-sangja-v2 -info: {e}");
                std::process::exit(1);
            }
        }
    }
    // One thread runs the service (less memory per container); blocking work goes
    // to tokio's blocking pool.
    // Idle blocking threads (pipe drains, metrics reads) go soon: a shim mostly waits.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("containerd-shim-sangja-v2: start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(containerd_shim::asynchronous::run::<SangjaShim>(
        RUNTIME_TYPE,
        None,
    ));
}
