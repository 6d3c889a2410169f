//! Developer commands of the MES workspace, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`), so a fresh machine needs nothing but cargo:
//!
//! - `cargo xtask dev`: the whole stack locally (PostgreSQL, mes-api, demo data, simulator,
//!   dashboard);
//! - `cargo xtask test`: every check, exactly as CI (`.ci/run`) runs it.
//!
//! See `docs/local-stack.md`.

mod cmd;
mod dashboard;
mod images;
mod mes_api;
mod postgres;
mod secrets;
mod seed;
mod shutdown;
mod simulator;
mod stack;
mod test;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Developer commands of the MES workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start PostgreSQL, mes-api, demo data, the simulator and the dashboard locally; Ctrl-C stops everything
    Dev(stack::DevArgs),
    /// Run every check of the workspace (format, clippy, tests), as CI does
    Test(test::TestArgs),
    /// Build the container images with buildah (static binaries, no Docker daemon) and check them
    Images(images::ImagesArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match repo_root() {
        Ok(repo) => match cli.command {
            Command::Dev(args) => stack::run(&repo, args).await,
            Command::Test(args) => test::run(&repo, args).await,
            Command::Images(args) => images::run(&repo, args),
        },
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The cause chain, without the backtrace that `RUST_BACKTRACE` would add: these
            // errors are for the person at the terminal, not about xtask's own code.
            let mut shown = error.to_string();
            eprintln!("\nerror: {shown}");
            for cause in error.chain().skip(1).map(ToString::to_string) {
                // Some errors (sqlx's) already include their source in their own message.
                if !shown.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                }
                shown = cause;
            }
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask always lives in `<root>/xtask`, wherever cargo is run from.
/// `cargo run` tells us where xtask's manifest is now; the path from build time is only a
/// fallback, because one target directory may be shared by clones at different paths.
fn repo_root() -> Result<PathBuf> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("xtask's manifest directory has no parent")
}
