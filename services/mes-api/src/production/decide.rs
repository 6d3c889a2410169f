//! The decisions of one batch of START/COMPLETE commands, free of IO: given the commands in
//! arrival order and what the batch read under its locks (serial rows, stored Idempotency-Keys,
//! known defect codes, the line routings, record ids), say for each command whether it is
//! written, answered at once (refusal or replay), or deferred to the next batch; then, given the
//! locked LOT rows, how each written event moves its LOT.
//!
//! A command whose serial (or Idempotency-Key) already has a write in this batch is deferred:
//! the batch's statements change each row once, and the next batch decides it on the committed
//! state — so 64 concurrent STARTs of one serial still give one success and 63 ALREADY_STARTED.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use mes_core::{Effect, Event, SerialState, SerialStatus};
use serde_json::{Value, json};

use super::events::{CompleteRequest, CompleteResponse, NextProcess, StartRequest, StartResponse};
use super::idempotency::{Idempotency, Stored};
use super::route_cache::{LineRouting, ProcessInfo};
use super::{ROLLUP_SHARDS, routing_error};
use crate::error::ApiError;
use crate::http::serials::serial_not_found;

/// Who sent a command, for its audit rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub actor: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Request {
    Start(StartRequest),
    Complete(CompleteRequest),
}

/// A validated START or COMPLETE waiting for the writer.
#[derive(Debug, Clone)]
pub struct Command {
    pub request: Request,
    pub caller: Caller,
    pub idem: Option<Idempotency>,
}

impl Command {
    pub fn serial_number(&self) -> Option<&str> {
        match &self.request {
            Request::Start(r) => Some(&r.serial_number),
            Request::Complete(r) => r.serial_number.as_deref(),
        }
    }

    pub fn record_id(&self) -> Option<i64> {
        match &self.request {
            Request::Start(_) => None,
            Request::Complete(r) => r.process_data_id,
        }
    }

    pub fn is_start(&self) -> bool {
        matches!(self.request, Request::Start(_))
    }

    /// The defect code a failing COMPLETE names.
    pub fn defect_code(&self) -> Option<&str> {
        match &self.request {
            Request::Complete(r) if !r.is_pass => r.defect_code.as_deref(),
            _ => None,
        }
    }
}

/// A serial row as the batch locked it, with its LOT, line version and open record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SerialRow {
    pub serial_id: i64,
    pub serial_number: String,
    pub status: String,
    pub next_sequence: i32,
    pub in_process: bool,
    pub work_order: i32,
    pub lot_id: i64,
    pub lot_number: String,
    pub lot_status: String,
    pub line_id: i32,
    pub line_version: DateTime<Utc>,
    pub open_id: Option<i64>,
    pub open_started_at: Option<DateTime<Utc>>,
    /// Those of the batch's requested record ids that belong to this serial.
    pub records: Vec<i64>,
}

/// Everything the batch read before deciding.
#[derive(Debug)]
pub struct Snapshot<'a> {
    pub now: DateTime<Utc>,
    pub serials: &'a [SerialRow],
    pub routes: &'a HashMap<i32, Arc<LineRouting>>,
    pub stored: &'a HashMap<(String, String), Stored>,
    pub defect_codes: &'a HashSet<String>,
    /// Fresh `process_data` ids, at least one per START command.
    pub ids: &'a [i64],
}

#[derive(Debug, Clone)]
pub enum Answer {
    Start(StartResponse),
    Complete(CompleteResponse),
}

/// The row changes of one accepted event.
#[derive(Debug, Clone)]
pub enum Change {
    Start {
        record_id: i64,
        process_id: i32,
        work_order: i32,
        operator_id: String,
        equipment_id: Option<String>,
        workstation: Option<String>,
        /// The LOT looked CREATED when the serial was locked (it may start now).
        lot_created: bool,
    },
    Complete {
        record_id: i64,
        process_id: i32,
        is_pass: bool,
        completed_at: DateTime<Utc>,
        cycle_time: i32,
        data: Value,
        inspection: Option<Value>,
        defect_code: Option<String>,
        defect_description: Option<String>,
        serial_status: SerialStatus,
        next_sequence: i32,
        serial_completed: bool,
    },
}

