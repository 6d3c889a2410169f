//! The agent's work loop: take completed files from `input/`, deliver or queue or reject them,
//! drain the offline queue, keep house.
//!
//! Crash safety rests on two rules. A file leaves `input/` only after its event is acknowledged
//! by mes-api (then to `processed/`), durably committed to the queue (then to `queue/spool/`),
//! or rejected (then to `error/`). And every delivery of one file carries the same
//! Idempotency-Key, so redoing any step after a crash stores nothing twice.
//!
//! One task does everything in order, so files are delivered in the order they completed.
//! SQLite calls are short and made inline: there is nothing else on this runtime for them to
//! block.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{Local, Utc};
use futures_util::future::join_all;
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::deliver::{ApiClient, Decision, decide};
use crate::event::{Kind, idempotency_key};
use crate::housekeeping;
use crate::layout::{self, ErrorReport, Layout};
use crate::queue::{Item, Queue, QueueError, State};
use crate::scan::{self, Candidate, Readiness, Settling};
use crate::validate::{MAX_FILE_BYTES, Validator};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Schema(#[from] crate::validate::SchemaError),
    #[error(transparent)]
    Client(#[from] crate::deliver::ClientError),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> AgentError {
    let context = context.into();
    move |source| AgentError::Io { context, source }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run until told to stop.
    Continuous,
    /// Process what is in `input/`, drain the queue once, and return.
    Once,
}

/// What a run did; `run --once` prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub delivered: u64,
    pub rejected: u64,
    pub queued: u64,
    pub drained: u64,
    pub dead_lettered: u64,
    /// Files left in `input/` because of IO errors (once mode).
    pub failed_files: u64,
    pub pending_in_queue: i64,
}

/// What reading and judging a file led to.
enum Prepared {
    Done,
    /// Changed while being read, or locked by its writer: look again later.
    NotReady,
    Send(Box<Outgoing>),
}

/// A valid file about to be sent.
struct Outgoing {
    c: Candidate,
    key: String,
    payload: String,
    serial: String,
    content: Vec<u8>,
}

/// The soonest time a file not handled yet should be looked at again.
#[derive(Default)]
struct Soonest(Option<Duration>);

impl Soonest {
    fn at(&mut self, d: Duration) {
        self.0 = Some(self.0.map_or(d, |w| w.min(d)));
    }
}

enum Direct {
    Delivered,
    Rejected(String),
    Queue(String),
    Interrupted,
}

#[derive(Debug, Clone, Copy)]
struct Trouble {
    failures: u32,
    until: Instant,
}

#[derive(Debug)]
pub struct Agent {
    station_id: String,
    layout: Layout,
    kinds: Vec<Kind>,
    validator: Validator,
    client: ApiClient,
    queue: Queue,
    settling: Settling,
    trouble: HashMap<PathBuf, Trouble>,
    given_up: HashSet<PathBuf>,
    retry_delays: Vec<Duration>,
    max_in_flight: usize,
    drain_interval: Duration,
    rescan: Duration,
    max_attempts: i64,
    retention_days: u32,
    housekeeping_interval: Duration,
    pending: i64,
    next_drain: Instant,
    next_housekeeping: Instant,
    last_success: Option<(String, String)>,
    summary: Summary,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
}

