//! The live demo (`mes-sim run`): a line that keeps producing until Ctrl-C.
//!
//! One task per station takes units whose next process is its own, STARTs, waits the process's
//! standard cycle time (randomised, divided by `rate_scale`), and COMPLETEs with realistic data;
//! a failure goes to the supervisor, who opens a rework and decides PASS (the unit goes back to
//! the failed process) or SCRAP. A feeder releases serials from new LOTs while the line has room,
//! and at start-up resumes the unfinished serials of the line's open LOTs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

use crate::api::{Api, CallError, Session};
use crate::data;
use crate::line::{self, DefectCatalogue, Line};
use crate::station::{Report, Station};
use crate::verify::{self, Acked};

#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub line: String,
    pub product_model: Option<String>,
    pub seed: bool,
    pub stations: usize,
    pub rate_scale: f64,
    pub fail_rate: f64,
    pub rework_pass: f64,
    pub lot_size: u32,
    /// Units allowed on the line at once (released but not finished).
    pub wip_limit: Option<usize>,
    pub db_url: Option<String>,
    pub resume: bool,
}

/// A serial on its way through the line.
#[derive(Debug, Clone)]
struct Unit {
    serial: String,
    step: usize,
    work_order: u32,
    /// Its record at `step` is open already (resumed after a restart).
    open: bool,
}

/// Units waiting for the stations of one process.
struct Queue {
    tx: mpsc::UnboundedSender<Unit>,
    rx: Mutex<mpsc::UnboundedReceiver<Unit>>,
    depth: AtomicUsize,
}

impl Queue {
    fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(rx),
            depth: AtomicUsize::new(0),
        }
    }

    fn push(&self, unit: Unit) {
        self.depth.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(unit).is_err() {
            self.depth.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn pop(&self) -> Option<Unit> {
        let unit = self.rx.lock().await.recv().await;
        if unit.is_some() {
            self.depth.fetch_sub(1, Ordering::SeqCst);
        }
        unit
    }
}

#[derive(Default)]
struct Counters {
    started: AtomicU64,
    passed: AtomicU64,
    failed: AtomicU64,
    completed_serials: AtomicU64,
    rework_passed: AtomicU64,
    scrapped: AtomicU64,
    released: AtomicU64,
    retries: AtomicU64,
    in_flight: AtomicU64,
    wip: AtomicUsize,
    errors: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn error(&self, what: &str, e: &CallError) {
        tracing::warn!(error = %e, "{what}");
        *self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(e.code().to_owned())
            .or_default() += 1;
    }

    fn events(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
            + self.passed.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
    }

    fn error_total(&self) -> u64 {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }
}

struct Plant {
    line: Line,
    defects: DefectCatalogue,
    queues: Vec<Queue>,
    rework: mpsc::UnboundedSender<Unit>,
    counters: Counters,
    cfg: LiveConfig,
}

impl Plant {
    fn scaled(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds / self.cfg.rate_scale.max(0.001)).max(0.0))
    }

    fn finish(&self) {
        self.counters.wip.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Stations per process: one each, extra ones where the cycle is longest (a balanced line).
pub fn allocate_stations(cycle_times: &[u32], total: usize) -> Vec<usize> {
    let mut n = vec![1usize; cycle_times.len()];
    for _ in cycle_times.len()..total {
        let busiest = (0..n.len()).max_by(|&a, &b| {
            let load = |i: usize| f64::from(cycle_times[i]) / n[i] as f64;
            load(a).total_cmp(&load(b)).then(b.cmp(&a))
        });
        if let Some(i) = busiest {
            n[i] += 1;
        }
    }
    n
}

async fn station_loop(plant: Arc<Plant>, station: Station, step: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let process = plant.line.processes[step].clone();
    let counters = &plant.counters;
    while let Some(unit) = plant.queues[step].pop().await {
        counters.in_flight.fetch_add(1, Ordering::SeqCst);
        if !unit.open {
            match station
                .start(&unit.serial, &process.code, unit.work_order)
                .await
            {
                Ok(r) => {
                    counters.started.fetch_add(1, Ordering::Relaxed);
                    counters
                        .retries
                        .fetch_add(u64::from(r.attempts - 1), Ordering::Relaxed);
                }
                // Opened by an earlier simulator run: complete it.
                Err(e) if e.code() == "ALREADY_STARTED" => {}
                Err(e) => {
                    counters.error(&format!("START {} at {}", unit.serial, process.code), &e);
                    counters.in_flight.fetch_sub(1, Ordering::SeqCst);
                    plant.finish();
                    continue;
                }
            }
        }
        counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        let factor = rng.gen_range(0.8..1.3);
        let standard = f64::from(process.standard_cycle_time_seconds);
        tokio::time::sleep(plant.scaled(standard * factor)).await;
        let defect = data::pick_defect(
            plant.defects.for_process(&process.code),
            plant.cfg.fail_rate,
            &mut rng,
        );
        let report = Report {
            cycle_time: (standard * factor).round() as u32,
            data: data::process_data(
                &process.code,
                process.data_schema.as_ref(),
                &unit.serial,
                defect,
                &mut rng,
            ),
            defect,
        };
        counters.in_flight.fetch_add(1, Ordering::SeqCst);
        let outcome = station
            .complete(&unit.serial, &process.code, unit.work_order, &report)
            .await;
        counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        match outcome {
            Ok(r) if defect.is_some() => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                counters
                    .retries
                    .fetch_add(u64::from(r.attempts - 1), Ordering::Relaxed);
                let _ = plant.rework.send(unit);
            }
            Ok(r) => {
                counters.passed.fetch_add(1, Ordering::Relaxed);
                counters
                    .retries
                    .fetch_add(u64::from(r.attempts - 1), Ordering::Relaxed);
                match r
                    .data
                    .next_process
                    .and_then(|n| plant.line.step_of(&n.code))
                {
                    Some(next) => plant.queues[next].push(Unit {
                        step: next,
                        open: false,
                        ..unit
                    }),
                    None => {
                        if r.data.serial_status == "COMPLETED" {
                            counters.completed_serials.fetch_add(1, Ordering::Relaxed);
                        }
                        plant.finish();
                    }
                }
            }
            Err(e) => {
                counters.error(&format!("COMPLETE {} at {}", unit.serial, process.code), &e);
                plant.finish();
            }
        }
    }
}