/// An accepted event: what to write, what to answer after commit, what to announce.
#[derive(Debug, Clone)]
pub struct Write {
    pub command: usize,
    pub serial_id: i64,
    pub lot_id: i64,
    pub line_id: i32,
    pub line_code: String,
    pub process_code: String,
    pub change: Change,
    pub answer: Answer,
    pub payload: String,
}

impl Write {
    pub fn shard(&self) -> i16 {
        (self.serial_id % ROLLUP_SHARDS) as i16
    }

    /// Metric label of the event's outcome.
    pub fn outcome(&self) -> &'static str {
        match &self.change {
            Change::Start { .. } => "started",
            Change::Complete { is_pass: true, .. } => "passed",
            Change::Complete { .. } => "failed",
        }
    }
}

#[derive(Debug)]
pub enum Verdict {
    Write(Box<Write>),
    Replay(Result<Response, ApiError>),
    Refuse(ApiError),
    Defer,
}

/// Decides every command of a batch in arrival order.
pub fn decide(commands: &[Command], snap: &Snapshot<'_>) -> Vec<Verdict> {
    let mut written_serials = HashSet::new();
    let mut written_keys = HashSet::new();
    let mut ids = snap.ids.iter().copied();
    commands
        .iter()
        .enumerate()
        .map(|(i, cmd)| {
            let key = cmd
                .idem
                .as_ref()
                .map(|k| (k.principal().to_owned(), k.key().to_owned()));
            let row = match find_serial(cmd, snap.serials) {
                Ok(row) => row,
                Err(e) => return Verdict::Refuse(e),
            };
            if written_serials.contains(&row.serial_id)
                || key.as_ref().is_some_and(|k| written_keys.contains(k))
            {
                return Verdict::Defer;
            }
            if let (Some(idem), Some(stored)) =
                (&cmd.idem, key.as_ref().and_then(|k| snap.stored.get(k)))
            {
                return Verdict::Replay(idem.answer(stored.clone()));
            }
            let decided = match &cmd.request {
                Request::Start(req) => start(req, row, snap, &mut ids),
                Request::Complete(req) => complete(req, row, snap),
            };
            match decided {
                Ok(mut w) => {
                    w.command = i;
                    written_serials.insert(row.serial_id);
                    if let Some(k) = key {
                        written_keys.insert(k);
                    }
                    Verdict::Write(Box::new(w))
                }
                Err(e) => Verdict::Refuse(e),
            }
        })
        .collect()
}

fn find_serial<'a>(cmd: &Command, serials: &'a [SerialRow]) -> Result<&'a SerialRow, ApiError> {
    match (cmd.record_id(), cmd.serial_number()) {
        (Some(id), _) => serials
            .iter()
            .find(|s| s.records.contains(&id))
            .ok_or_else(|| {
                ApiError::not_found("PROCESS_RECORD_NOT_FOUND", "no such process_data_id")
            }),
        (None, Some(sn)) => serials
            .iter()
            .find(|s| s.serial_number == sn)
            .ok_or_else(|| serial_not_found(sn)),
        (None, None) => Err(ApiError::validation(
            "give either process_data_id, or serial_number and process_code",
        )),
    }
}

fn routing_of<'a>(
    row: &SerialRow,
    snap: &'a Snapshot<'_>,
) -> Result<&'a Arc<LineRouting>, ApiError> {
    snap.routes
        .get(&row.line_id)
        .ok_or_else(|| ApiError::internal(format!("routing of line {} not loaded", row.line_id)))
}

