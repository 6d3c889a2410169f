//! START and COMPLETE of a process for a serial.

use chrono::{DateTime, Duration, Utc};
use mes_core::{Effect, Event, SerialState, SerialStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::idempotency::{Idempotency, Outcome, Stored};
use super::route_cache::LineRouting;
use super::{ROLLUP_SHARDS, audit_context_binds, routing_error};
use crate::db;
use crate::error::ApiError;
use crate::extract::RequestContext;
use crate::http::serials::{parse_serial_number, serial_not_found};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[schema(example = "FN-KR-251110D-001-0001")]
    pub serial_number: String,
    #[schema(example = "LMA")]
    pub process_code: String,
    #[schema(example = "W002")]
    pub operator_id: String,
    pub equipment_id: Option<String>,
    pub workstation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StartResponse {
    pub process_data_id: i64,
    pub serial_number: String,
    pub lot_number: String,
    pub process_code: String,
    pub process_name: String,
    pub work_order: i32,
    pub started_at: DateTime<Utc>,
}

/// COMPLETE, either by `process_data_id` or by `serial_number` + `process_code` (as the station
/// files give it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    pub process_data_id: Option<i64>,
    pub serial_number: Option<String>,
    pub process_code: Option<String>,
    pub operator_id: Option<String>,
    pub is_pass: bool,
    /// Seconds; computed from the start when absent.
    pub cycle_time: Option<i32>,
    #[schema(value_type = Object)]
    pub process_specific_data: Option<Value>,
    #[schema(value_type = Object)]
    pub inspection_result: Option<Value>,
    /// Required when `is_pass` is false.
    pub defect_code: Option<String>,
    pub defect_description: Option<String>,
    /// When the unit completed (the station file's time); default now.
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NextProcess {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CompleteResponse {
    pub process_data_id: i64,
    pub serial_number: String,
    pub lot_number: String,
    pub process_code: String,
    pub is_pass: bool,
    pub completed_at: DateTime<Utc>,
    pub cycle_time: i32,
    pub serial_status: String,
    /// The process to START next; none when the serial is finished or defective.
    pub next_process: Option<NextProcess>,
    pub lot_status: String,
}

fn text_field(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(
            ApiError::validation(format!("{name} must be 1-{max} characters"))
                .with_details(json!({ "field": name })),
        );
    }
    Ok(())
}

fn opt_text_field(name: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| text_field(name, v, max))
}

/// The serial row an event locks, with what the routing decision needs.
#[derive(sqlx::FromRow)]
struct Locked {
    now: DateTime<Utc>,
    next_id: i64,
    serial_id: i64,
    serial_number: String,
    status: String,
    next_sequence: i32,
    in_process: bool,
    work_order: i32,
    lot_id: i64,
    lot_number: String,
    lot_status: String,
    line_id: i32,
    line_version: DateTime<Utc>,
    open_id: Option<i64>,
    open_started_at: Option<DateTime<Utc>>,
    stored_hash: Option<Vec<u8>>,
    stored_status: Option<i16>,
    stored_body: Option<Value>,
    stored_method: Option<String>,
    stored_path: Option<String>,
}

impl Locked {
    /// The answer already stored for this request's Idempotency-Key, if any.
    fn replay(
        &self,
        idem: Option<&Idempotency>,
    ) -> Result<Option<axum::response::Response>, ApiError> {
        let (Some(i), Some(hash), Some(status), Some(body), Some(method), Some(path)) = (
            idem,
            self.stored_hash.clone(),
            self.stored_status,
            self.stored_body.clone(),
            self.stored_method.clone(),
            self.stored_path.clone(),
        ) else {
            return Ok(None);
        };
        i.answer(Stored {
            request_hash: hash,
            response_status: status,
            response_body: body,
            method,
            path,
        })
        .map(Some)
    }
}

/// The Idempotency-Key row an event inserts in its write statement (all NULL without a key).
struct KeyRecord<'a> {
    principal: Option<&'a str>,
    key: Option<&'a str>,
    method: Option<&'static str>,
    path: Option<&'a str>,
    hash: Option<&'a [u8]>,
    body: Option<Value>,
}

