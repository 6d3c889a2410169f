//! Serials: bulk creation inside a LOT (all-or-nothing, within the target quantity) and the
//! serial's genealogy (every process record, including repeated work orders, and reworks).

use axum::extract::State;
use chrono::{DateTime, Utc};
use mes_core::{MAX_SERIAL_SEQ, SerialNumber};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, ApiPath, RequestContext};
use crate::http::lots::{lot_not_found, parse_lot_number};
use crate::production::idempotency::{self, Idempotency};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSerials {
    /// How many serials to create, 1..=9999.
    pub quantity: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSerials {
    pub lot_number: String,
    pub generated_count: usize,
    pub serials: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/lots/{lot_number}/serials", tag = "serials",
    params(("lot_number" = String, Path, example = "FN-KR-251109D-001"), ("Idempotency-Key" = Option<String>, Header)), request_body = CreateSerials,
    security(("bearer" = [])),
    responses((status = 201, body = inline(crate::error::Envelope<CreatedSerials>)),
              (status = 404, body = crate::error::ErrorEnvelope, description = "LOT_NOT_FOUND"),
              (status = 409, body = crate::error::ErrorEnvelope, description = "TARGET_QUANTITY_EXCEEDED, SERIAL_SEQUENCE_EXHAUSTED, LOT_CLOSED")))]
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: axum::http::HeaderMap,
    ApiPath(lot_number): ApiPath<String>,
    ApiJson(req): ApiJson<CreateSerials>,
) -> Result<axum::response::Response, ApiError> {
    let path = format!("/lots/{lot_number}/serials");
    let idem = Idempotency::from_request(&headers, &ctx.actor, "POST", &path, &req)?;
    idempotency::once(
        &state.db,
        idem.as_ref(),
        axum::http::StatusCode::CREATED,
        insert(&state, &ctx, lot_number, &req, idem.as_ref()),
    )
    .await
}

