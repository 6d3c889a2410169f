//! Command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "station-agent",
    version,
    about = "Delivers station JSON file drops to mes-api"
)]
pub struct Cli {
    /// Configuration file (TOML); STATION_AGENT_* variables override it.
    #[arg(
        short,
        long,
        env = "STATION_AGENT_CONFIG",
        default_value = "station-agent.toml",
        global = true
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch input/ and deliver until stopped (SIGTERM / Ctrl-C / service stop).
    Run {
        /// Process what is in input/, drain the queue once, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Queue depth, last success, dead letters.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Move rejected files from error/ back to input/: those changed since they were rejected,
    /// or all of them with --all.
    ReplayErrors {
        #[arg(long)]
        all: bool,
        /// Only say what would be moved.
        #[arg(long)]
        dry_run: bool,
    },
    /// Entry point used by the Windows service control manager (see docs/station-agent.md).
    #[cfg(windows)]
    #[command(hide = true)]
    ServiceRun,
}
