//! The per-replica event writer: START/COMPLETE handlers validate their input, then hand a
//! [`Command`] to this writer and wait for its answer. A writer task takes the first queued
//! command and whatever else is already queued (no timer: batches grow only when events arrive
//! faster than a batch commits), decides all of them on rows locked in one query, and writes the
//! whole batch in one transaction with a fixed number of statements. Per-statement executor,
//! trigger and commit costs, which dominated the database's CPU, are paid once per batch.
//!
//! If a batch statement fails (a constraint nobody predicted, a deadlock, a lost connection),
//! the batch is rolled back and each of its commands runs again alone, so only a faulty command
//! fails. Realtime events are published after commit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, oneshot};

use super::batch_sql::{self, Columns};
use super::decide::{self, Answer, Command, LotRow, SerialRow, Snapshot, Verdict, Write};
use super::idempotency::{Idempotency, Outcome, Stored};
use super::route_cache::{LineRouting, RouteCache};
use crate::config::EventAudit;
use crate::db;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::realtime::Hub;

/// Most commands in one batch; bounds a batch's statement size and its latency.
pub const MAX_BATCH: usize = 128;
/// Writer tasks per replica: while one waits for its commit to be flushed, the next batch runs.
const WRITERS: usize = 2;
/// Commands waiting for a writer; handlers wait (back-pressure) when it is full.
const QUEUE: usize = 4096;

pub type Reply = Result<Outcome<Answer>, ApiError>;

struct Job {
    command: Command,
    reply: oneshot::Sender<Reply>,
}

/// What a writer needs besides its queue.
#[derive(Clone, Debug)]
pub struct WriterDeps {
    pub db: PgPool,
    pub routes: Arc<RouteCache>,
    pub realtime: Hub,
    pub metrics: Arc<Metrics>,
    pub audit: EventAudit,
}

/// The handle handlers submit commands through.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer tasks; they end when the last handle is dropped.
    pub fn spawn(deps: WriterDeps) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(run(deps.clone(), rx.clone()));
        }
        Self { queue }
    }

    pub async fn submit(&self, command: Command) -> Reply {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { command, reply })
            .await
            .map_err(|_| ApiError::internal("the event writer has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("the event writer dropped a command"))?
    }
}

/// The queue, held by the writer whose turn it is to collect and run a batch. It passes to the
/// other writer when the batch starts committing: commands that arrive while a batch runs its
/// statements form the next batch, and one commit's flush overlaps the next batch's work.
type Turn = OwnedMutexGuard<mpsc::Receiver<Job>>;

async fn run(deps: WriterDeps, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    // Trigger audit reads the actor from transaction-local settings: one command per batch.
    let max = match deps.audit {
        EventAudit::Inline => MAX_BATCH,
        EventAudit::Triggers => 1,
    };
    let mut jobs: Vec<Job> = Vec::new();
    loop {
        let mut turn = None;
        if jobs.is_empty() {
            let mut q = queue.clone().lock_owned().await;
            match q.recv().await {
                Some(job) => jobs.push(job),
                None => return,
            }
            drain(&mut q, &mut jobs, max);
            turn = Some(q);
        } else if let Ok(mut q) = queue.clone().try_lock_owned() {
            // Deferred commands go first; the other writer may hold the queue.
            drain(&mut q, &mut jobs, max);
            turn = Some(q);
        }
        jobs = process(&deps, jobs, turn).await;
    }
}

fn drain(q: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>, max: usize) {
    while jobs.len() < max {
        match q.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

/// Runs one batch and answers its commands; returns the deferred ones.
async fn process(deps: &WriterDeps, jobs: Vec<Job>, mut turn: Option<Turn>) -> Vec<Job> {
    let (commands, replies): (Vec<Command>, Vec<oneshot::Sender<Reply>>) =
        jobs.into_iter().map(|j| (j.command, j.reply)).unzip();
    deps.metrics.event_batch_size.observe(commands.len() as f64);
    let outcome = execute(deps, &commands, &mut turn).await;
    drop(turn);
    match outcome {
        Ok(verdicts) => answer(deps, commands, replies, verdicts),
        Err(Failed { error, alone: true }) if commands.len() > 1 => {
            tracing::warn!(error = %error.message, commands = commands.len(), "event batch failed; running its commands one by one");
            deps.metrics.event_batches_split.inc();
            let mut deferred = Vec::new();
            for (command, reply) in commands.into_iter().zip(replies) {
                let single = [command];
                match execute(deps, &single, &mut None).await {
                    Ok(verdicts) => {
                        let [command] = single;
                        deferred.extend(answer(deps, vec![command], vec![reply], verdicts));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.error));
                    }
                }
            }
            deferred
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.error.clone()));
            }
            Vec::new()
        }
    }
}