fn serial_state(row: &SerialRow, routing: &LineRouting) -> Result<SerialState, ApiError> {
    let status: SerialStatus = row.status.parse().map_err(ApiError::internal)?;
    let state = SerialState {
        status,
        next_step: (row.next_sequence.max(1) - 1) as usize,
        open: row.in_process,
        work_order: row.work_order.max(1) as u32,
    };
    state.validate(&routing.route).map_err(routing_error)?;
    Ok(state)
}

fn payload(
    event: &str,
    row: &SerialRow,
    routing: &LineRouting,
    process_code: &str,
    record: i64,
    now: DateTime<Utc>,
    extra: Value,
) -> String {
    let mut v = json!({
        "type": "process_event",
        "event": event,
        "serial_number": row.serial_number,
        "lot_number": row.lot_number,
        "line_code": routing.line_code,
        "process_code": process_code,
        "process_data_id": record,
        "at": now,
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v.to_string()
}

fn start(
    req: &StartRequest,
    row: &SerialRow,
    snap: &Snapshot<'_>,
    ids: &mut impl Iterator<Item = i64>,
) -> Result<Write, ApiError> {
    if row.lot_status == "CANCELLED" {
        return Err(ApiError::conflict(
            "LOT_CANCELLED",
            format!("LOT {} is cancelled", row.lot_number),
        ));
    }
    let routing = routing_of(row, snap)?;
    let current = serial_state(row, routing)?;
    let transition = mes_core::apply(
        &routing.route,
        &current,
        Event::Start {
            process: &req.process_code,
        },
    )
    .map_err(routing_error)?;
    let Effect::Started {
        step, work_order, ..
    } = transition.effect
    else {
        return Err(ApiError::internal("START produced an unexpected effect"));
    };
    let process = process_at(routing, step)?;
    let record_id = ids
        .next()
        .ok_or_else(|| ApiError::internal("no process_data id left for a START"))?;
    let answer = StartResponse {
        process_data_id: record_id,
        serial_number: row.serial_number.clone(),
        lot_number: row.lot_number.clone(),
        process_code: process.code.clone(),
        process_name: process.name.clone(),
        work_order: work_order as i32,
        started_at: snap.now,
    };
    Ok(Write {
        command: 0,
        serial_id: row.serial_id,
        lot_id: row.lot_id,
        line_id: routing.line_id,
        line_code: routing.line_code.clone(),
        process_code: process.code.clone(),
        change: Change::Start {
            record_id,
            process_id: process.id,
            work_order: work_order as i32,
            operator_id: req.operator_id.trim().to_owned(),
            equipment_id: req.equipment_id.clone(),
            workstation: req.workstation.clone(),
            lot_created: row.lot_status == "CREATED",
        },
        payload: payload(
            "started",
            row,
            routing,
            &process.code,
            record_id,
            snap.now,
            json!({ "work_order": work_order }),
        ),
        answer: Answer::Start(answer),
    })
}

fn process_at(routing: &LineRouting, step: usize) -> Result<&ProcessInfo, ApiError> {
    routing
        .processes
        .get(step)
        .ok_or_else(|| ApiError::internal("routing step without a process"))
}

/// Validates `data` against the process's schema; the error names the failing field.
pub fn check_process_data(process: &ProcessInfo, data: &Value) -> Result<(), ApiError> {
    let Some(schema) = &process.schema else {
        return Ok(());
    };
    if let Some(error) = schema.iter_errors(data).next() {
        let path = error.instance_path.to_string();
        let field = if path.is_empty() {
            "process_specific_data".to_owned()
        } else {
            format!("process_specific_data{path}")
        };
        return Err(ApiError::unprocessable(
            "INVALID_PROCESS_DATA",
            format!("{field}: {error} (process {})", process.code),
        )
        .with_details(json!({ "field": field, "process": process.code })));
    }
    Ok(())
}

fn complete(
    req: &CompleteRequest,
    row: &SerialRow,
    snap: &Snapshot<'_>,
) -> Result<Write, ApiError> {
    let routing = routing_of(row, snap)?;
    let current = serial_state(row, routing)?;
    let process_code = match (&req.process_code, req.process_data_id) {
        (Some(code), _) => code.clone(),
        (None, Some(id)) => {
            // By record id: the record must be the serial's open one.
            if row.open_id != Some(id) {
                return Err(ApiError::conflict(
                    "ALREADY_COMPLETED",
                    format!("process record {id} is not open"),
                ));
            }
            routing
                .route
                .step(current.next_step)
                .map(|s| s.code.clone())
                .ok_or_else(|| ApiError::internal("open record beyond the route"))?
        }
        (None, None) => {
            return Err(ApiError::validation(
                "give either process_data_id, or serial_number and process_code",
            ));
        }
    };
    let transition = mes_core::apply(
        &routing.route,
        &current,
        Event::Complete {
            process: &process_code,
            pass: req.is_pass,
        },
    )
    .map_err(routing_error)?;
    let (step, serial_completed) = match transition.effect {
        Effect::Passed {
            step,
            serial_completed,
            ..
        } => (step, serial_completed),
        Effect::Failed { step } => (step, false),
        _ => return Err(ApiError::internal("COMPLETE produced an unexpected effect")),
    };
    let process = process_at(routing, step)?;
    let data = req
        .process_specific_data
        .clone()
        .unwrap_or_else(|| json!({}));
    if req.is_pass || req.process_specific_data.is_some() {
        check_process_data(process, &data)?;
    }
    let record_id = row
        .open_id
        .ok_or_else(|| ApiError::internal("open record missing"))?;
    let started_at = row.open_started_at.unwrap_or(snap.now);
    let completed_at = match req.timestamp {
        None => snap.now,
        Some(t) if t < started_at => {
            return Err(ApiError::unprocessable(
                "INVALID_TIMESTAMP",
                "timestamp is before the process started",
            )
            .with_details(json!({ "field": "timestamp", "started_at": started_at })));
        }
        Some(t) if t > snap.now + Duration::minutes(5) => {
            return Err(
                ApiError::unprocessable("INVALID_TIMESTAMP", "timestamp is in the future")
                    .with_details(json!({ "field": "timestamp" })),
            );
        }
        Some(t) => t,
    };
    // What the foreign key used to refuse at write time, now known before writing.
    if let Some(code) = req.defect_code.as_deref().filter(|_| !req.is_pass)
        && !snap.defect_codes.contains(code)
    {
        return Err(ApiError::unprocessable(
            "UNKNOWN_DEFECT_CODE",
            format!("defect code `{code}` does not exist"),
        )
        .with_details(json!({ "field": "defect_code" })));
    }
    let cycle_time = req.cycle_time.unwrap_or_else(|| {
        ((completed_at - started_at).num_milliseconds() as f64 / 1000.0).round() as i32
    });
    let new = transition.state;
    let next = (!serial_completed && req.is_pass)
        .then(|| routing.processes.get(new.next_step))
        .flatten()
        .map(|p| NextProcess {
            code: p.code.clone(),
            name: p.name.clone(),
        });
    let answer = CompleteResponse {
        process_data_id: record_id,
        serial_number: row.serial_number.clone(),
        lot_number: row.lot_number.clone(),
        process_code: process.code.clone(),
        is_pass: req.is_pass,
        completed_at,
        cycle_time,
        serial_status: new.status.as_str().to_owned(),
        next_process: next,
        lot_status: if row.lot_status == "CREATED" {
            "IN_PROGRESS".to_owned()
        } else {
            row.lot_status.clone()
        },
    };
    Ok(Write {
        command: 0,
        serial_id: row.serial_id,
        lot_id: row.lot_id,
        line_id: routing.line_id,
        line_code: routing.line_code.clone(),
        process_code: process.code.clone(),
        payload: payload(
            if req.is_pass { "completed" } else { "failed" },
            row,
            routing,
            &process.code,
            record_id,
            snap.now,
            json!({ "is_pass": req.is_pass, "cycle_time": cycle_time,
                    "serial_status": new.status.as_str(), "defect_code": req.defect_code }),
        ),
        change: Change::Complete {
            record_id,
            process_id: process.id,
            is_pass: req.is_pass,
            completed_at,
            cycle_time,
            data,
            inspection: req.inspection_result.clone(),
            defect_code: req.defect_code.clone(),
            defect_description: req.defect_description.clone(),
            serial_status: new.status,
            next_sequence: new.next_step as i32 + 1,
            serial_completed,
        },
        answer: Answer::Complete(answer),
    })
}

/// A LOT's counters as locked by the batch.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LotRow {
    pub id: i64,
    pub status: String,
    pub actual_quantity: i32,
    pub defect_quantity: i32,
    pub finished_quantity: i32,
    pub serial_count: i32,
    pub target_quantity: i32,
}

/// The LOT after one event of the batch (one audit row each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotStep {
    pub write: usize,
    pub lot_id: i64,
    pub prev_status: String,
    pub status: String,
    pub actual: i32,
    pub defect: i32,
    pub finished: i32,
    /// `started_at` / `completed_at` are this transaction's `now()` in this state.
    pub started_now: bool,
    pub completed_now: bool,
}

