use std::process::ExitCode;

use clap::Parser;
use station_agent::agent::Mode;
use station_agent::cli::{Cli, Command};
use station_agent::config::Config;
use station_agent::layout::Layout;
use station_agent::{logging, queue, replay, status};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("station-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Run { once } => {
            let _guard = logging::init_service(&config);
            let mode = if once { Mode::Once } else { Mode::Continuous };
            let summary = station_agent::run_agent(&config, mode, stop_signal())?;
            if once {
                println!(
                    "delivered {} rejected {} queued {} drained {} dead-lettered {} failed {} pending {}",
                    summary.delivered,
                    summary.rejected,
                    summary.queued,
                    summary.drained,
                    summary.dead_lettered,
                    summary.failed_files,
                    summary.pending_in_queue
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => {
            logging::init_command();
            let layout = Layout::new(&config.base_dir);
            match status::read(&layout)? {
                None => println!(
                    "no queue at {} yet: the agent has not run here",
                    layout.queue_db().display()
                ),
                Some(s) if json => println!("{}", serde_json::to_string_pretty(&s)?),
                Some(s) => print!("{s}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ReplayErrors { all, dry_run } => {
            logging::init_command();
            let layout = Layout::new(&config.base_dir);
            let q = queue::Queue::open_existing(&layout.queue_db())?;
            let r = replay::replay(&layout, &config.station_id, q.as_ref(), all, dry_run)?;
            let verb = if dry_run { "would move" } else { "moved" };
            let mut text = String::new();
            for f in &r.moved {
                text.push_str(&format!("{verb} {}\n", f.display()));
            }
            text.push_str(&format!(
                "{verb} {} file(s) back to input/\n",
                r.moved.len()
            ));
            if r.unchanged > 0 {
                text.push_str(&format!(
                    "{} unchanged file(s) left in error/ (use --all to replay them too)\n",
                    r.unchanged
                ));
            }
            out(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(windows)]
        Command::ServiceRun => {
            station_agent::service::run(config)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints to stdout; a closed pipe (`status | head`) is not an error.
fn out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// SIGTERM (systemd stop) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