/// Answers the committed batch's commands, announces its events and counts them.
fn answer(
    deps: &WriterDeps,
    commands: Vec<Command>,
    replies: Vec<oneshot::Sender<Reply>>,
    verdicts: Vec<Verdict>,
) -> Vec<Job> {
    let mut deferred = Vec::new();
    for ((command, reply), verdict) in commands.into_iter().zip(replies).zip(verdicts) {
        let result = match verdict {
            Verdict::Write(w) => {
                let w = *w;
                deps.metrics
                    .process_events
                    .with_label_values(&[
                        w.line_code.as_str(),
                        w.process_code.as_str(),
                        w.outcome(),
                    ])
                    .inc();
                deps.realtime.publish(w.payload);
                Ok(Outcome::Done(w.answer))
            }
            Verdict::Replay(r) => r.map(Outcome::Replayed),
            Verdict::Refuse(e) => Err(e),
            Verdict::Defer => {
                deferred.push(Job { command, reply });
                continue;
            }
        };
        let _ = reply.send(result);
    }
    deferred
}

/// Decides and writes one batch in one transaction; the verdicts are in command order and
/// the writes among them are committed.
async fn execute(
    deps: &WriterDeps,
    commands: &[Command],
    turn: &mut Option<Turn>,
) -> Result<Vec<Verdict>, Failed> {
    let inline = deps.audit == EventAudit::Inline;
    let mut tx = deps.db.begin().await?;
    let serial_numbers: Vec<&str> = commands.iter().filter_map(Command::serial_number).collect();
    let record_ids: Vec<i64> = commands.iter().filter_map(Command::record_id).collect();
    let caller = commands
        .first()
        .filter(|_| !inline)
        .map(|c| c.caller.clone())
        .unwrap_or_default();
    let serials: Vec<LockedSerial> = sqlx::query_as(batch_sql::LOCK_SERIALS)
        .bind(&serial_numbers)
        .bind(&record_ids)
        .bind(if inline { "on" } else { "off" })
        .bind(&caller.actor)
        .bind(caller.ip.as_deref().unwrap_or_default())
        .bind(caller.user_agent.as_deref().unwrap_or_default())
        .bind(caller.request_id.as_deref().unwrap_or_default())
        .fetch_all(&mut *tx)
        .await?;
    let now = serials.first().map_or_else(Utc::now, |s| s.now);
    let serials: Vec<SerialRow> = serials.into_iter().map(|s| s.row).collect();
    let routes = load_routes(&deps.routes, &mut tx, &serials).await?;
    let starts = commands.iter().filter(|c| c.is_start()).count();
    let (ids, stored) = keys_and_ids(&mut tx, commands, starts).await?;
    let defect_codes = known_defect_codes(&mut tx, commands).await?;
    let verdicts = decide::decide(
        commands,
        &Snapshot {
            now,
            serials: &serials,
            routes: &routes,
            stored: &stored,
            defect_codes: &defect_codes,
            ids: &ids,
        },
    );
    let (mut writes, mut slots): (Vec<Write>, Vec<Option<Verdict>>) = (Vec::new(), Vec::new());
    for v in verdicts {
        match v {
            Verdict::Write(w) => {
                writes.push(*w);
                slots.push(None);
            }
            other => slots.push(Some(other)),
        }
    }
    if !writes.is_empty() {
        let lock = decide::lots_to_lock(&writes);
        let lots: Vec<LotRow> = if lock.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(batch_sql::LOCK_LOTS)
                .bind(&lock)
                .fetch_all(&mut *tx)
                .await?
        };
        let steps = decide::apply_lots(&mut writes, &lots);
        let bodies = writes
            .iter()
            .map(|w| {
                commands[w.command]
                    .idem
                    .as_ref()
                    .map(|_| stored_body(&w.answer))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Columns::build(commands, &writes, &steps, now, &bodies)
            .bind(inline)
            .execute(&mut *tx)
            .await
            .map_err(|e| Failed {
                alone: matches!(e, sqlx::Error::Database(_)),
                error: write_error(e),
            })?;
    }
    // The other writer may collect the next batch while this one is flushed.
    drop(turn.take());
    tx.commit().await?;
    let mut writes = writes.into_iter();
    Ok(slots
        .into_iter()
        .map(|slot| match slot {
            Some(v) => v,
            None => writes
                .next()
                .map_or(Verdict::Defer, |w| Verdict::Write(Box::new(w))),
        })
        .collect())
}

/// Why a batch did not commit, and whether running its commands one by one may help: a
/// statement the database refused may be one command's fault; an unreachable database is not.
#[derive(Debug)]
struct Failed {
    error: ApiError,
    alone: bool,
}

impl From<sqlx::Error> for Failed {
    fn from(e: sqlx::Error) -> Self {
        Self {
            alone: matches!(e, sqlx::Error::Database(_)),
            error: e.into(),
        }
    }
}

impl From<ApiError> for Failed {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            alone: false,
        }
    }
}

