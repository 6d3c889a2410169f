//! `mes-sim`: a production simulator for mes-api (`run`, the live demo) and the process-event
//! benchmark of STANDARDS.md (`bench`), driving the same stations with the same events.

mod api;
mod bench;
mod data;
mod line;
mod live;
mod pgbench;
mod psql;
mod report;
mod station;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mes-sim",
    version,
    about = "Production simulator and benchmark driver for mes-api"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the line until Ctrl-C: stations, rework, new LOTs — the live demo.
    Run(RunArgs),
    /// Benchmark process events at several concurrencies, with the pgbench ceiling.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct Connection {
    /// mes-api base URL.
    #[arg(long, env = "MES_API_URL", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// An ADMIN user (creates station tokens, LOTs and serials, reworks).
    #[arg(long, env = "MES_SIM_USER", default_value = "admin")]
    user: String,
    /// File holding the user's password; else the environment variable MES_SIM_PASSWORD.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// The line to drive.
    #[arg(long, default_value = "L1")]
    line: String,
    /// Product model of new LOTs (default: the line's first).
    #[arg(long)]
    product_model: Option<String>,
    /// Create the demo master data (xtask/demo) when the line does not exist.
    #[arg(long)]
    seed: bool,
    /// Seconds a request that failed transiently (connection, 5xx) is retried with its key.
    #[arg(long, default_value_t = 120)]
    retry_for: u64,
}

impl Connection {
    fn password(&self) -> anyhow::Result<String> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            return Ok(text.trim_end_matches(['\n', '\r']).to_owned());
        }
        match std::env::var("MES_SIM_PASSWORD") {
            Ok(p) if !p.is_empty() => Ok(p),
            _ => bail!("give --password-file or set MES_SIM_PASSWORD"),
        }
    }

    async fn connect(&self) -> anyhow::Result<(api::Api, api::Session)> {
        let retry = api::RetryPolicy {
            give_up_after: Duration::from_secs(self.retry_for),
            ..api::RetryPolicy::default()
        };
        let client = api::Api::new(&self.api, retry)?;
        let admin = client
            .login(&self.user, &self.password()?)
            .await
            .with_context(|| format!("logging in to {} as {}", self.api, self.user))?;
        Ok((client, admin))
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    conn: Connection,
    /// Stations in all (at least one per process; extra ones where the cycle is longest).
    #[arg(long, default_value_t = 7)]
    stations: usize,
    /// Time compression: a process takes standard cycle time ÷ this.
    #[arg(long, default_value_t = 60.0)]
    rate_scale: f64,
    /// Probability that a unit fails a process that has defect codes.
    #[arg(long, default_value_t = 0.03)]
    fail_rate: f64,
    /// Probability that a rework ends PASS (else SCRAP).
    #[arg(long, default_value_t = 0.8)]
    rework_pass: f64,
    /// Serials per new LOT.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=9999))]
    lot_size: u32,
    /// Units on the line at once (default: twice the stations).
    #[arg(long)]
    wip_limit: Option<usize>,
    /// Do not pick up the unfinished serials of the line's open LOTs at start.
    #[arg(long)]
    no_resume: bool,
    /// mes-api's database (postgres://…): on Ctrl-C, check that every acknowledged event is
    /// stored exactly once (uses psql).
    #[arg(long, env = "MES_SIM_DB_URL")]
    db_url: Option<String>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    conn: Connection,
    /// Concurrency levels (simulated stations), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
    stations: Vec<usize>,
    /// Measured events (each START and each COMPLETE is one) per run.
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Events before the clock starts, per run.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Runs per concurrency (interleaved); median and range are reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Serials per LOT created for the benchmark.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=9999))]
    lot_size: u32,
    /// Probability of a failed COMPLETE (the serial then leaves the run as DEFECTIVE).
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
    /// mes-api's database (postgres://…/db): exactly-once check after the runs, and the server
    /// the pgbench scratch database is created on.
    #[arg(long, env = "MES_SIM_DB_URL")]
    db_url: Option<String>,
    /// Server for the pgbench scratch database, if not --db-url's.
    #[arg(long)]
    pgbench_db_url: Option<String>,
    /// Seconds per pgbench run.
    #[arg(long, default_value_t = 10)]
    pgbench_seconds: u32,
    /// Events per pgbench batch transaction: each pgbench client plays one mes-api event
    /// writer (stations ÷ batch clients).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=128))]
    pgbench_batch: u16,
    /// At most this many pgbench clients (e.g. mes-api's database pool size, to compare at
    /// equal database concurrency); default: as many as stations, within max_connections.
    #[arg(long)]
    pgbench_max_clients: Option<usize>,
    /// Skip the pgbench ceiling even when a database URL is known.
    #[arg(long)]
    no_pgbench: bool,
    /// mes-api's migrations, for the pgbench scratch database.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../mes-api/migrations"))]
    migrations: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mes-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Run(a) => {
            let (client, admin) = a.conn.connect().await?;
            let cfg = live::LiveConfig {
                line: a.conn.line.clone(),
                product_model: a.conn.product_model.clone(),
                seed: a.conn.seed,
                stations: a.stations,
                rate_scale: a.rate_scale,
                fail_rate: a.fail_rate,
                rework_pass: a.rework_pass,
                lot_size: a.lot_size,
                wip_limit: a.wip_limit,
                db_url: a.db_url,
                resume: !a.no_resume,
            };
            live::run(&client, admin, cfg).await?;
            Ok(true)
        }
        Command::Bench(a) => {
            if a.stations.is_empty() || a.stations.contains(&0) {
                bail!("--stations needs positive numbers");
            }
            let (client, admin) = a.conn.connect().await?;
            let cfg = bench::BenchConfig {
                line: a.conn.line.clone(),
                product_model: a.conn.product_model.clone(),
                seed: a.conn.seed,
                levels: a.stations,
                events: a.events,
                warmup: a.warmup,
                repeat: a.repeat.max(1),
                lot_size: a.lot_size,
                fail_rate: a.fail_rate,
                pgbench_db_url: if a.no_pgbench {
                    None
                } else {
                    a.pgbench_db_url.or_else(|| a.db_url.clone())
                },
                db_url: a.db_url,
                pgbench_seconds: a.pgbench_seconds,
                pgbench_batch: usize::from(a.pgbench_batch),
                pgbench_max_clients: a.pgbench_max_clients.filter(|&n| n > 0),
                migrations: a.migrations,
            };
            bench::run(admin, &client, cfg).await
        }
    }
}