impl<'a> KeyRecord<'a> {
    fn new<T: Serialize>(idem: Option<&'a Idempotency>, response: &T) -> Result<Self, ApiError> {
        Ok(Self {
            principal: idem.map(Idempotency::principal),
            key: idem.map(Idempotency::key),
            method: idem.map(Idempotency::method),
            path: idem.map(Idempotency::path),
            hash: idem.map(Idempotency::hash),
            body: idem.map(|_| Idempotency::envelope(response)).transpose()?,
        })
    }
}

/// The CTE that records the Idempotency-Key, numbered from parameter `$first`.
fn key_cte(first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "k AS (INSERT INTO idempotency_keys (principal, idempotency_key, method, path, request_hash, response_status, response_body)
               SELECT {}, {}, {}, {}, {}, 200, {} WHERE {}::text IS NOT NULL)",
        p(0), p(1), p(2), p(3), p(4), p(5), p(0)
    )
}

const LOCK_SERIAL: &str = "SELECT set_config('mes.user', $2, true), set_config('mes.ip', $3, true),
        set_config('mes.user_agent', $4, true), set_config('mes.request_id', $5, true),
        now() AS now, nextval('process_data_id_seq') AS next_id,
        s.id AS serial_id, s.serial_number, s.status, s.next_sequence, s.in_process, s.work_order,
        l.id AS lot_id, l.lot_number, l.status AS lot_status, l.line_id, pl.updated_at AS line_version,
        pd.id AS open_id, pd.started_at AS open_started_at,
        ik.request_hash AS stored_hash, ik.response_status AS stored_status, ik.response_body AS stored_body,
        ik.method AS stored_method, ik.path AS stored_path
    FROM serials s
    JOIN lots l ON l.id = s.lot_id
    JOIN production_lines pl ON pl.id = l.line_id
    LEFT JOIN process_data pd ON pd.serial_id = s.id AND pd.status = 'IN_PROGRESS'
    LEFT JOIN idempotency_keys ik ON ik.principal = $7 AND ik.idempotency_key = $8";

async fn lock_serial(
    tx: &mut sqlx::PgConnection,
    ctx: &RequestContext,
    by_serial: Option<&str>,
    by_record: Option<i64>,
    idem: Option<&Idempotency>,
) -> Result<Option<Locked>, ApiError> {
    let (actor, ip, agent, request_id) = audit_context_binds(ctx);
    let query = match by_record {
        Some(_) => sql!(
            "{LOCK_SERIAL} WHERE s.id = (SELECT serial_id FROM process_data WHERE id = $6) FOR UPDATE OF s"
        ),
        None => sql!("{LOCK_SERIAL} WHERE s.serial_number = $1 FOR UPDATE OF s"),
    };
    Ok(sqlx::query_as(query)
        .bind(by_serial.unwrap_or_default())
        .bind(actor)
        .bind(ip)
        .bind(agent)
        .bind(request_id)
        .bind(by_record.unwrap_or_default())
        .bind(idem.map(Idempotency::principal))
        .bind(idem.map(Idempotency::key))
        .fetch_optional(&mut *tx)
        .await?)
}

