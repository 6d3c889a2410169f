use std::process::ExitCode;

use mes_api::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--version" || a == "-V") {
        println!("mes-api {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mes-api: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    mes_api::telemetry::init(config.log_format);
    match mes_api::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "mes-api failed");
            ExitCode::FAILURE
        }
    }
}
