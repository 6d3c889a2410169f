//! `dashboard [--version]`: serves the web UI and proxies the APIs; configuration comes from the
//! environment (see `docs/dashboard.md`).

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args()
        .skip(1)
        .any(|arg| arg == "--version" || arg == "-V")
    {
        println!("dashboard {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match dashboard_server::config::Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("dashboard: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    dashboard_server::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dashboard: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dashboard_server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "dashboard failed");
            eprintln!("dashboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}