fn serial_state(row: &Locked, routing: &LineRouting) -> Result<SerialState, ApiError> {
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

fn notify_payload(
    event: &str,
    row: &Locked,
    routing: &LineRouting,
    process_code: &str,
    record: i64,
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
        "at": row.now,
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v.to_string()
}

pub async fn start(
    state: &AppState,
    ctx: &RequestContext,
    req: &StartRequest,
    idem: Option<&Idempotency>,
) -> Result<Outcome<StartResponse>, ApiError> {
    parse_serial_number(&req.serial_number)?;
    text_field("operator_id", &req.operator_id, 50)?;
    opt_text_field("equipment_id", req.equipment_id.as_deref(), 50)?;
    opt_text_field("workstation", req.workstation.as_deref(), 50)?;

    let mut tx = state.db.begin().await?;
    let row = lock_serial(&mut tx, ctx, Some(&req.serial_number), None, idem)
        .await?
        .ok_or_else(|| serial_not_found(&req.serial_number))?;
    if let Some(stored) = row.replay(idem)? {
        return Ok(Outcome::Replayed(stored));
    }
    if row.lot_status == "CANCELLED" {
        return Err(ApiError::conflict(
            "LOT_CANCELLED",
            format!("LOT {} is cancelled", row.lot_number),
        ));
    }
    let routing = state
        .routes
        .get(&mut tx, row.line_id, row.line_version)
        .await?;
    let current = serial_state(&row, &routing)?;
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
    let process = &routing.processes[step];
    let payload = notify_payload(
        "started",
        &row,
        &routing,
        &process.code,
        row.next_id,
        json!({ "work_order": work_order }),
    );
    let response = StartResponse {
        process_data_id: row.next_id,
        serial_number: row.serial_number.clone(),
        lot_number: row.lot_number.clone(),
        process_code: process.code.clone(),
        process_name: process.name.clone(),
        work_order: work_order as i32,
        started_at: row.now,
    };
    let key = KeyRecord::new(idem, &response)?;
    sqlx::query(sql!(
        "WITH pd AS (
            INSERT INTO process_data (id, serial_id, process_id, work_order, started_at, operator_id, equipment_id, workstation)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)),
         s AS (
            UPDATE serials SET status = 'IN_PROGRESS', in_process = true, current_process_id = $3,
                   started_at = COALESCE(started_at, $5)
            WHERE id = $2),
         l AS (
            UPDATE lots SET status = 'IN_PROGRESS', started_at = $5 WHERE id = $9 AND status = 'CREATED'),
         r AS (
            INSERT INTO process_rollups (bucket, line_id, process_id, shard, started)
            VALUES (date_trunc('hour', $5), $10, $3, $11, 1)
            ON CONFLICT (line_id, bucket, process_id, shard) DO UPDATE SET started = process_rollups.started + 1),
         {}
         SELECT 1",
        key_cte(12)
    ))
    .bind(row.next_id)
    .bind(row.serial_id)
    .bind(process.id)
    .bind(work_order as i32)
    .bind(row.now)
    .bind(req.operator_id.trim())
    .bind(&req.equipment_id)
    .bind(&req.workstation)
    .bind(row.lot_id)
    .bind(routing.line_id)
    .bind(row.serial_id % ROLLUP_SHARDS)
    .bind(key.principal)
    .bind(key.key)
    .bind(key.method)
    .bind(key.path)
    .bind(key.hash)
    .bind(key.body)
    .execute(&mut *tx)
    .await
    .map_err(|e| match db::violated_constraint(&e) {
        // The database's own guard against a second open record (should the lock be bypassed).
        Some("process_data_one_open_per_serial") => ApiError::conflict("ALREADY_STARTED", "this serial already has an open process"),
        _ => e.into(),
    })?;
    tx.commit().await?;
    state.realtime.publish(payload);
    state
        .metrics
        .process_events
        .with_label_values(&[routing.line_code.as_str(), process.code.as_str(), "started"])
        .inc();
    Ok(Outcome::Done(response))
}