#[derive(sqlx::FromRow)]
struct LockedSerial {
    now: DateTime<Utc>,
    #[sqlx(flatten)]
    row: SerialRow,
}

async fn load_routes(
    cache: &RouteCache,
    tx: &mut PgConnection,
    serials: &[SerialRow],
) -> Result<HashMap<i32, Arc<LineRouting>>, ApiError> {
    let mut routes = HashMap::new();
    for s in serials {
        if let std::collections::hash_map::Entry::Vacant(e) = routes.entry(s.line_id) {
            e.insert(cache.get(tx, s.line_id, s.line_version).await?);
        }
    }
    Ok(routes)
}

type StoredKeys = HashMap<(String, String), Stored>;

async fn keys_and_ids(
    tx: &mut PgConnection,
    commands: &[Command],
    starts: usize,
) -> Result<(Vec<i64>, StoredKeys), ApiError> {
    let keys: Vec<&Idempotency> = commands.iter().filter_map(|c| c.idem.as_ref()).collect();
    if keys.is_empty() && starts == 0 {
        return Ok((Vec::new(), HashMap::new()));
    }
    let principals: Vec<&str> = keys.iter().map(|k| k.principal()).collect();
    let names: Vec<&str> = keys.iter().map(|k| k.key()).collect();
    let rows: Vec<KeyRow> = sqlx::query_as(batch_sql::KEYS_AND_IDS)
        .bind(&principals)
        .bind(&names)
        .bind(starts as i32)
        .fetch_all(&mut *tx)
        .await?;
    let ids = rows.first().and_then(|r| r.ids.clone()).unwrap_or_default();
    let stored = rows
        .into_iter()
        .filter_map(|r| {
            Some((
                (r.principal?, r.idempotency_key?),
                Stored {
                    request_hash: r.request_hash?,
                    response_status: r.response_status?,
                    response_body: r.response_body?,
                    method: r.method?,
                    path: r.path?,
                },
            ))
        })
        .collect();
    Ok((ids, stored))
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    ids: Option<Vec<i64>>,
    principal: Option<String>,
    idempotency_key: Option<String>,
    request_hash: Option<Vec<u8>>,
    response_status: Option<i16>,
    response_body: Option<Value>,
    method: Option<String>,
    path: Option<String>,
}

async fn known_defect_codes(
    tx: &mut PgConnection,
    commands: &[Command],
) -> Result<HashSet<String>, ApiError> {
    let named: Vec<&str> = commands.iter().filter_map(Command::defect_code).collect();
    if named.is_empty() {
        return Ok(HashSet::new());
    }
    let known: Vec<String> = sqlx::query_scalar(batch_sql::KNOWN_DEFECT_CODES)
        .bind(&named)
        .fetch_all(&mut *tx)
        .await?;
    Ok(known.into_iter().collect())
}

fn stored_body(answer: &Answer) -> Result<Value, ApiError> {
    match answer {
        Answer::Start(a) => Idempotency::envelope(a),
        Answer::Complete(a) => Idempotency::envelope(a),
    }
}

/// Names the refusal a write constraint stands for; only a batch of one reaches its caller
/// with it (a larger batch is retried command by command).
fn write_error(e: sqlx::Error) -> ApiError {
    match db::violated_constraint(&e) {
        // The database's own guard against a second open record (should the lock be bypassed).
        Some("process_data_one_open_per_serial") => {
            ApiError::conflict("ALREADY_STARTED", "this serial already has an open process")
        }
        Some("process_data_defect_code_fkey" | "serials_defect_code_fkey") => {
            ApiError::unprocessable("UNKNOWN_DEFECT_CODE", "the defect code does not exist")
                .with_details(json!({ "field": "defect_code" }))
        }
        _ => e.into(),
    }
}
