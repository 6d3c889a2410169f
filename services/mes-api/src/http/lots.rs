//! LOTs: create (numbered in the inserting transaction), list with filters and paging, detail.

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use mes_core::{LotNumber, Shift};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};

use crate::db;
use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, RequestContext};
use crate::http::page::{Page, Paging};
use crate::production::idempotency::{self, Idempotency};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    Urgent,
    High,
    Normal,
    Low,
}

impl Priority {
    fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "URGENT",
            Priority::High => "HIGH",
            Priority::Normal => "NORMAL",
            Priority::Low => "LOW",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LotStatus {
    Created,
    InProgress,
    Completed,
    Cancelled,
}

impl LotStatus {
    fn as_str(self) -> &'static str {
        match self {
            LotStatus::Created => "CREATED",
            LotStatus::InProgress => "IN_PROGRESS",
            LotStatus::Completed => "COMPLETED",
            LotStatus::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLot {
    pub line_code: String,
    pub product_model_code: String,
    /// 1..=9999 units.
    pub target_quantity: i32,
    pub priority: Option<Priority>,
    /// With `shift`: book the LOT on a given production date and shift (default: now's, from the
    /// plant's timezone and shift start times).
    pub production_date: Option<NaiveDate>,
    #[schema(value_type = Option<String>, example = "D")]
    pub shift: Option<Shift>,
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct LotView {
    pub id: i64,
    pub lot_number: String,
    pub plant_code: String,
    pub line_code: String,
    pub product_model_code: String,
    pub production_date: NaiveDate,
    pub shift: String,
    pub target_quantity: i32,
    /// Serials created so far.
    pub serial_count: i32,
    /// Serials that passed the last process.
    pub actual_quantity: i32,
    pub defect_quantity: i32,
    pub status: String,
    pub priority: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub notes: Option<String>,
    /// actual / target, in percent.
    pub completion_rate: f64,
    /// defect / (actual + defect), in percent.
    pub defect_rate: f64,
}

const LOT_SELECT: &str = "SELECT l.id, l.lot_number, l.plant_code, pl.line_code, pm.model_code AS product_model_code,
        l.production_date, l.shift, l.target_quantity, l.serial_count, l.actual_quantity, l.defect_quantity,
        l.status, l.priority, l.created_at, l.started_at, l.completed_at, l.created_by, l.notes,
        round(l.actual_quantity * 100.0 / l.target_quantity, 2)::float8 AS completion_rate,
        coalesce(round(l.defect_quantity * 100.0 / nullif(l.actual_quantity + l.defect_quantity, 0), 2), 0)::float8 AS defect_rate
    FROM lots l
    JOIN production_lines pl ON pl.id = l.line_id
    JOIN product_models pm ON pm.id = l.product_model_id";

#[utoipa::path(post, path = "/api/v1/lots", tag = "lots", request_body = CreateLot, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries exactly-once")),
    responses((status = 201, body = inline(crate::error::Envelope<LotView>)),
              (status = 404, body = crate::error::ErrorEnvelope, description = "LINE_NOT_FOUND"),
              (status = 409, body = crate::error::ErrorEnvelope, description = "LOT_SEQUENCE_EXHAUSTED, LINE_INACTIVE"),
              (status = 422, body = crate::error::ErrorEnvelope, description = "VALIDATION_ERROR, UNKNOWN_PRODUCT_MODEL, MODEL_NOT_ON_LINE")))]
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<CreateLot>,
) -> Result<axum::response::Response, ApiError> {
    let idem = Idempotency::from_request(&headers, &ctx.actor, "POST", "/lots", &req)?;
    idempotency::once(
        &state.db,
        idem.as_ref(),
        axum::http::StatusCode::CREATED,
        insert(&state, &ctx, &req, idem.as_ref()),
    )
    .await
}

async fn insert(
    state: &AppState,
    ctx: &RequestContext,
    req: &CreateLot,
    idem: Option<&Idempotency>,
) -> Result<LotView, ApiError> {
    if !(1..=9999).contains(&req.target_quantity) {
        return Err(ApiError::validation("target_quantity must be 1..=9999")
            .with_details(json!({ "field": "target_quantity" })));
    }
    if req.notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(
            ApiError::validation("notes must be at most 2000 characters")
                .with_details(json!({ "field": "notes" })),
        );
    }
    let slot = match (req.production_date, req.shift) {
        (Some(date), Some(shift)) => mes_core::ProductionSlot { date, shift },
        (None, None) => state.config.shifts.production_slot(Utc::now()),
        _ => {
            return Err(
                ApiError::validation("give both production_date and shift, or neither")
                    .with_details(json!({ "field": "shift" })),
            );
        }
    };