/// Validates `data` against the process's schema; the error names the failing field.
fn check_process_data(
    process: &super::route_cache::ProcessInfo,
    data: &Value,
) -> Result<(), ApiError> {
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

pub async fn complete(
    state: &AppState,
    ctx: &RequestContext,
    req: &CompleteRequest,
    idem: Option<&Idempotency>,
) -> Result<Outcome<CompleteResponse>, ApiError> {
    let by_serial = match (req.process_data_id, &req.serial_number, &req.process_code) {
        (Some(_), None, None) => None,
        (None, Some(sn), Some(_)) => {
            parse_serial_number(sn)?;
            Some(sn.as_str())
        }
        _ => {
            return Err(ApiError::validation(
                "give either process_data_id, or serial_number and process_code",
            )
            .with_details(json!({ "field": "process_data_id" })));
        }
    };
    opt_text_field("operator_id", req.operator_id.as_deref(), 50)?;
    opt_text_field(
        "defect_description",
        req.defect_description.as_deref(),
        2000,
    )?;
    if req
        .cycle_time
        .is_some_and(|c| !(0..=7 * 86_400).contains(&c))
    {
        return Err(
            ApiError::validation("cycle_time must be 0..=604800 seconds")
                .with_details(json!({ "field": "cycle_time" })),
        );
    }
    for (name, value) in [
        ("process_specific_data", &req.process_specific_data),
        ("inspection_result", &req.inspection_result),
    ] {
        if value.as_ref().is_some_and(|v| !v.is_object()) {
            return Err(
                ApiError::validation(format!("{name} must be a JSON object"))
                    .with_details(json!({ "field": name })),
            );
        }
    }
    match (req.is_pass, &req.defect_code) {
        (false, None) => {
            return Err(ApiError::unprocessable(
                "DEFECT_CODE_REQUIRED",
                "a failed process needs a defect_code",
            )
            .with_details(json!({ "field": "defect_code" })));
        }
        (true, Some(_)) => {
            return Err(
                ApiError::validation("defect_code is only for is_pass=false")
                    .with_details(json!({ "field": "defect_code" })),
            );
        }
        _ => {}
    }

    let mut tx = state.db.begin().await?;
    let row = lock_serial(&mut tx, ctx, by_serial, req.process_data_id, idem)
        .await?
        .ok_or_else(|| match by_serial {
            Some(sn) => serial_not_found(sn),
            None => ApiError::not_found("PROCESS_RECORD_NOT_FOUND", "no such process_data_id"),
        })?;
    if let Some(stored) = row.replay(idem)? {
        return Ok(Outcome::Replayed(stored));
    }
    let routing = state
        .routes
        .get(&mut tx, row.line_id, row.line_version)
        .await?;
    let current = serial_state(&row, &routing)?;
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
        (None, None) => unreachable_request()?,
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
    let process = &routing.processes[step];
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
    let started_at = row.open_started_at.unwrap_or(row.now);
    let completed_at = match req.timestamp {
        None => row.now,
        Some(t) if t < started_at => {
            return Err(ApiError::unprocessable(
                "INVALID_TIMESTAMP",
                "timestamp is before the process started",
            )
            .with_details(json!({ "field": "timestamp", "started_at": started_at })));
        }
        Some(t) if t > row.now + Duration::minutes(5) => {
            return Err(
                ApiError::unprocessable("INVALID_TIMESTAMP", "timestamp is in the future")
                    .with_details(json!({ "field": "timestamp" })),
            );
        }
        Some(t) => t,
    };
    let cycle_time = req.cycle_time.unwrap_or_else(|| {
        ((completed_at - started_at).num_milliseconds() as f64 / 1000.0).round() as i32
    });
    let new = transition.state;
    let serial_status = new.status.as_str();
    let (actual_inc, defect_inc) = (i32::from(serial_completed), i32::from(!req.is_pass));
    let next = (!serial_completed && req.is_pass)
        .then(|| routing.processes.get(new.next_step))
        .flatten()
        .map(|p| NextProcess {
            code: p.code.clone(),
            name: p.name.clone(),
        });
    let payload = notify_payload(
        if req.is_pass { "completed" } else { "failed" },
        &row,
        &routing,
        &process.code,
        record_id,
        json!({ "is_pass": req.is_pass, "cycle_time": cycle_time, "serial_status": serial_status,
                "defect_code": req.defect_code }),
    );
    let mut response = CompleteResponse {
        process_data_id: record_id,
        serial_number: row.serial_number.clone(),
        lot_number: row.lot_number.clone(),
        process_code: process.code.clone(),
        is_pass: req.is_pass,
        completed_at,
        cycle_time,
        serial_status: serial_status.to_owned(),
        next_process: next,
        lot_status: if row.lot_status == "CREATED" {
            "IN_PROGRESS".to_owned()
        } else {
            row.lot_status.clone()
        },
    };
    // A finishing event learns its LOT's status only after the write; it records its key after.
    let key = KeyRecord::new(idem.filter(|_| !serial_completed), &response)?;
    sqlx::query(sql!(
        "WITH pd AS (
            UPDATE process_data SET status = $2, completed_at = $3, cycle_time = $4, is_pass = $5,
                   process_specific_data = $6, inspection_result = $7, defect_code = $8, defect_description = $9,
                   updated_at = $3
            WHERE id = $1),
         s AS (
            UPDATE serials SET status = $10, in_process = false, next_sequence = $11, is_defective = $12,
                   defect_code = CASE WHEN $12 THEN $8 END, defect_description = CASE WHEN $12 THEN $9 END,
                   completed_at = CASE WHEN $10 = 'COMPLETED' THEN $3 END
            WHERE id = $13),
         l AS (
            UPDATE lots SET actual_quantity = actual_quantity + $14, defect_quantity = defect_quantity + $15
            WHERE id = $16 AND $14 + $15 > 0),
         r AS (
            INSERT INTO process_rollups (bucket, line_id, process_id, shard, passed, failed, completed, cycle_time_sum)
            VALUES (date_trunc('hour', $3), $17, $18, $19, $20, $21, $14, $4)
            ON CONFLICT (line_id, bucket, process_id, shard) DO UPDATE SET
                passed = process_rollups.passed + EXCLUDED.passed, failed = process_rollups.failed + EXCLUDED.failed,
                completed = process_rollups.completed + EXCLUDED.completed,
                cycle_time_sum = process_rollups.cycle_time_sum + EXCLUDED.cycle_time_sum),
         {}
         SELECT 1",
        key_cte(22)
    ))
    .bind(record_id)
    .bind(if req.is_pass { "COMPLETED" } else { "FAILED" })
    .bind(completed_at)
    .bind(cycle_time)
    .bind(req.is_pass)
    .bind(&data)
    .bind(&req.inspection_result)
    .bind(&req.defect_code)
    .bind(&req.defect_description)
    .bind(serial_status)
    .bind(new.next_step as i32 + 1)
    .bind(new.status == SerialStatus::Defective)
    .bind(row.serial_id)
    .bind(actual_inc)
    .bind(defect_inc)
    .bind(row.lot_id)
    .bind(routing.line_id)
    .bind(process.id)
    .bind(row.serial_id % ROLLUP_SHARDS)
    .bind(i32::from(req.is_pass))
    .bind(i32::from(!req.is_pass))
    .bind(key.principal)
    .bind(key.key)
    .bind(key.method)
    .bind(key.path)
    .bind(key.hash)
    .bind(key.body)
    .execute(&mut *tx)
    .await
    .map_err(|e| match db::violated_constraint(&e) {
        Some("process_data_defect_code_fkey" | "serials_defect_code_fkey") => ApiError::unprocessable(
            "UNKNOWN_DEFECT_CODE",
            format!("defect code `{}` does not exist", req.defect_code.as_deref().unwrap_or_default()),
        )
        .with_details(json!({ "field": "defect_code" })),
        _ => e.into(),
    })?;
    if serial_completed {
        response.lot_status = close_lot_if_done(&mut tx, row.lot_id).await?;
        if let Some(i) = idem {
            i.record(&mut tx, axum::http::StatusCode::OK, &response)
                .await?;
        }
    }
    tx.commit().await?;
    state.realtime.publish(payload);
    state
        .metrics
        .process_events
        .with_label_values(&[
            routing.line_code.as_str(),
            process.code.as_str(),
            if req.is_pass { "passed" } else { "failed" },
        ])
        .inc();
    Ok(Outcome::Done(response))
}

fn unreachable_request() -> Result<String, ApiError> {
    Err(ApiError::validation(
        "give either process_data_id, or serial_number and process_code",
    ))
}

/// Marks the LOT COMPLETED when all its serials exist and each is COMPLETED or SCRAPPED. Runs
/// as its own statement after the LOT row was locked by this transaction's counter update, so
/// the finishing events of one LOT see each other's commits and exactly one closes it.
pub async fn close_lot_if_done(
    tx: &mut sqlx::PgConnection,
    lot_id: i64,
) -> Result<String, ApiError> {
    let closed: Option<String> = sqlx::query_scalar(
        "UPDATE lots SET status = 'COMPLETED', completed_at = now()
         WHERE id = $1 AND status <> 'COMPLETED' AND serial_count = target_quantity
           AND NOT EXISTS (SELECT 1 FROM serials WHERE lot_id = $1 AND status NOT IN ('COMPLETED', 'SCRAPPED'))
         RETURNING status",
    )
    .bind(lot_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(closed.unwrap_or_else(|| "IN_PROGRESS".to_owned()))
}