#[derive(Deserialize)]
struct Rework {
    id: i64,
}

#[derive(Deserialize)]
struct Page<T> {
    items: Vec<T>,
}

/// The rework of a defective serial: the open one, or a new one.
async fn open_rework(supervisor: &Session, unit: &Unit, key: &str) -> Result<i64, CallError> {
    let open: Page<Rework> = supervisor
        .get(&format!(
            "/reworks?status=open&serial_number={}",
            unit.serial
        ))
        .await?;
    if let Some(r) = open.items.first() {
        return Ok(r.id);
    }
    let created = supervisor
        .post::<Rework>(
            "/reworks",
            &json!({ "serial_number": unit.serial, "operator_id": "QA-01",
                     "rework_reason": "simulated repair of the failed unit" }),
            Some(key),
        )
        .await?;
    Ok(created.data.id)
}

async fn rework_one(plant: Arc<Plant>, supervisor: Session, unit: Unit, run: String, seed: u64) {
    let (pass, wait) = {
        let mut rng = StdRng::seed_from_u64(seed);
        (
            rng.gen_bool(plant.cfg.rework_pass.clamp(0.0, 1.0)),
            rng.gen_range(240.0..600.0),
        )
    };
    tokio::time::sleep(plant.scaled(wait)).await;
    let key = format!("{run}:{}:rework:{}", unit.serial, unit.work_order);
    let counters = &plant.counters;
    let id = match open_rework(&supervisor, &unit, &key).await {
        Ok(id) => id,
        Err(e) => {
            counters.error(&format!("rework of {}", unit.serial), &e);
            plant.finish();
            return;
        }
    };
    let result = if pass { "PASS" } else { "SCRAP" };
    let done = supervisor
        .post::<Value>(
            &format!("/reworks/{id}/complete"),
            &json!({ "result": result }),
            Some(&format!("{key}:complete")),
        )
        .await;
    match done {
        Ok(_) if pass => {
            counters.rework_passed.fetch_add(1, Ordering::Relaxed);
            plant.queues[unit.step].push(Unit {
                work_order: unit.work_order + 1,
                open: false,
                ..unit
            });
        }
        Ok(_) => {
            counters.scrapped.fetch_add(1, Ordering::Relaxed);
            plant.finish();
        }
        Err(e) => {
            counters.error(&format!("rework {id} {result}"), &e);
            plant.finish();
        }
    }
}

async fn supervisor_loop(
    plant: Arc<Plant>,
    supervisor: Session,
    mut failed: mpsc::UnboundedReceiver<Unit>,
    run: String,
) {
    let mut n = 0u64;
    while let Some(unit) = failed.recv().await {
        n += 1;
        tokio::spawn(rework_one(
            plant.clone(),
            supervisor.clone(),
            unit,
            run.clone(),
            n,
        ));
    }
}