impl Agent {
    /// Opens the queue and creates the folder layout. `shutdown` turning true stops the agent
    /// between two files (or during a retry wait).
    pub fn new(config: &Config, shutdown: watch::Receiver<bool>) -> Result<Self, AgentError> {
        let layout = Layout::new(&config.base_dir);
        let kinds = config.kinds();
        layout.create(&kinds).map_err(io_err(format!(
            "creating folders under {}",
            layout.base().display()
        )))?;
        let queue = Queue::open(&layout.queue_db())?;
        let validator = Validator::new(
            &config.process_code,
            crate::validate::StationDefaults {
                equipment_id: config.equipment_id.clone(),
                workstation: Some(config.station_id.clone()),
            },
        )?;
        let client = ApiClient::new(
            &config.api.url,
            &config.token()?,
            config.api_timeout(),
            config.api.ca_file.as_deref(),
        )?;
        let pending = queue.pending_count()?;
        let now = Instant::now();
        Ok(Self {
            station_id: config.station_id.clone(),
            layout,
            kinds,
            validator,
            client,
            queue,
            settling: Settling::new(config.settle()),
            trouble: HashMap::new(),
            given_up: HashSet::new(),
            retry_delays: config.retry_delays(),
            max_in_flight: config.api.max_in_flight.max(1),
            drain_interval: config.drain_interval(),
            rescan: config.rescan(),
            max_attempts: config.queue.max_attempts,
            retention_days: config.housekeeping.processed_retention_days,
            housekeeping_interval: Duration::from_secs(config.housekeeping.interval_secs.max(60)),
            pending,
            next_drain: now,
            next_housekeeping: now,
            last_success: None,
            summary: Summary::default(),
            wake: Arc::new(Notify::new()),
            shutdown,
        })
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub async fn run(mut self, mode: Mode) -> Result<Summary, AgentError> {
        self.resume_spool();
        let _watch = if mode == Mode::Continuous {
            let dirs: Vec<PathBuf> = self.kinds.iter().map(|k| self.layout.input(*k)).collect();
            match crate::watch::watch(&dirs, self.wake.clone()) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "no file-system notifications; rescanning only");
                    None
                }
            }
        } else {
            None
        };
        tracing::info!(
            station = %self.station_id, base = %self.layout.base().display(),
            pending = self.pending, ?mode, "station agent started"
        );
        loop {
            let file_wait = self.process_input(mode).await;
            if self.stopping() {
                break;
            }
            let now = Instant::now();
            if self.pending > 0 && (mode == Mode::Once || now >= self.next_drain) {
                self.drain().await;
                self.next_drain = Instant::now() + self.drain_interval;
            }
            if mode == Mode::Continuous && now >= self.next_housekeeping {
                self.keep_house();
                self.next_housekeeping = now + self.housekeeping_interval;
            }
            self.flush_info();
            if self.stopping() {
                break;
            }
            if mode == Mode::Once && file_wait.is_none() {
                break;
            }
            let mut sleep = file_wait.unwrap_or(self.rescan).min(self.rescan);
            if self.pending > 0 && mode == Mode::Continuous {
                sleep = sleep.min(self.next_drain.saturating_duration_since(Instant::now()));
            }
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep.max(Duration::from_millis(5))) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.flush_info();
        self.summary.pending_in_queue = self.pending;
        tracing::info!(summary = ?self.summary, "station agent stopped");
        Ok(self.summary)
    }

    /// Handles every ready file; returns how soon a file not yet handled should be looked at.
    async fn process_input(&mut self, mode: Mode) -> Option<Duration> {
        let mut wait = Soonest::default();
        let candidates = match scan::list(&self.layout, &self.kinds) {
            Ok(c) => c,
            Err(e) => {
                self.problem("listing input folders", &e.to_string());
                return (mode == Mode::Continuous).then_some(self.rescan);
            }
        };
        self.settling.retain_only(&candidates);
        let present: HashSet<&Path> = candidates.iter().map(|c| c.path.as_path()).collect();
        self.trouble.retain(|p, _| present.contains(p.as_path()));
        let mut window: Vec<Outgoing> = Vec::new();
        for c in candidates {
            if self.stopping() {
                break;
            }
            if self.given_up.contains(&c.path) {
                continue;
            }
            let now = Instant::now();
            if let Some(t) = self.trouble.get(&c.path)
                && t.until > now
            {
                wait.at(t.until - now);
                continue;
            }
            if let Readiness::Wait(d) = self.settling.check(&c, SystemTime::now(), now) {
                wait.at(d);
                continue;
            }
            match self.prepare(&c) {
                Ok(Prepared::Done) => self.handled(&c.path),
                Ok(Prepared::NotReady) => {
                    self.settling.forget(&c.path);
                    wait.at(Duration::from_millis(100));
                }
                Ok(Prepared::Send(out)) => {
                    // A unit's events never travel together, so they arrive in order.
                    let repeat = window.iter().any(|w| w.serial == out.serial);
                    if (repeat || window.len() >= self.max_in_flight)
                        && self
                            .send_window(std::mem::take(&mut window), mode, &mut wait)
                            .await
                    {
                        break;
                    }
                    // A failure in the window may have started the queue: keep the order.
                    if self.pending > 0 {
                        let queued = self.enqueue(
                            &out.c,
                            &out.key,
                            &out.payload,
                            &out.content,
                            "queued behind earlier events",
                        );
                        match queued {
                            Ok(()) => self.handled(&out.c.path),
                            Err(e) => self.failed(&out.c, e, mode, &mut wait),
                        }
                        continue;
                    }
                    window.push(*out);
                }
                Err(e) => self.failed(&c, e, mode, &mut wait),
            }
        }
        if !window.is_empty() {
            self.send_window(window, mode, &mut wait).await;
        }
        wait.0
    }

    fn handled(&mut self, path: &Path) {
        self.settling.forget(path);
        self.trouble.remove(path);
    }

    /// A file that could not be handled for a local reason (disk full, permissions…): reported,
    /// and retried with a per-file back-off, never in a tight loop.
    fn failed(&mut self, c: &Candidate, e: AgentError, mode: Mode, wait: &mut Soonest) {
        self.problem(&format!("handling {}", c.path.display()), &e.to_string());
        if mode == Mode::Once {
            self.given_up.insert(c.path.clone());
            self.summary.failed_files += 1;
            return;
        }
        let failures = self.trouble.get(&c.path).map_or(0, |t| t.failures) + 1;
        let delay = Duration::from_secs(1 << failures.min(8)).min(Duration::from_secs(300));
        self.trouble.insert(
            c.path.clone(),
            Trouble {
                failures,
                until: Instant::now() + delay,
            },
        );
        wait.at(delay);
    }

    /// Sends a window of files at once and files each by its answer. Returns true when a
    /// shutdown interrupted it (unsent files stay in `input/`).
    async fn send_window(&mut self, window: Vec<Outgoing>, mode: Mode, wait: &mut Soonest) -> bool {
        let outcomes = join_all(window.iter().map(|o| {
            deliver(
                &self.client,
                &self.retry_delays,
                self.shutdown.clone(),
                o.c.kind,
                &o.payload,
                &o.key,
            )
        }))
        .await;
        let mut interrupted = false;
        for (o, outcome) in window.into_iter().zip(outcomes) {
            let filed = match outcome {
                Direct::Delivered => self.archive(o.c.kind, &o.c.path, &o.c.name).map(|_| {
                    tracing::info!(file = %o.c.name, serial = %o.serial, kind = %o.c.kind, "delivered");
                    self.summary.delivered += 1;
                    self.note_success(&o.c.name);
                }),
                Direct::Rejected(reason) => {
                    tracing::warn!(file = %o.c.name, serial = %o.serial, %reason, "refused by mes-api");
                    self.file_error(&o.c, &o.content, "API_REJECTED", &reason)
                }
                Direct::Queue(reason) => {
                    tracing::warn!(file = %o.c.name, %reason, "cannot deliver now; queued");
                    self.enqueue(&o.c, &o.key, &o.payload, &o.content, &reason)
                }
                Direct::Interrupted => {
                    interrupted = true;
                    continue;
                }
            };
            match filed {
                Ok(()) => self.handled(&o.c.path),
                Err(e) => self.failed(&o.c, e, mode, wait),
            }
        }
        interrupted
    }

    /// Reads and judges one file. Bad files are filed in `error/` here; a valid one is either
    /// settled against the queue, queued behind a backlog, or returned to be sent.
    fn prepare(&mut self, c: &Candidate) -> Result<Prepared, AgentError> {
        let (content, size) = match read_limited(&c.path) {
            Ok(read) => read,
            // Taken away (e.g. by the writer) since it was listed: nothing to do.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Prepared::Done),
            Err(e) if is_sharing_violation(&e) => return Ok(Prepared::NotReady),
            Err(e) => return Err(io_err(format!("reading {}", c.path.display()))(e)),
        };
        if changed_since(c) {
            return Ok(Prepared::NotReady);
        }
        let key = idempotency_key(&self.station_id, c.kind, &content);
        let event = match self.validator.classify(c.kind, &content, size) {
            Ok(event) => event,
            Err(rejection) => {
                tracing::warn!(file = %c.name, kind = %c.kind, error = %rejection.kind, reason = %rejection.reason, "rejected");
                self.file_error(c, &content, rejection.kind.code(), &rejection.reason)?;
                return Ok(Prepared::Done);
            }
        };
        if let Some((id, state)) = self.queue.find(&key)? {
            match state {
                State::Pending => {
                    self.resume_queued(c, id)?;
                    return Ok(Prepared::Done);
                }
                State::Delivered => {
                    tracing::info!(file = %c.name, queue_id = id, "same content was delivered before; archiving");
                    self.archive(c.kind, &c.path, &c.name)?;
                    return Ok(Prepared::Done);
                }
                // Dropped again after being refused: a new attempt.
                State::Dead => {
                    self.queue.forget_dead(&key)?;
                }
            }
        }
        let payload = event.payload.to_string();
        if self.pending > 0 {
            // Earlier events wait in the queue: this one goes behind them, to keep the order.
            self.enqueue(c, &key, &payload, &content, "queued behind earlier events")?;
            return Ok(Prepared::Done);
        }
        Ok(Prepared::Send(Box::new(Outgoing {
            c: c.clone(),
            key,
            payload,
            serial: event.serial_number,
            content,
        })))
    }

    /// The event is queued already: the agent stopped before the file left `input/`, or the
    /// same content was dropped twice.
    fn resume_queued(&mut self, c: &Candidate, id: i64) -> Result<(), AgentError> {
        let name = self
            .queue
            .get(id)?
            .map_or_else(|| c.name.clone(), |item| item.file_name);
        let spooled = self.layout.spooled(c.kind, id, &name);
        if spooled.exists() {
            tracing::info!(file = %c.name, queue_id = id, "same content is queued already; archiving the copy");
            self.archive(c.kind, &c.path, &c.name)?;
        } else {
            tracing::info!(file = %c.name, queue_id = id, "resuming: event was queued, moving the file to the spool");
            layout::rename(&c.path, &spooled)
                .map_err(io_err(format!("moving {} to the spool", c.path.display())))?;
        }
        Ok(())
    }

    fn enqueue(
        &mut self,
        c: &Candidate,
        key: &str,
        payload: &str,
        content: &[u8],
        reason: &str,
    ) -> Result<(), AgentError> {
        let (id, _) = self
            .queue
            .enqueue(key, c.kind, &c.name, payload, content, reason)?;
        // Committed (synchronous=FULL) before the file leaves input/.
        let spooled = self.layout.spooled(c.kind, id, &c.name);
        layout::rename(&c.path, &spooled)
            .map_err(io_err(format!("moving {} to the spool", c.path.display())))?;
        // Counted, not re-queried: a count per file would make queueing a backlog quadratic.
        self.pending += 1;
        self.summary.queued += 1;
        Ok(())
    }

    /// Sends queued events in order until the queue is empty or the API stops answering.
    async fn drain(&mut self) {
        if let Err(e) = self.drain_inner().await {
            self.problem("draining the offline queue", &e.to_string());
        }
        self.pending = self.queue.pending_count().unwrap_or(self.pending);
    }

    async fn drain_inner(&mut self) -> Result<(), AgentError> {
        loop {
            let items = self.queue.next_pending(256)?;
            if items.is_empty() {
                return Ok(());
            }
            let mut rest = items.into_iter().peekable();
            while rest.peek().is_some() {
                if self.stopping() {
                    return Ok(());
                }
                // A window of oldest items, at most one per unit (see process_input).
                let mut window: Vec<Item> = Vec::new();
                let mut units: Vec<Option<String>> = Vec::new();
                while let Some(item) = rest.next_if(|it| {
                    let unit = unit_of(&it.payload);
                    window.len() < self.max_in_flight && (unit.is_none() || !units.contains(&unit))
                }) {
                    units.push(unit_of(&item.payload));
                    window.push(item);
                }
                if self.drain_window(&window).await? {
                    return Ok(());
                }
            }
        }
    }

    /// Sends one window of queued events; true when the API failed (end of this drain).
    async fn drain_window(&mut self, window: &[Item]) -> Result<bool, AgentError> {
        let attempts = join_all(
            window
                .iter()
                .map(|it| self.client.post(it.kind, &it.payload, &it.key)),
        )
        .await;
        let mut delivered: Vec<&Item> = Vec::new();
        let mut failed = false;
        for (item, attempt) in window.iter().zip(attempts) {
            match decide(&attempt) {
                Decision::Delivered => delivered.push(item),
                Decision::Rejected {
                    status,
                    code,
                    message,
                } => {
                    let reason = format!("HTTP {status} {code}: {message}");
                    self.dead_letter(item, "API_REJECTED", &reason)?;
                }
                Decision::Retry { reason } => {
                    failed = true;
                    let attempts = self.queue.record_failure(item.id, &reason)?;
                    if attempts >= self.max_attempts {
                        let reason = format!("{reason} (after {attempts} attempts)");
                        self.dead_letter(item, "SERVER_ERRORS_EXHAUSTED", &reason)?;
                    }
                    tracing::warn!(queue_id = item.id, %reason, "server error while draining; next try later");
                }
                Decision::Queue { reason } => {
                    failed = true;
                    self.queue.record_failure(item.id, &reason)?;
                    tracing::info!(pending = self.pending, %reason, "mes-api unreachable; queue kept");
                }
            }
        }
        let ids: Vec<i64> = delivered.iter().map(|it| it.id).collect();
        self.queue.mark_all_delivered(&ids)?;
        for item in delivered {
            self.archive_spooled(item)?;
            tracing::info!(file = %item.file_name, queue_id = item.id, "delivered from the queue");
            self.summary.drained += 1;
            self.note_success(&item.file_name);
        }
        Ok(failed)
    }

    fn dead_letter(&mut self, item: &Item, code: &str, reason: &str) -> Result<(), AgentError> {
        self.queue.mark_dead(item.id, reason)?;
        tracing::error!(file = %item.file_name, queue_id = item.id, %reason, "dead letter");
        self.summary.dead_lettered += 1;
        let report = ErrorReport {
            file: &item.file_name,
            kind: item.kind,
            error: code,
            reason,
            station: &self.station_id,
            content: &item.content,
            at: Local::now(),
        };
        let dir = self.layout.error(item.kind, Local::now().date_naive());
        let spooled = self.layout.spooled(item.kind, item.id, &item.file_name);
        let filed = if spooled.exists() {
            layout::file_with_report(&spooled, &dir, &report)
        } else {
            layout::write_with_report(&dir, &report)
        };
        filed.map_err(io_err(format!("filing dead letter {}", item.file_name)))?;
        Ok(())
    }

    fn archive_spooled(&mut self, item: &Item) -> Result<(), AgentError> {
        let spooled = self.layout.spooled(item.kind, item.id, &item.file_name);
        if spooled.exists() {
            self.archive(item.kind, &spooled, &item.file_name)?;
        }
        Ok(())
    }

    fn archive(&self, kind: Kind, path: &Path, name: &str) -> Result<PathBuf, AgentError> {
        let dir = self.layout.processed(kind, Local::now().date_naive());
        layout::move_into(path, &dir, name).map_err(io_err(format!(
            "moving {} to {}",
            path.display(),
            dir.display()
        )))
    }

    fn file_error(
        &mut self,
        c: &Candidate,
        content: &[u8],
        code: &str,
        reason: &str,
    ) -> Result<(), AgentError> {
        let report = ErrorReport {
            file: &c.name,
            kind: c.kind,
            error: code,
            reason,
            station: &self.station_id,
            content,
            at: Local::now(),
        };
        let dir = self.layout.error(c.kind, Local::now().date_naive());
        layout::file_with_report(&c.path, &dir, &report).map_err(io_err(format!(
            "moving {} to {}",
            c.path.display(),
            dir.display()
        )))?;
        self.summary.rejected += 1;
        Ok(())
    }

    /// Finishes moves that a stop interrupted: spooled files whose event is settled, and
    /// spooled files the queue does not know (sent back to `input/` to be queued again).
    fn resume_spool(&mut self) {
        for kind in self.kinds.clone() {
            let dir = self.layout.spool(kind);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Err(e) = self.resume_one(kind, &path, &name) {
                    self.problem(&format!("resuming {}", path.display()), &e.to_string());
                }
            }
        }
    }

    fn resume_one(&mut self, kind: Kind, path: &Path, name: &str) -> Result<(), AgentError> {
        let parsed = name
            .split_once('-')
            .and_then(|(id, rest)| id.parse::<i64>().ok().map(|id| (id, rest.to_owned())));
        let item = match &parsed {
            Some((id, _)) => self.queue.get(*id)?,
            None => None,
        };
        match item {
            Some(item) if item.state == State::Pending => Ok(()),
            Some(item) if item.state == State::Delivered => {
                self.archive(kind, path, &item.file_name).map(|_| ())
            }
            Some(item) => {
                // Dead-lettered, but stopped before its file was filed.
                let reason = item.last_error.clone().unwrap_or_default();
                let report = ErrorReport {
                    file: &item.file_name,
                    kind,
                    error: "API_REJECTED",
                    reason: &reason,
                    station: &self.station_id,
                    content: &item.content,
                    at: Local::now(),
                };
                let dir = self.layout.error(kind, Local::now().date_naive());
                layout::file_with_report(path, &dir, &report)
                    .map(|_| ())
                    .map_err(io_err(format!("filing {}", path.display())))
            }
            None => {
                let original = parsed.map_or_else(|| name.to_owned(), |(_, rest)| rest);
                tracing::warn!(file = %path.display(), "spooled file unknown to the queue; back to input");
                layout::move_into(path, &self.layout.input(kind), &original)
                    .map(|_| ())
                    .map_err(io_err(format!("returning {} to input", path.display())))
            }
        }
    }

    fn keep_house(&mut self) {
        let report = housekeeping::purge(
            &self.layout,
            &Kind::ALL,
            &self.queue,
            self.retention_days,
            Local::now().date_naive(),
        );
        for problem in report.problems {
            self.problem("housekeeping", &problem);
        }
        if report.removed_days > 0 || report.removed_rows > 0 {
            tracing::info!(
                days = report.removed_days,
                rows = report.removed_rows,
                "purged processed files older than {} days",
                self.retention_days
            );
        }
    }

    fn note_success(&mut self, file: &str) {
        self.last_success = Some((
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            file.to_owned(),
        ));
    }

    /// Writes the last success for `status`; once per loop, not once per file.
    fn flush_info(&mut self) {
        if let Some((at, file)) = self.last_success.take() {
            let written = self
                .queue
                .set_info("last_success_at", &at)
                .and_then(|()| self.queue.set_info("last_success_file", &file));
            if let Err(e) = written {
                tracing::warn!(error = %e, "could not record the last success");
            }
        }
    }

    /// Reports a problem that must not stop the agent (disk full, permissions, …): logged, and
    /// kept for `status` when the queue can still be written.
    fn problem(&self, context: &str, error: &str) {
        tracing::error!(%context, %error, "problem");
        let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let _ = self
            .queue
            .set_info("last_problem", &format!("{context}: {error}"))
            .and_then(|()| self.queue.set_info("last_problem_at", &at));
    }
}

