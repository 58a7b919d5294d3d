//! `kith`: the command line, the node, and the native-messaging host in one binary.

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let caller = kith::native::host_caller(&args);
    let cli = match caller {
        Some(_) => None,
        None => Some(kith::cli::Cli::parse()), // usage errors exit 2
    };
    init_logs(cli.as_ref().and_then(|c| c.cmd.log_file()));
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kith: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let Some(cli) = cli else {
        let code = caller.map_or(1, |c| rt.block_on(kith::native::run(&c)));
        rt.shutdown_timeout(std::time::Duration::from_millis(200));
        std::process::exit(code);
    };
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

/// Logs go to stderr, never to stdout, which carries results (or native-messaging frames);
/// a node started in the background (`serve --log-file`) writes a rotating file instead.
fn init_logs(file: Option<&std::path::Path>) {
    let filter = EnvFilter::try_from_env(kith_node::settings::LOG)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let rotating = file.map(|f| {
        kith::logfile::Rotating::open(f, kith::logfile::LIMIT, kith::logfile::KEEP)
            .map_err(|e| eprintln!("kith: cannot write the log {}: {e}", f.display()))
    });
    match rotating {
        Some(Ok(log)) => logs.with_writer(std::sync::Mutex::new(log)).init(),
        _ => logs.with_writer(std::io::stderr).init(),
    }
}