/// Releases serials onto the line while there is room; creates LOTs as needed.
async fn feeder_loop(
    plant: Arc<Plant>,
    admin: Session,
    model: String,
    mut backlog: Vec<String>,
    wip_limit: usize,
) {
    backlog.reverse();
    loop {
        let counters = &plant.counters;
        while counters.wip.load(Ordering::SeqCst) < wip_limit
            && plant.queues[0].depth.load(Ordering::SeqCst) < 2
        {
            let Some(serial) = backlog.pop() else {
                match line::new_lot_with_serials(
                    &admin,
                    &plant.line.line_code,
                    &model,
                    plant.cfg.lot_size,
                )
                .await
                {
                    Ok((lot, mut serials)) => {
                        tracing::info!(%lot, serials = serials.len(), "new LOT");
                        serials.reverse();
                        backlog = serials;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "could not create a LOT; retrying in 30 s"
                        );
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        continue;
                    }
                }
            };
            counters.wip.fetch_add(1, Ordering::SeqCst);
            counters.released.fetch_add(1, Ordering::Relaxed);
            plant.queues[0].push(Unit {
                serial,
                step: 0,
                work_order: 1,
                open: false,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[derive(Deserialize)]
struct LotSummary {
    lot_number: String,
}

#[derive(Deserialize)]
struct LotSerial {
    serial_number: String,
    status: String,
}

#[derive(Deserialize)]
struct LotDetail {
    serials: Vec<LotSerial>,
}

#[derive(Deserialize)]
struct HistoryRecord {
    process_code: String,
    status: String,
}

#[derive(Deserialize)]
struct SerialDetail {
    status: String,
    next_process: Option<String>,
    work_order: i32,
    process_history: Vec<HistoryRecord>,
}

/// What an earlier run left unfinished in the line's open LOTs.
#[derive(Default)]
struct Resumed {
    /// Units to put back in the queue of their process.
    on_line: Vec<Unit>,
    /// Defective units for the supervisor (`step` is the failed process).
    defective: Vec<Unit>,
    /// Serials never released.
    backlog: Vec<String>,
}

async fn resume(admin: &Session, line: &Line) -> anyhow::Result<Resumed> {
    let mut out = Resumed::default();
    for status in ["IN_PROGRESS", "CREATED"] {
        let lots: Page<LotSummary> = admin
            .get(&format!(
                "/lots?line={}&status={status}&page_size=100",
                line.line_code
            ))
            .await?;
        for lot in lots.items {
            let detail: LotDetail = admin.get(&format!("/lots/{}", lot.lot_number)).await?;
            for s in detail.serials {
                if s.status == "CREATED" {
                    out.backlog.push(s.serial_number);
                    continue;
                }
                if s.status != "IN_PROGRESS" && s.status != "DEFECTIVE" {
                    continue;
                }
                let d: SerialDetail = admin.get(&format!("/serials/{}", s.serial_number)).await?;
                let last_with = |status: &str| {
                    d.process_history
                        .iter()
                        .rev()
                        .find(|r| r.status == status)
                        .and_then(|r| line.step_of(&r.process_code))
                };
                let work_order = d.work_order.max(1) as u32;
                let unit = |step, open| Unit {
                    serial: s.serial_number.clone(),
                    step,
                    work_order,
                    open,
                };
                if d.status == "DEFECTIVE" {
                    if let Some(step) = last_with("FAILED") {
                        out.defective.push(unit(step, false));
                    }
                } else if let Some(step) = last_with("IN_PROGRESS") {
                    out.on_line.push(unit(step, true));
                } else if let Some(step) = d.next_process.as_deref().and_then(|c| line.step_of(c)) {
                    out.on_line.push(unit(step, false));
                }
            }
        }
    }
    Ok(out)
}

pub async fn run(api: &Api, admin: Session, cfg: LiveConfig) -> anyhow::Result<()> {
    let line = Line::load(&admin, &cfg.line, cfg.seed).await?;
    let model = line.model_for_lots(cfg.product_model.as_deref())?;
    let defects = DefectCatalogue::load(&admin).await?;
    let run = format!("SIM{:06x}", rand::thread_rng().gen_range(0..0x100_0000u32));
    let cycle_times: Vec<u32> = line
        .processes
        .iter()
        .map(|p| p.standard_cycle_time_seconds)
        .collect();
    let allocation = allocate_stations(&cycle_times, cfg.stations.max(line.processes.len()));
    let wip_limit = cfg
        .wip_limit
        .unwrap_or_else(|| allocation.iter().sum::<usize>() * 2);
    let (rework_tx, rework_rx) = mpsc::unbounded_channel();
    let plant = Arc::new(Plant {
        queues: line.processes.iter().map(|_| Queue::new()).collect(),
        line,
        defects,
        rework: rework_tx,
        counters: Counters::default(),
        cfg: cfg.clone(),
    });

    let mut principals = Vec::new();
    let mut handles = Vec::new();
    let mut seed = 0u64;
    for (step, count) in allocation.iter().enumerate() {
        let process = &plant.line.processes[step];
        let def = plant.line.station_for(&process.code);
        for j in 0..*count {
            let base = def.map_or_else(|| format!("STATION-{}", process.code), |d| d.name.clone());
            let workstation = if j == 0 {
                base
            } else {
                format!("{base}-{}", j + 1)
            };
            let equipment =
                def.and_then(|d| d.equipment_ids.get(j).or(d.equipment_ids.first()).cloned());
            let token_name = format!("{run}-{workstation}");
            let token =
                line::station_token(&admin, &token_name, Some(&workstation), Some(&process.code))
                    .await?;
            principals.push(format!("station:{token_name}"));
            let station = Station::new(
                api.station(token),
                token_name,
                workstation,
                format!("OP-{}-{}", process.code, j + 1),
                equipment,
            );
            seed += 1;
            handles.push(tokio::spawn(station_loop(
                plant.clone(),
                station,
                step,
                seed,
            )));
        }
    }
    tracing::info!(
        run = %run,
        stations = ?allocation,
        rate_scale = cfg.rate_scale,
        fail_rate = cfg.fail_rate,
        wip_limit,
        "line running; Ctrl-C stops it"
    );

    let mut backlog = Vec::new();
    if cfg.resume {
        let resumed = resume(&admin, &plant.line)
            .await
            .context("resuming open LOTs")?;
        tracing::info!(
            on_line = resumed.on_line.len(),
            defective = resumed.defective.len(),
            unreleased = resumed.backlog.len(),
            "resuming the unfinished serials of open LOTs"
        );
        for u in resumed.on_line {
            plant.counters.wip.fetch_add(1, Ordering::SeqCst);
            plant.queues[u.step].push(u);
        }
        for u in resumed.defective {
            plant.counters.wip.fetch_add(1, Ordering::SeqCst);
            let _ = plant.rework.send(u);
        }
        backlog = resumed.backlog;
    }
    handles.push(tokio::spawn(supervisor_loop(
        plant.clone(),
        admin.clone(),
        rework_rx,
        run.clone(),
    )));
    handles.push(tokio::spawn(feeder_loop(
        plant.clone(),
        admin.clone(),
        model,
        backlog,
        wip_limit,
    )));

    let began = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    let mut last = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let c = &plant.counters;
                let events = c.events();
                tracing::info!(
                    "events {events} (+{:.1}/s) | started {} passed {} failed {} | serials completed {} scrapped {} reworked {} | WIP {} | retries {} errors {}",
                    (events - last) as f64 / 10.0,
                    c.started.load(Ordering::Relaxed),
                    c.passed.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed),
                    c.completed_serials.load(Ordering::Relaxed),
                    c.scrapped.load(Ordering::Relaxed),
                    c.rework_passed.load(Ordering::Relaxed),
                    c.wip.load(Ordering::Relaxed),
                    c.retries.load(Ordering::Relaxed),
                    c.error_total(),
                );
                last = events;
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    for h in &handles {
        h.abort();
    }
    let c = &plant.counters;
    println!(
        "stopped after {:.0} s: {} events ({} STARTs, {} passed, {} failed), {} serials completed, {} reworked, {} scrapped, {} released",
        began.elapsed().as_secs_f64(),
        c.events(),
        c.started.load(Ordering::Relaxed),
        c.passed.load(Ordering::Relaxed),
        c.failed.load(Ordering::Relaxed),
        c.completed_serials.load(Ordering::Relaxed),
        c.rework_passed.load(Ordering::Relaxed),
        c.scrapped.load(Ordering::Relaxed),
        c.released.load(Ordering::Relaxed),
    );
    if let Ok(kpis) = admin
        .get::<Value>(&format!("/dashboard/lines/{}/kpis", cfg.line))
        .await
    {
        println!("line KPIs: {kpis}");
    }
    if let Some(url) = &cfg.db_url {
        let acked = Acked {
            starts: c.started.load(Ordering::Relaxed),
            completes: c.passed.load(Ordering::Relaxed) + c.failed.load(Ordering::Relaxed),
        };
        let in_flight = c.in_flight.load(Ordering::SeqCst);
        let verdict = verify::check(url, &principals, acked, in_flight).await?;
        println!("{verdict}");
        if !verdict.holds() {
            anyhow::bail!("exactly-once check failed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_stations_go_where_the_cycle_is_longest() {
        let demo = [120, 180, 60, 300, 180, 60, 120];
        assert_eq!(allocate_stations(&demo, 7), vec![1; 7]);
        assert_eq!(allocate_stations(&demo, 8), vec![1, 1, 1, 2, 1, 1, 1]);
        let ten = allocate_stations(&demo, 10);
        assert_eq!(ten.iter().sum::<usize>(), 10);
        assert_eq!(ten, vec![1, 2, 1, 2, 2, 1, 1]);
        assert_eq!(allocate_stations(&demo, 3), vec![1; 7]);
    }
}