    let mut tx = db::begin_write(&state.db, ctx).await?;
    let line: Option<(i32, bool)> =
        sqlx::query_as("SELECT id, is_active FROM production_lines WHERE line_code = $1")
            .bind(&req.line_code)
            .fetch_optional(&mut *tx)
            .await?;
    let (line_id, active) =
        line.ok_or_else(|| crate::http::lines::line_not_found(&req.line_code))?;
    if !active {
        return Err(ApiError::conflict(
            "LINE_INACTIVE",
            format!("line `{}` is deactivated", req.line_code),
        ));
    }
    let model: Option<(i32, bool, bool)> = sqlx::query_as(
        "SELECT pm.id, pm.is_active,
                NOT EXISTS (SELECT 1 FROM line_product_models x WHERE x.line_id = $2)
                OR EXISTS (SELECT 1 FROM line_product_models x WHERE x.line_id = $2 AND x.product_model_id = pm.id)
         FROM product_models pm WHERE pm.model_code = $1",
    )
    .bind(&req.product_model_code)
    .bind(line_id)
    .fetch_optional(&mut *tx)
    .await?;
    let model_id = match model {
        Some((id, true, true)) => id,
        Some((_, true, false)) => {
            return Err(ApiError::unprocessable(
                "MODEL_NOT_ON_LINE",
                format!(
                    "line `{}` does not build `{}`",
                    req.line_code, req.product_model_code
                ),
            )
            .with_details(json!({ "field": "product_model_code" })));
        }
        _ => {
            return Err(ApiError::unprocessable(
                "UNKNOWN_PRODUCT_MODEL",
                format!("no active product model `{}`", req.product_model_code),
            )
            .with_details(json!({ "field": "product_model_code" })));
        }
    };