/// One file's delivery: retries server errors after each of `delays`, then gives up to the queue.
async fn deliver(
    client: &ApiClient,
    delays: &[Duration],
    mut shutdown: watch::Receiver<bool>,
    kind: Kind,
    payload: &str,
    key: &str,
) -> Direct {
    let mut delays = delays.iter();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let attempt = client.post(kind, payload, key).await;
        match decide(&attempt) {
            Decision::Delivered => return Direct::Delivered,
            Decision::Rejected {
                status,
                code,
                message,
            } => return Direct::Rejected(format!("HTTP {status} {code}: {message}")),
            Decision::Queue { reason } => return Direct::Queue(reason),
            Decision::Retry { reason } => match delays.next() {
                Some(delay) => {
                    tracing::warn!(%reason, attempt = attempts, retry_in = ?delay, "server error; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(*delay) => {}
                        _ = shutdown.changed() => return Direct::Interrupted,
                    }
                }
                None => return Direct::Queue(format!("{reason} (after {attempts} attempts)")),
            },
        }
    }
}

/// The unit (serial) a queued request is about; `None` when it names none.
fn unit_of(payload: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    v.get("serial_number")?.as_str().map(str::to_owned)
}

/// Reads at most `MAX_FILE_BYTES + 1` bytes: enough to tell an oversized file without loading it.
fn read_limited(path: &Path) -> io::Result<(Vec<u8>, u64)> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    let mut content = Vec::with_capacity(size.min(MAX_FILE_BYTES + 1) as usize);
    if size <= MAX_FILE_BYTES {
        (&mut f)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut content)?;
    }
    Ok((content, size))
}

/// The file changed after it was judged complete: its writer is still at it.
fn changed_since(c: &Candidate) -> bool {
    match std::fs::metadata(&c.path) {
        Ok(m) => m.len() != c.size || m.modified().ok() != Some(c.modified),
        Err(_) => false,
    }
}

/// Windows: the writer still holds the file open without sharing (ERROR_SHARING_VIOLATION).
fn is_sharing_violation(e: &io::Error) -> bool {
    cfg!(windows) && e.raw_os_error() == Some(32)
}
