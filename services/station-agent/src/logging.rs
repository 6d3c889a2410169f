//! Logs to stdout and to a daily rolling file (`{log.dir}/station-agent.YYYY-MM-DD.log`).

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Config;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// For `run`: stdout plus the rolling file. Keep the guard alive: it flushes the file on drop.
/// When the log folder cannot be used, logs go to stdout only and the reason is logged.
pub fn init_service(config: &Config) -> Option<WorkerGuard> {
    let dir = config.log_dir();
    let appender = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            RollingFileAppender::builder()
                .rotation(Rotation::DAILY)
                .filename_prefix("station-agent")
                .filename_suffix("log")
                .max_log_files(config.log.keep_files.max(1))
                .build(&dir)
                .map_err(|e| e.to_string())
        });
    // No colour codes in journald or a service log.
    let stdout = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match appender {
        Ok(appender) => {
            // A small buffer: a station PC has little memory to spare; lines beyond it are
            // dropped rather than blocking delivery.
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(4096)
                .finish(appender);
            let file = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_target(false)
                .with_writer(writer);
            let _ = tracing_subscriber::registry()
                .with(filter(&config.log.level))
                .with(stdout)
                .with(file)
                .try_init();
            Some(guard)
        }
        Err(e) => {
            let _ = tracing_subscriber::registry()
                .with(filter(&config.log.level))
                .with(stdout)
                .try_init();
            tracing::error!(dir = %dir.display(), error = %e, "cannot write log files; logging to stdout only");
            None
        }
    }
}

/// For one-shot commands (`status`, `replay-errors`): warnings to stderr only.
pub fn init_command() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("warn"))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