    // The sequence row is locked until commit: concurrent creators on any replica queue here,
    // and a rollback returns the number, so numbers are distinct and contiguous.
    let seq: i16 = sqlx::query_scalar(
        "INSERT INTO lot_sequences (plant_code, production_date, shift, last_seq) VALUES ($1, $2, $3, 1)
         ON CONFLICT (plant_code, production_date, shift) DO UPDATE SET last_seq = lot_sequences.last_seq + 1
         RETURNING last_seq",
    )
    .bind(state.config.plant_code.as_str())
    .bind(slot.date)
    .bind(slot.shift.code().to_string())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match db::violated_constraint(&e) {
        Some("lot_sequences_last_seq_check") => exhausted(slot),
        _ => e.into(),
    })?;
    let number = LotNumber::new(
        state.config.lot_prefix.clone(),
        state.config.plant_code.clone(),
        slot.date,
        slot.shift,
        seq as u16,
    )
    .map_err(|e| match e {
        mes_core::NumberError::LotSequenceExhausted { .. } => exhausted(slot),
        other => {
            ApiError::validation(other.to_string()).with_details(json!({ "reason": other.code() }))
        }
    })?;

    let id: i64 = sqlx::query_scalar(
        "INSERT INTO lots (lot_number, plant_code, line_id, product_model_id, production_date, shift, lot_seq,
                           target_quantity, priority, created_by, notes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(number.to_string())
    .bind(state.config.plant_code.as_str())
    .bind(line_id)
    .bind(model_id)
    .bind(slot.date)
    .bind(slot.shift.code().to_string())
    .bind(seq)
    .bind(req.target_quantity)
    .bind(req.priority.unwrap_or(Priority::Normal).as_str())
    .bind(&ctx.actor)
    .bind(&req.notes)
    .fetch_one(&mut *tx)
    .await?;
    let lot: LotView = sqlx::query_as(sql!("{LOT_SELECT} WHERE l.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(i) = idem {
        i.record(&mut tx, axum::http::StatusCode::CREATED, &lot)
            .await?;
    }
    tx.commit().await?;
    state.realtime.publish(
        json!({ "type": "lot", "event": "lot_created", "lot_number": lot.lot_number,
                "line_code": lot.line_code, "at": Utc::now() })
        .to_string(),
    );
    Ok(lot)
}

fn exhausted(slot: mes_core::ProductionSlot) -> ApiError {
    ApiError::conflict(
        "LOT_SEQUENCE_EXHAUSTED",
        format!(
            "all 999 LOT numbers of {} shift {} are used; no further LOT can be created for this shift",
            slot.date,
            slot.shift.code()
        ),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LotQuery {
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    pub status: Option<LotStatus>,
    /// Plant code, e.g. `KR`.
    pub plant: Option<String>,
    /// Line code, e.g. `L1`.
    pub line: Option<String>,
    /// Production date from (inclusive).
    pub date_from: Option<NaiveDate>,
    /// Production date to (inclusive).
    pub date_to: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/api/v1/lots", tag = "lots", params(LotQuery), security(("bearer" = [])),
    responses((status = 200, description = "newest production slot first", body = inline(crate::error::Envelope<Page<LotView>>))))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LotQuery>,
) -> ApiResult<Page<LotView>> {
    let paging = Paging::from_query(q.page, q.page_size)?;
    let filter = "WHERE ($1::text IS NULL OR l.status = $1) AND ($2::text IS NULL OR l.plant_code = $2)
                    AND ($3::text IS NULL OR pl.line_code = $3) AND ($4::date IS NULL OR l.production_date >= $4)
                    AND ($5::date IS NULL OR l.production_date <= $5)";
    let status = q.status.map(LotStatus::as_str);
    let total: i64 = sqlx::query_scalar(sql!(
        "SELECT count(*) FROM lots l JOIN production_lines pl ON pl.id = l.line_id {filter}"
    ))
    .bind(status)
    .bind(&q.plant)
    .bind(&q.line)
    .bind(q.date_from)
    .bind(q.date_to)
    .fetch_one(&state.db)
    .await?;
    // The natural key orders LOTs by production slot, newest first, and is unique: stable pages.
    let items = sqlx::query_as(sql!(
        "{LOT_SELECT} {filter} ORDER BY l.production_date DESC, l.shift DESC, l.lot_seq DESC, l.plant_code
         LIMIT $6 OFFSET $7"
    ))
    .bind(status)
    .bind(&q.plant)
    .bind(&q.line)
    .bind(q.date_from)
    .bind(q.date_to)
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(paging.wrap(items, total)))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct LotSerial {
    pub serial_number: String,
    pub status: String,
    /// Code of the process the serial is at (open or last worked on).
    pub current_process: Option<String>,
    /// True while the serial has an open (STARTed, not COMPLETEd) record at `current_process`;
    /// false when that process is done and the next one not started.
    pub open: bool,
}

#[derive(Debug, Serialize, ToSchema, Default)]
pub struct SerialCounts {
    pub created: i64,
    pub in_progress: i64,
    pub completed: i64,
    pub defective: i64,
    pub scrapped: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LotDetail {
    #[serde(flatten)]
    pub lot: LotView,
    pub product_model_name: String,
    pub serial_counts: SerialCounts,
    pub serials: Vec<LotSerial>,
}

pub fn parse_lot_number(s: &str) -> Result<LotNumber, ApiError> {
    s.parse::<LotNumber>().map_err(|e| {
        ApiError::bad_request("INVALID_LOT_FORMAT", e.to_string())
            .with_details(json!({ "lot_number": s }))
    })
}

pub fn lot_not_found(lot: &str) -> ApiError {
    ApiError::not_found("LOT_NOT_FOUND", format!("no LOT `{lot}`"))
}

pub async fn fetch_view(db: &PgPool, lot_number: &str) -> Result<Option<LotView>, ApiError> {
    Ok(sqlx::query_as(sql!("{LOT_SELECT} WHERE l.lot_number = $1"))
        .bind(lot_number)
        .fetch_optional(db)
        .await?)
}

#[utoipa::path(get, path = "/api/v1/lots/{lot_number}", tag = "lots", params(("lot_number" = String, Path, example = "FN-KR-251109D-001")),
    security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<LotDetail>)),
              (status = 400, body = crate::error::ErrorEnvelope, description = "INVALID_LOT_FORMAT"),
              (status = 404, body = crate::error::ErrorEnvelope, description = "LOT_NOT_FOUND")))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(lot_number): ApiPath<String>,
) -> ApiResult<LotDetail> {
    parse_lot_number(&lot_number)?;
    let lot = fetch_view(&state.db, &lot_number)
        .await?
        .ok_or_else(|| lot_not_found(&lot_number))?;
    let product_model_name: String =
        sqlx::query_scalar("SELECT model_name FROM product_models WHERE model_code = $1")
            .bind(&lot.product_model_code)
            .fetch_one(&state.db)
            .await?;
    let serials: Vec<LotSerial> = sqlx::query_as(
        "SELECT s.serial_number, s.status, p.process_code AS current_process,
                EXISTS (SELECT 1 FROM process_data d
                        WHERE d.serial_id = s.id AND d.status = 'IN_PROGRESS') AS open
         FROM serials s LEFT JOIN processes p ON p.id = s.current_process_id
         WHERE s.lot_id = $1 ORDER BY s.sequence_in_lot",
    )
    .bind(lot.id)
    .fetch_all(&state.db)
    .await?;
    let mut counts = SerialCounts::default();
    for s in &serials {
        match s.status.as_str() {
            "CREATED" => counts.created += 1,
            "IN_PROGRESS" => counts.in_progress += 1,
            "COMPLETED" => counts.completed += 1,
            "DEFECTIVE" => counts.defective += 1,
            _ => counts.scrapped += 1,
        }
    }
    Ok(ApiResponse::ok(LotDetail {
        lot,
        product_model_name,
        serial_counts: counts,
        serials,
    }))
}
