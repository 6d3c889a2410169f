//! infra-api binary: `infra-api [--version]`; everything else comes from the environment.

fn main() -> std::process::ExitCode {
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        println!("infra-api {}", env!("CARGO_PKG_VERSION"));
        return std::process::ExitCode::SUCCESS;
    }
    let config = match infra_api::config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("infra-api: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    infra_api::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("infra-api: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(infra_api::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "infra-api failed");
            std::process::ExitCode::FAILURE
        }
    }
}