async fn insert(
    state: &AppState,
    ctx: &RequestContext,
    lot_number: String,
    req: &CreateSerials,
    idem: Option<&Idempotency>,
) -> Result<CreatedSerials, ApiError> {
    let lot = parse_lot_number(&lot_number)?;
    if !(1..=i32::from(MAX_SERIAL_SEQ)).contains(&req.quantity) {
        return Err(
            ApiError::validation(format!("quantity must be 1..={MAX_SERIAL_SEQ}"))
                .with_details(json!({ "field": "quantity" })),
        );
    }
    let mut tx = db::begin_write(&state.db, ctx).await?;
    // Locking the LOT row serialises concurrent creators, so numbers stay distinct and contiguous.
    let row: Option<(i64, i32, i32, String)> = sqlx::query_as(
        "SELECT id, serial_count, target_quantity, status FROM lots WHERE lot_number = $1 FOR UPDATE",
    )
    .bind(&lot_number)
    .fetch_optional(&mut *tx)
    .await?;
    let (lot_id, count, target, status) = row.ok_or_else(|| lot_not_found(&lot_number))?;
    if status == "COMPLETED" || status == "CANCELLED" {
        return Err(ApiError::conflict(
            "LOT_CLOSED",
            format!("LOT {lot_number} is {status}; no serials can be added"),
        ));
    }
    let last = count + req.quantity;
    if last > i32::from(MAX_SERIAL_SEQ) {
        return Err(ApiError::conflict(
            "SERIAL_SEQUENCE_EXHAUSTED",
            format!("LOT {lot_number} has {count} serials; serial numbers end at {MAX_SERIAL_SEQ}"),
        ));
    }
    if last > target {
        return Err(ApiError::conflict(
            "TARGET_QUANTITY_EXCEEDED",
            format!("LOT {lot_number} has {count} of {target} serials; {} more would exceed the target", req.quantity),
        )
        .with_details(json!({ "serial_count": count, "target_quantity": target, "available": target - count })));
    }
    let mut numbers = Vec::with_capacity(req.quantity as usize);
    let mut seqs = Vec::with_capacity(req.quantity as usize);
    for seq in (count + 1)..=last {
        let serial = lot
            .serial(seq as u16)
            .map_err(|e| ApiError::conflict("SERIAL_SEQUENCE_EXHAUSTED", e.to_string()))?;
        numbers.push(serial.to_string());
        seqs.push(seq as i16);
    }
    sqlx::query("UPDATE lots SET serial_count = $2 WHERE id = $1")
        .bind(lot_id)
        .bind(last)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO serials (serial_number, lot_id, sequence_in_lot) SELECT unnest($1::text[]), $2, unnest($3::int2[])",
    )
    .bind(&numbers)
    .bind(lot_id)
    .bind(&seqs)
    .execute(&mut *tx)
    .await?;
    let created = CreatedSerials {
        lot_number,
        generated_count: numbers.len(),
        serials: numbers,
    };
    if let Some(i) = idem {
        i.record(&mut tx, axum::http::StatusCode::CREATED, &created)
            .await?;
    }
    tx.commit().await?;
    state.realtime.publish(
        json!({ "type": "lot", "event": "serials_created", "lot_number": created.lot_number,
                "count": created.generated_count, "at": Utc::now() })
        .to_string(),
    );
    Ok(created)
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ProcessRecordView {
    pub process_data_id: i64,
    pub process_code: String,
    pub process_name: String,
    pub sequence: i32,
    pub work_order: i32,
    pub status: String,
    pub is_pass: Option<bool>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cycle_time: Option<i32>,
    pub standard_cycle_time: i32,
    pub operator_id: String,
    pub equipment_id: Option<String>,
    pub workstation: Option<String>,
    #[schema(value_type = Object)]
    pub process_specific_data: Option<Value>,
    #[schema(value_type = Object)]
    pub inspection_result: Option<Value>,
    pub defect_code: Option<String>,
    pub defect_description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ReworkView {
    pub id: i64,
    pub original_process: String,
    pub defect_code: String,
    pub rework_reason: Option<String>,
    pub rework_operator: String,
    pub rework_started_at: DateTime<Utc>,
    pub rework_completed_at: Option<DateTime<Utc>>,
    pub is_completed: bool,
    pub final_result: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SerialDetail {
    pub serial_number: String,
    pub lot_number: String,
    pub line_code: String,
    pub sequence_in_lot: i16,
    pub status: String,
    /// The process the serial is at (open or last worked on).
    pub current_process: Option<String>,
    /// The process it must start next (none when finished).
    pub next_process: Option<String>,
    pub work_order: i32,
    pub is_defective: bool,
    pub defect_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Every process record in time order (the genealogy), repeated work orders included.
    pub process_history: Vec<ProcessRecordView>,
    pub reworks: Vec<ReworkView>,
}

#[derive(sqlx::FromRow)]
struct SerialRow {
    id: i64,
    serial_number: String,
    lot_number: String,
    line_id: i32,
    line_code: String,
    sequence_in_lot: i16,
    status: String,
    current_process: Option<String>,
    next_sequence: i32,
    work_order: i32,
    is_defective: bool,
    defect_code: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

pub fn parse_serial_number(s: &str) -> Result<SerialNumber, ApiError> {
    s.parse::<SerialNumber>().map_err(|e| {
        ApiError::bad_request("INVALID_SERIAL_FORMAT", e.to_string())
            .with_details(json!({ "serial_number": s }))
    })
}

pub fn serial_not_found(sn: &str) -> ApiError {
    ApiError::not_found("SERIAL_NOT_FOUND", format!("no serial `{sn}`"))
}

#[utoipa::path(get, path = "/api/v1/serials/{serial_number}", tag = "serials",
    params(("serial_number" = String, Path, example = "FN-KR-251109D-001-0001")), security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<SerialDetail>)),
              (status = 400, body = crate::error::ErrorEnvelope, description = "INVALID_SERIAL_FORMAT"),
              (status = 404, body = crate::error::ErrorEnvelope, description = "SERIAL_NOT_FOUND")))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(sn): ApiPath<String>,
) -> ApiResult<SerialDetail> {
    parse_serial_number(&sn)?;
    let s: SerialRow = sqlx::query_as(
        "SELECT s.id, s.serial_number, l.lot_number, l.line_id, pl.line_code, s.sequence_in_lot, s.status,
                p.process_code AS current_process, s.next_sequence, s.work_order, s.is_defective, s.defect_code,
                s.created_at, s.started_at, s.completed_at
         FROM serials s JOIN lots l ON l.id = s.lot_id JOIN production_lines pl ON pl.id = l.line_id
         LEFT JOIN processes p ON p.id = s.current_process_id
         WHERE s.serial_number = $1",
    )
    .bind(&sn)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| serial_not_found(&sn))?;
    let next_process: Option<String> = if matches!(s.status.as_str(), "COMPLETED" | "SCRAPPED") {
        None
    } else {
        sqlx::query_scalar("SELECT process_code FROM processes WHERE line_id = $1 AND is_active AND sequence_order = $2")
            .bind(s.line_id)
            .bind(s.next_sequence)
            .fetch_optional(&state.db)
            .await?
    };
    let process_history = sqlx::query_as(
        "SELECT d.id AS process_data_id, p.process_code, p.process_name, p.sequence_order AS sequence, d.work_order,
                d.status, d.is_pass, d.started_at, d.completed_at, d.cycle_time, p.standard_cycle_time, d.operator_id,
                d.equipment_id, d.workstation, d.process_specific_data, d.inspection_result, d.defect_code,
                d.defect_description
         FROM process_data d JOIN processes p ON p.id = d.process_id
         WHERE d.serial_id = $1 ORDER BY d.started_at, d.id",
    )
    .bind(s.id)
    .fetch_all(&state.db)
    .await?;
    let reworks = sqlx::query_as(
        "SELECT r.id, p.process_code AS original_process, r.defect_code, r.rework_reason, r.rework_operator,
                r.rework_started_at, r.rework_completed_at, r.is_completed, r.final_result, r.notes
         FROM reworks r JOIN processes p ON p.id = r.original_process_id
         WHERE r.serial_id = $1 ORDER BY r.id",
    )
    .bind(s.id)
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(SerialDetail {
        serial_number: s.serial_number,
        lot_number: s.lot_number,
        line_code: s.line_code,
        sequence_in_lot: s.sequence_in_lot,
        status: s.status,
        current_process: s.current_process,
        next_process,
        work_order: s.work_order,
        is_defective: s.is_defective,
        defect_code: s.defect_code,
        created_at: s.created_at,
        started_at: s.started_at,
        completed_at: s.completed_at,
        process_history,
        reworks,
    }))
}