/// The LOTs the writes may change, to lock in id order before writing.
pub fn lots_to_lock(writes: &[Write]) -> Vec<i64> {
    let mut ids: Vec<i64> = writes
        .iter()
        .filter(|w| match &w.change {
            Change::Start { lot_created, .. } => *lot_created,
            Change::Complete {
                is_pass,
                serial_completed,
                ..
            } => !is_pass || *serial_completed,
        })
        .map(|w| w.lot_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Moves the locked LOTs through the writes in order: a first START opens a CREATED LOT, a
/// finished serial counts as actual and finished, a failure as defect, and the event that
/// finishes the LOT's last serial closes it. Sets each COMPLETE answer's `lot_status`.
pub fn apply_lots(writes: &mut [Write], lots: &[LotRow]) -> Vec<LotStep> {
    let mut state: HashMap<i64, LotStep> = lots
        .iter()
        .map(|l| {
            (
                l.id,
                LotStep {
                    write: usize::MAX,
                    lot_id: l.id,
                    prev_status: l.status.clone(),
                    status: l.status.clone(),
                    actual: l.actual_quantity,
                    defect: l.defect_quantity,
                    finished: l.finished_quantity,
                    started_now: false,
                    completed_now: false,
                },
            )
        })
        .collect();
    let limits: HashMap<i64, (i32, i32)> = lots
        .iter()
        .map(|l| (l.id, (l.serial_count, l.target_quantity)))
        .collect();
    let mut steps = Vec::new();
    for (i, w) in writes.iter_mut().enumerate() {
        let Some(lot) = state.get_mut(&w.lot_id) else {
            continue;
        };
        let prev = lot.status.clone();
        let changed = match &w.change {
            Change::Start { .. } if lot.status == "CREATED" => {
                lot.status = "IN_PROGRESS".to_owned();
                lot.started_now = true;
                true
            }
            Change::Start { .. } => false,
            Change::Complete {
                is_pass,
                serial_completed,
                ..
            } => {
                if *serial_completed {
                    lot.actual += 1;
                    lot.finished += 1;
                }
                if !is_pass {
                    lot.defect += 1;
                }
                let (serials, target) = limits.get(&w.lot_id).copied().unwrap_or((0, -1));
                if *serial_completed
                    && lot.status != "COMPLETED"
                    && serials == target
                    && lot.finished == target
                {
                    lot.status = "COMPLETED".to_owned();
                    lot.completed_now = true;
                }
                *serial_completed || !is_pass
            }
        };
        if let (Answer::Complete(a), true) = (&mut w.answer, changed) {
            a.lot_status = lot.status.clone();
        }
        if changed {
            steps.push(LotStep {
                write: i,
                prev_status: prev,
                ..lot.clone()
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests;
