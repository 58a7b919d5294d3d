//! `kith`: the command line, the node, and the native-messaging host in one binary.

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Logs go to stderr; never to stdout, which carries results (or native-messaging frames).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env(kith_node::settings::LOG)
                .unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kith: cannot start: {e}");
            std::process::exit(1);
        }
    };
    if let Some(caller) = kith::native::host_caller(&args) {
        let code = rt.block_on(kith::native::run(&caller));
        rt.shutdown_timeout(std::time::Duration::from_millis(200));
        std::process::exit(code);
    }
    let cli = kith::cli::Cli::parse(); // usage errors exit 2
    let json = kith::cli::wants_json(&cli.cmd);
    let result = rt.block_on(kith::cli::run(cli));
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    if let Err(f) = result {
        if json {
            println!("{}", serde_json::json!({"error": f.error}));
        }
        eprintln!("kith: {}", f.error.message);
        std::process::exit(f.exit);
    }
}
