//! Station agent benchmark (not a test): a live mes-api in this process on a fresh database,
//! the real agent binary as a child process.
//!
//! ```sh
//! export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
//! cargo build --release -p station-agent --bins --examples
//! /path/to/target/release/examples/bench_agent [--files 1000] [--queued 10000] [--repeat 3]
//! ```
//!
//! Prints: files/s from `input/complete` to `processed/` with a live API; the time to drain
//! N queued events; the agent's RSS while idle and its peak RSS (VmRSS / VmHWM of the child).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/agent/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use concurrency::join_chunks;
use harness::{Mes, Station, complete_file};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use station_agent::event::Kind;
use tokio::process::{Child, Command};

/// Runs `f` over `items`, `width` at a time.
mod concurrency {
    pub async fn join_chunks<T, F>(
        items: Vec<T>,
        width: usize,
        f: impl Fn(T) -> F + Clone + Send + 'static,
    ) where
        T: Send + 'static,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut set = tokio::task::JoinSet::new();
        for item in items {
            if set.len() >= width {
                set.join_next().await.unwrap().unwrap();
            }
            let f = f.clone();
            set.spawn(async move { f(item).await });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn agent_binary() -> PathBuf {
    // target/<profile>/examples/bench_agent → target/<profile>/station-agent
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("station-agent");
    assert!(
        bin.exists(),
        "build the agent first: cargo build --release -p station-agent --bins"
    );
    bin
}

fn spawn(config: &Path) -> Child {
    Command::new(agent_binary())
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn count(dir: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(dir)
}

/// Polls `done` every `every`: counting 10,000 files costs CPU that the agent and mes-api
/// share on a small machine, so big waits poll less often.
async fn wait_for(what: &str, secs: u64, every: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(every).await;
    }
}

fn write_config(station: &Station, api: &str, token: &str) -> PathBuf {
    // The test harness's fast timings, with a realistic settle time and the default drain.
    let toml = station
        .toml(api, token)
        .replace("settle_ms = 50", "settle_ms = 200")
        .replace("drain_interval_ms = 200", "drain_interval_ms = 10000")
        .replace("level = \"station_agent=debug,warn\"", "level = \"warn\"");
    let path = station.dir.path().join("station-agent.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

async fn start_serials(mes: &Mes, n: usize) -> Vec<String> {
    let serials = mes.serials(n).await;
    let base = mes.base.clone();
    let token = mes.station_token.clone();
    let client = reqwest::Client::new();
    join_chunks(serials.clone(), 16, move |sn: String| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let res = client
                .post(format!("{base}/api/v1/process/start"))
                .bearer_auth(&token)
                .json(
                    &json!({"serial_number": sn, "process_code": "SPRING", "operator_id": "W001"}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
    })
    .await;
    serials
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let files = arg("--files", 1000);
    let queued = arg("--queued", 10_000);
    let repeat = arg("--repeat", 3);
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let name = format!("station_agent_bench_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let (head, _) = url.split_at(url.rfind('/').unwrap());
    let db = PgPoolOptions::new()
        .max_connections(16)
        .connect(&format!("{head}/{name}"))
        .await
        .unwrap();
    let mes = Mes::start(db.clone()).await;
    println!(
        "station-agent benchmark: {} cores, files {files} x {repeat}, queued {queued}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 1. Throughput with a live API: drop files as fast as possible into a running agent.
    let mut rates = Vec::new();
    let mut idle = (0, 0);
    for r in 0..repeat {
        let serials = start_serials(&mes, files).await;
        let station = Station::new();
        let config = write_config(&station, &mes.base, &mes.station_token);
        let mut child = spawn(&config);
        let db_file = station.layout.queue_db();
        wait_for("agent start", 30, Duration::from_millis(20), || {
            db_file.exists()
        })
        .await;
        let processed = station.dir.path().join("processed");
        let t0 = Instant::now();
        for (i, sn) in serials.iter().enumerate() {
            station.drop_file(
                Kind::Complete,
                &format!("{i:06}.json"),
                &complete_file(sn),
                Duration::ZERO,
            );
        }
        let dropped = t0.elapsed();
        wait_for("processed files", 600, Duration::from_millis(20), || {
            count(&processed) == files
        })
        .await;
        let elapsed = t0.elapsed();
        let rate = files as f64 / elapsed.as_secs_f64();
        println!(
            "  run {r}: {files} files in {elapsed:.2?} (dropping took {dropped:.2?}) = {rate:.0} files/s"
        );
        rates.push(rate);
        // Idle: nothing to do for a few rescans.
        tokio::time::sleep(Duration::from_secs(3)).await;
        idle = rss_kib(child.id().unwrap());
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    let spread =
        rates.iter().cloned().fold(f64::MAX, f64::min)..=rates.iter().cloned().fold(0.0, f64::max);
    println!(
        "throughput: median {:.0} files/s (min {:.0}, max {:.0}), settle 200 ms",
        median(rates.clone()),
        spread.start(),
        spread.end()
    );
    println!(
        "idle after the run: VmRSS {} KiB, VmHWM {} KiB",
        idle.0, idle.1
    );

    // 2. Drain: queue `queued` events with the API unreachable, then point the agent at it.
    let serials = start_serials(&mes, queued).await;
    let station = Station::new();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = write_config(&station, &format!("http://{dead}"), &mes.station_token);
    for (i, sn) in serials.iter().enumerate() {
        station.drop_file(
            Kind::Complete,
            &format!("{i:06}.json"),
            &complete_file(sn),
            Duration::from_secs(5),
        );
    }
    let t0 = Instant::now();
    let mut child = spawn(&config);
    let spool = station.dir.path().join("queue/spool");
    wait_for("queueing", 600, Duration::from_millis(250), || {
        count(&spool) == queued
    })
    .await;
    let enqueue = t0.elapsed();
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    println!(
        "queued {queued} events (API unreachable) in {enqueue:.2?} = {:.0} files/s",
        queued as f64 / enqueue.as_secs_f64()
    );

    let config = write_config(&station, &mes.base, &mes.station_token);
    let t0 = Instant::now();
    let mut child = spawn(&config);
    let processed = station.dir.path().join("processed");
    wait_for("drain", 600, Duration::from_millis(250), || {
        count(&processed) == queued
    })
    .await;
    let drain = t0.elapsed();
    let peak = rss_kib(child.id().unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_after_drain = rss_kib(child.id().unwrap());
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    println!(
        "drained {queued} queued events in {drain:.2?} = {:.0} events/s",
        queued as f64 / drain.as_secs_f64()
    );
    println!(
        "agent RSS after the drain: VmRSS {} KiB idle, VmHWM {} KiB peak (at drain end {} KiB)",
        idle_after_drain.0, idle_after_drain.1, peak.0
    );

    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM process_data WHERE status = 'COMPLETED'")
            .fetch_one(&db)
            .await
            .unwrap();
    println!(
        "records stored: {stored} (expected {})",
        files * repeat + queued
    );
    drop(mes);
    db.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
}
