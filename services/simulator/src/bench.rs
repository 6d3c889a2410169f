//! The mes-api process-event benchmark (STANDARDS.md "Benchmarks"): N stations with no think time,
//! each walking serials START→COMPLETE through the whole routing with realistic data; per-request
//! latency in an HDR histogram; events/s over the measured window; R repeats per concurrency,
//! interleaved; next to each run the database's own ceiling for the same write transactions
//! (pgbench on a scratch copy); and at the end an exactly-once check in mes-api's database.
//!
//! Everything that is not an event (tokens, LOTs, serials) is created before a run's clock starts.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::api::{CallError, Reply, Session};
use crate::data;
use crate::line::{self, DefectCatalogue, Line};
use crate::pgbench::{ScratchDb, ScratchSpec};
use crate::psql::psql;
use crate::report::{self, Machine, RunResult};
use crate::station::{Report, Station};
use crate::verify::{self, Acked};

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub line: String,
    pub product_model: Option<String>,
    pub seed: bool,
    pub levels: Vec<usize>,
    pub events: u64,
    pub warmup: u64,
    pub repeat: usize,
    pub lot_size: u32,
    pub fail_rate: f64,
    /// mes-api's database: for the exactly-once check (and the default pgbench server).
    pub db_url: Option<String>,
    /// Where to create the scratch database for pgbench.
    pub pgbench_db_url: Option<String>,
    pub pgbench_seconds: u32,
    /// Events per pgbench batch transaction (at most; fewer stations, smaller batches).
    pub pgbench_batch: usize,
    /// Upper bound on pgbench clients (e.g. mes-api's pool size); default: the stations.
    pub pgbench_max_clients: Option<usize>,
    pub migrations: PathBuf,
}

/// State shared by the stations of one run.
struct RunShared {
    serials: Mutex<VecDeque<String>>,
    /// Events handed out so far (two per START+COMPLETE pair).
    tickets: AtomicU64,
    warmup: u64,
    total: u64,
    origin: Instant,
    window_start_ns: AtomicU64,
    window_end_ns: AtomicU64,
}

