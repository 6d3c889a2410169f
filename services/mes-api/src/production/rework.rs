//! Rework of DEFECTIVE serials: open a rework record, then finish it with PASS (the failed
//! process re-opens with the next work order and the LOT's defect count is corrected) or SCRAP.

use chrono::{DateTime, Utc};
use mes_core::{Effect, Event, ReworkOutcome, SerialState, SerialStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::idempotency::Idempotency;
use super::{audit_context_binds, routing_error};
use crate::db;
use crate::error::ApiError;
use crate::extract::RequestContext;
use crate::http::serials::{parse_serial_number, serial_not_found};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRework {
    pub serial_number: String,
    /// Defaults to the serial's recorded defect code.
    pub defect_code: Option<String>,
    pub rework_reason: Option<String>,
    /// Who does the rework; defaults to the caller.
    pub operator_id: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRework {
    #[schema(value_type = String, example = "PASS")]
    pub result: ReworkOutcome,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ReworkRecord {
    pub id: i64,
    pub serial_number: String,
    pub lot_number: String,
    pub original_process: String,
    pub defect_code: String,
    pub rework_reason: Option<String>,
    pub rework_operator: String,
    pub rework_started_at: DateTime<Utc>,
    pub rework_completed_at: Option<DateTime<Utc>>,
    pub is_completed: bool,
    pub final_result: Option<String>,
    pub notes: Option<String>,
    pub created_by: String,
}

pub const REWORK_SELECT: &str = "SELECT r.id, s.serial_number, l.lot_number, p.process_code AS original_process,
        r.defect_code, r.rework_reason, r.rework_operator, r.rework_started_at, r.rework_completed_at,
        r.is_completed, r.final_result, r.notes, r.created_by
    FROM reworks r JOIN serials s ON s.id = r.serial_id JOIN lots l ON l.id = s.lot_id
    JOIN processes p ON p.id = r.original_process_id";

fn long_text(name: &str, value: Option<&str>) -> Result<(), ApiError> {
    if value.is_some_and(|v| v.chars().count() > 2000) {
        return Err(
            ApiError::validation(format!("{name} must be at most 2000 characters"))
                .with_details(json!({ "field": name })),
        );
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    ctx: &RequestContext,
    req: &CreateRework,
    idem: Option<&Idempotency>,
) -> Result<ReworkRecord, ApiError> {
    parse_serial_number(&req.serial_number)?;
    long_text("rework_reason", req.rework_reason.as_deref())?;
    long_text("notes", req.notes.as_deref())?;
    if req
        .operator_id
        .as_ref()
        .is_some_and(|o| o.trim().is_empty() || o.chars().count() > 50)
    {
        return Err(ApiError::validation("operator_id must be 1-50 characters")
            .with_details(json!({ "field": "operator_id" })));
    }
    let mut tx = db::begin_write(&state.db, ctx).await?;
    let row: Option<(i64, String, Option<i32>, Option<String>)> = sqlx::query_as(
        "SELECT id, status, current_process_id, defect_code FROM serials WHERE serial_number = $1 FOR UPDATE",
    )
    .bind(&req.serial_number)
    .fetch_optional(&mut *tx)
    .await?;
    let (serial_id, status, process_id, serial_defect) =
        row.ok_or_else(|| serial_not_found(&req.serial_number))?;
    if status != "DEFECTIVE" {
        return Err(ApiError::conflict(
            "NOT_DEFECTIVE",
            format!(
                "serial {} is {status}; only DEFECTIVE serials are reworked",
                req.serial_number
            ),
        ));
    }
    let process_id =
        process_id.ok_or_else(|| ApiError::internal("defective serial without a process"))?;
    let defect_code = req.defect_code.clone().or(serial_defect).ok_or_else(|| {
        ApiError::unprocessable("DEFECT_CODE_REQUIRED", "give a defect_code")
            .with_details(json!({ "field": "defect_code" }))
    })?;
    let operator = req.operator_id.clone().unwrap_or_else(|| ctx.actor.clone());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO reworks (serial_id, original_process_id, process_data_id, defect_code, rework_reason, rework_operator, notes, created_by)
         VALUES ($1, $2, (SELECT id FROM process_data WHERE serial_id = $1 AND status = 'FAILED' ORDER BY id DESC LIMIT 1),
                 $3, $4, $5, $6, $7)
         RETURNING id",
    )
    .bind(serial_id)
    .bind(process_id)
    .bind(&defect_code)
    .bind(&req.rework_reason)
    .bind(operator.trim())
    .bind(&req.notes)
    .bind(&ctx.actor)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match db::violated_constraint(&e) {
        Some("reworks_one_open_per_serial") => ApiError::conflict("REWORK_ALREADY_OPEN", format!("serial {} already has an open rework", req.serial_number)),
        Some("reworks_defect_code_fkey") => ApiError::unprocessable("UNKNOWN_DEFECT_CODE", format!("defect code `{defect_code}` does not exist"))
            .with_details(json!({ "field": "defect_code" })),
        _ => e.into(),
    })?;
    let record: ReworkRecord = sqlx::query_as(sql!("{REWORK_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(i) = idem {
        i.record(&mut tx, axum::http::StatusCode::CREATED, &record)
            .await?;
    }
    tx.commit().await?;
    state.realtime.publish(event("rework_opened", &record));
    Ok(record)
}

fn event(event: &str, r: &ReworkRecord) -> String {
    json!({ "type": "rework", "event": event, "rework_id": r.id, "serial_number": r.serial_number,
            "lot_number": r.lot_number, "process_code": r.original_process, "result": r.final_result,
            "at": Utc::now() })
    .to_string()
}

#[derive(sqlx::FromRow)]
struct OpenRework {
    serial_id: i64,
    is_completed: bool,
    status: String,
    next_sequence: i32,
    in_process: bool,
    work_order: i32,
    lot_id: i64,
    line_id: i32,
    line_version: DateTime<Utc>,
}

pub async fn complete(
    state: &AppState,
    ctx: &RequestContext,
    id: i64,
    req: &CompleteRework,
    idem: Option<&Idempotency>,
) -> Result<ReworkRecord, ApiError> {
    long_text("notes", req.notes.as_deref())?;
    let mut tx = state.db.begin().await?;
    let (actor, ip, agent, request_id) = audit_context_binds(ctx);
    let row: Option<OpenRework> = sqlx::query_as(
        "SELECT set_config('mes.user', $2, true), set_config('mes.ip', $3, true),
                set_config('mes.user_agent', $4, true), set_config('mes.request_id', $5, true),
                r.serial_id, r.is_completed, s.status, s.next_sequence, s.in_process, s.work_order, s.lot_id,
                l.line_id, pl.updated_at AS line_version
         FROM reworks r JOIN serials s ON s.id = r.serial_id JOIN lots l ON l.id = s.lot_id
         JOIN production_lines pl ON pl.id = l.line_id
         WHERE r.id = $1 FOR UPDATE OF r, s",
    )
    .bind(id)
    .bind(actor)
    .bind(ip)
    .bind(agent)
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await?;
    let row =
        row.ok_or_else(|| ApiError::not_found("REWORK_NOT_FOUND", format!("no rework {id}")))?;
    if row.is_completed {
        return Err(ApiError::conflict(
            "REWORK_ALREADY_COMPLETED",
            format!("rework {id} is already completed"),
        ));
    }
    let current = SerialState {
        status: row
            .status
            .parse::<SerialStatus>()
            .map_err(ApiError::internal)?,
        next_step: (row.next_sequence.max(1) - 1) as usize,
        open: row.in_process,
        work_order: row.work_order.max(1) as u32,
    };
    let routing = state
        .routes
        .get(&mut tx, row.line_id, row.line_version)
        .await?;
    current.validate(&routing.route).map_err(routing_error)?;
    let transition = mes_core::apply(&routing.route, &current, Event::Rework(req.result))
        .map_err(routing_error)?;
    let new = transition.state;
    let (serial_update, defect_delta) = match transition.effect {
        Effect::ReworkPassed { .. } => (
            "UPDATE serials SET status = 'IN_PROGRESS', work_order = $2, is_defective = false, defect_code = NULL,
                    defect_description = NULL WHERE id = $1",
            -1,
        ),
        Effect::Scrapped => ("UPDATE serials SET status = 'SCRAPPED', is_defective = false WHERE id = $1 AND $2 > 0", 0),
        _ => return Err(ApiError::internal("rework produced an unexpected effect")),
    };
    sqlx::query(serial_update)
        .bind(row.serial_id)
        .bind(new.work_order as i32)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE reworks SET is_completed = true, final_result = $2, rework_completed_at = now(),
                notes = COALESCE($3, notes) WHERE id = $1",
    )
    .bind(id)
    .bind(req.result.as_str())
    .bind(&req.notes)
    .execute(&mut *tx)
    .await?;
    if defect_delta != 0 {
        sqlx::query("UPDATE lots SET defect_quantity = defect_quantity + $2 WHERE id = $1")
            .bind(row.lot_id)
            .bind(defect_delta)
            .execute(&mut *tx)
            .await?;
    } else {
        // A scrapped serial is finished: count it, and close the LOT if it was the last one.
        // The counter update locks the LOT row, so concurrent finishers of one LOT serialise
        // and exactly one of them closes it.
        sqlx::query("UPDATE lots SET finished_quantity = finished_quantity + 1 WHERE id = $1")
            .bind(row.lot_id)
            .execute(&mut *tx)
            .await?;
        close_lot_if_done(&mut tx, row.lot_id).await?;
    }
    let record: ReworkRecord = sqlx::query_as(sql!("{REWORK_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(i) = idem {
        i.record(&mut tx, axum::http::StatusCode::OK, &record)
            .await?;
    }
    tx.commit().await?;
    state.realtime.publish(event("rework_completed", &record));
    Ok(record)
}

/// Marks the LOT COMPLETED when all its serials exist and each is finished (COMPLETED or
/// SCRAPPED, counted in `finished_quantity`): O(1), no scan of the LOT's serials.
async fn close_lot_if_done(tx: &mut sqlx::PgConnection, lot_id: i64) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE lots SET status = 'COMPLETED', completed_at = now()
         WHERE id = $1 AND status <> 'COMPLETED' AND serial_count = target_quantity
           AND finished_quantity = target_quantity",
    )
    .bind(lot_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