impl RunShared {
    fn next_serial(&self) -> Option<String> {
        self.serials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn window_opens(&self) {
        let now = self.now_ns();
        let _ = self.window_start_ns.compare_exchange(
            u64::MAX,
            now,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    fn measured_event_done(&self) {
        self.window_end_ns
            .fetch_max(self.now_ns(), Ordering::SeqCst);
    }

    fn window_seconds(&self) -> f64 {
        let start = self.window_start_ns.load(Ordering::SeqCst);
        let end = self.window_end_ns.load(Ordering::SeqCst);
        if start == u64::MAX || end <= start {
            0.0
        } else {
            (end - start) as f64 / 1e9
        }
    }
}

/// What one station saw during a run.
struct StationTally {
    histogram: Histogram<u64>,
    measured: u64,
    errors: BTreeMap<String, u64>,
    retries: u64,
    replays: u64,
    acked: Acked,
}

impl StationTally {
    fn new() -> Self {
        Self {
            histogram: report::new_histogram(),
            measured: 0,
            errors: BTreeMap::new(),
            retries: 0,
            replays: 0,
            acked: Acked::default(),
        }
    }

    /// Notes one event's outcome; true when it succeeded.
    fn note<T>(
        &mut self,
        shared: &RunShared,
        measured: bool,
        elapsed: Duration,
        outcome: &Result<Reply<T>, CallError>,
    ) -> bool {
        match outcome {
            Ok(reply) => {
                self.retries += u64::from(reply.attempts.saturating_sub(1));
                self.replays += u64::from(reply.replayed);
                if measured {
                    report::record(&mut self.histogram, elapsed);
                    self.measured += 1;
                    shared.measured_event_done();
                }
                true
            }
            Err(e) => {
                *self.errors.entry(e.code().to_owned()).or_default() += 1;
                tracing::debug!(error = %e, "event refused");
                false
            }
        }
    }
}

async fn drive_station(
    station: Station,
    line: Arc<Line>,
    defects: Arc<DefectCatalogue>,
    shared: Arc<RunShared>,
    fail_rate: f64,
    seed: u64,
) -> StationTally {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = StationTally::new();
    'serials: while let Some(serial) = shared.next_serial() {
        for process in &line.processes {
            let ticket = shared.tickets.fetch_add(2, Ordering::SeqCst);
            if ticket >= shared.total {
                break 'serials;
            }
            let measured = ticket >= shared.warmup;
            if measured {
                shared.window_opens();
            }
            let t = Instant::now();
            let started = station.start(&serial, &process.code, 1).await;
            if !tally.note(&shared, measured, t.elapsed(), &started) {
                continue 'serials;
            }
            tally.acked.starts += 1;
            let defect = data::pick_defect(defects.for_process(&process.code), fail_rate, &mut rng);
            let standard = f64::from(process.standard_cycle_time_seconds);
            let report = Report {
                cycle_time: (standard * rng.gen_range(0.85..1.25)).round() as u32,
                data: data::process_data(
                    &process.code,
                    process.data_schema.as_ref(),
                    &serial,
                    defect,
                    &mut rng,
                ),
                defect,
            };
            let t = Instant::now();
            let completed = station.complete(&serial, &process.code, 1, &report).await;
            if !tally.note(&shared, measured, t.elapsed(), &completed) {
                continue 'serials;
            }
            tally.acked.completes += 1;
            if defect.is_some() {
                continue 'serials;
            }
        }
    }
    tally
}

/// Events one serial yields on average (a failed serial leaves the routing).
fn events_per_serial(processes: usize, fail_rate: f64) -> f64 {
    let q = 1.0 - fail_rate.clamp(0.0, 0.99);
    2.0 * (0..processes).map(|k| q.powi(k as i32)).sum::<f64>()
}

/// Everything a run needs, created once.
struct Bench {
    admin: Session,
    line: Arc<Line>,
    model: String,
    defects: Arc<DefectCatalogue>,
    stations: Vec<Station>,
    pool: VecDeque<String>,
    cfg: BenchConfig,
    acked: Acked,
}

impl Bench {
    async fn top_up(&mut self, wanted: usize) -> anyhow::Result<()> {
        while self.pool.len() < wanted {
            let (_, serials) = line::new_lot_with_serials(
                &self.admin,
                &self.line.line_code,
                &self.model,
                self.cfg.lot_size,
            )
            .await?;
            self.pool.extend(serials);
        }
        Ok(())
    }

    async fn run_once(&mut self, stations: usize, repeat: usize) -> anyhow::Result<RunResult> {
        let total = (self.cfg.warmup + self.cfg.events).div_ceil(2) * 2;
        let per_serial = events_per_serial(self.line.processes.len(), self.cfg.fail_rate);
        let wanted = (total as f64 / per_serial * 1.05).ceil() as usize + stations * 2;
        self.top_up(wanted).await.context("creating serials")?;
        let cfg = &self.cfg;
        let shared = Arc::new(RunShared {
            serials: Mutex::new(std::mem::take(&mut self.pool)),
            tickets: AtomicU64::new(0),
            warmup: cfg.warmup.div_ceil(2) * 2,
            total,
            origin: Instant::now(),
            window_start_ns: AtomicU64::new(u64::MAX),
            window_end_ns: AtomicU64::new(0),
        });
        let mut tasks = Vec::with_capacity(stations);
        for (i, station) in self.stations.iter().take(stations).enumerate() {
            tasks.push(tokio::spawn(drive_station(
                station.clone(),
                self.line.clone(),
                self.defects.clone(),
                shared.clone(),
                cfg.fail_rate,
                (repeat as u64) << 32 | (stations as u64) << 16 | i as u64,
            )));
        }
        let mut result = RunResult {
            stations,
            ..RunResult::default()
        };
        let mut histogram = report::new_histogram();
        for task in tasks {
            let tally = task.await.context("a station task panicked")?;
            histogram.add(&tally.histogram).ok();
            result.events += tally.measured;
            result.retries += tally.retries;
            result.replays += tally.replays;
            for (code, n) in tally.errors {
                *result.errors.entry(code).or_default() += n;
            }
            self.acked += tally.acked;
        }
        result.seconds = shared.window_seconds();
        result.latency = report::Latency::of(&histogram);
        // Serials no station took stay for the next run.
        self.pool = std::mem::take(&mut *shared.serials.lock().unwrap_or_else(|e| e.into_inner()));
        if shared.tickets.load(Ordering::SeqCst) < total {
            tracing::warn!(
                stations,
                "the run ran out of serials before its event count"
            );
        }
        Ok(result)
    }
}

async fn database_facts(url: &str) -> String {
    psql(
        url,
        "SELECT split_part(version(), ' ', 2) || ', synchronous_commit=' || current_setting('synchronous_commit')
                || ', shared_buffers=' || current_setting('shared_buffers')
                || ', max_connections=' || current_setting('max_connections')",
    )
    .await
    .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Runs the benchmark; true when every event succeeded and exactly-once held.
pub async fn run(admin: Session, api: &crate::api::Api, cfg: BenchConfig) -> anyhow::Result<bool> {
    let machine = Machine::detect();
    println!("# mes-api process events benchmark");
    println!("machine: {machine}");
    println!("date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    if let Some(url) = &cfg.db_url {
        println!("PostgreSQL {}", database_facts(url).await);
    }
    let line = Line::load(&admin, &cfg.line, cfg.seed).await?;
    let model = line.model_for_lots(cfg.product_model.as_deref())?;
    let defects = DefectCatalogue::load(&admin).await?;
    let tag = format!("B{:06x}", rand::thread_rng().gen_range(0..0x100_0000u32));
    let max_stations = cfg.levels.iter().copied().max().unwrap_or(1);
    println!(
        "run {tag}: stations {:?}, {} measured events per run after {} warm-up events, {} repeats, LOTs of {}, fail rate {}",
        cfg.levels, cfg.events, cfg.warmup, cfg.repeat, cfg.lot_size, cfg.fail_rate
    );
    let mut stations = Vec::with_capacity(max_stations);
    let mut principals = Vec::with_capacity(max_stations);
    for i in 0..max_stations {
        let name = format!("{tag}-S{i:03}");
        let token = line::station_token(&admin, &name, Some(&name), None).await?;
        principals.push(format!("station:{name}"));
        stations.push(Station::new(
            api.station(token),
            name.clone(),
            name,
            format!("W{:03}", i % 1000),
            None,
        ));
    }

    let pgbench_url = cfg.pgbench_db_url.clone();
    let mut scratch = match &pgbench_url {
        Some(url) => Some(
            ScratchDb::create(ScratchSpec {
                admin_url: url,
                migrations: &cfg.migrations,
                tag: &tag,
                lot_size: cfg.lot_size,
                max_clients: 90,
                clients: &cfg.levels,
                seconds: cfg.pgbench_seconds,
            })
            .await
            .context("preparing the pgbench scratch database")?,
        ),
        None => {
            println!("(no database URL: pgbench ceiling skipped)");
            None
        }
    };

    let mut bench = Bench {
        admin: admin.clone(),
        line: Arc::new(line),
        model,
        defects: Arc::new(defects),
        stations,
        pool: VecDeque::new(),
        cfg: cfg.clone(),
        acked: Acked::default(),
    };
    let outcome = measure_all(&mut bench, scratch.as_mut()).await;
    if let Some(db) = &scratch {
        db.drop_database().await;
    }
    let levels = outcome?;

    println!(
        "\n## Results (median over {} repeats, range in parentheses)\n",
        cfg.repeat
    );
    println!("{}", report::markdown_table(&levels));
    println!("machine at the end: {}", Machine::detect());
    let mut ok = levels.values().flatten().all(|r| r.error_count() == 0);
    if let Some(url) = &cfg.db_url {
        let verdict = verify::check(url, &principals, bench.acked, 0).await?;
        println!("{verdict}");
        ok &= verdict.holds();
    }
    if let Ok(kpis) = admin
        .get::<serde_json::Value>(&format!("/dashboard/lines/{}/kpis", cfg.line))
        .await
    {
        println!("line KPIs after the run: {kpis}");
    }
    Ok(ok)
}

type Measured = BTreeMap<usize, Vec<RunResult>>;

async fn measure_all(
    bench: &mut Bench,
    mut scratch: Option<&mut ScratchDb>,
) -> anyhow::Result<Measured> {
    let mut levels: BTreeMap<usize, Vec<RunResult>> = BTreeMap::new();
    let seconds = bench.cfg.pgbench_seconds;
    for repeat in 0..bench.cfg.repeat {
        println!("\n### repeat {}/{}", repeat + 1, bench.cfg.repeat);
        for &stations in &bench.cfg.levels.clone() {
            let mut result = bench.run_once(stations, repeat).await?;
            if let Some(db) = scratch.as_deref_mut() {
                let cap = db
                    .client_cap()
                    .await?
                    .min(bench.cfg.pgbench_max_clients.unwrap_or(usize::MAX));
                result.ceiling = Some(
                    db.measure(stations, bench.cfg.pgbench_batch, cap, seconds)
                        .await?,
                );
            }
            let mut line = result.one_line();
            if let (Some(c), Some(r)) = (&result.ceiling, result.ratio()) {
                line.push_str(&format!(
                    "\n      pgbench {} clients × {} events per batch: {:.0} events/s → mes-api at {:.0} % of the ceiling",
                    c.clients,
                    c.batch,
                    c.events_per_s,
                    r * 100.0
                ));
            }
            println!("{line}");
            levels.entry(stations).or_default().push(result);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_demand_follows_the_fail_rate() {
        assert_eq!(events_per_serial(7, 0.0), 14.0);
        let with_failures = events_per_serial(7, 0.1);
        assert!(with_failures < 14.0 && with_failures > 9.0);
    }
}
