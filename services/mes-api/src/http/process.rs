//! `POST /process/start`, `POST /process/complete` (exactly-once with `Idempotency-Key`) and
//! `GET /process/records`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, ApiQuery, RequestContext};
use crate::http::page::{Page, Paging};
use crate::http::serials::ProcessRecordView;
use crate::production::events::{
    self, CompleteRequest, CompleteResponse, StartRequest, StartResponse,
};
use crate::production::idempotency::{self, Idempotency};
use crate::state::AppState;

#[utoipa::path(post, path = "/api/v1/process/start", tag = "process", request_body = StartRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries exactly-once")),
    security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<StartResponse>)),
              (status = 400, body = crate::error::ErrorEnvelope, description = "INVALID_SERIAL_FORMAT"),
              (status = 404, body = crate::error::ErrorEnvelope, description = "SERIAL_NOT_FOUND"),
              (status = 409, body = crate::error::ErrorEnvelope, description = "ALREADY_STARTED, ALREADY_COMPLETED, PREVIOUS_PROCESS_INCOMPLETE, SERIAL_DEFECTIVE, SERIAL_SCRAPPED, SERIAL_COMPLETED, OTHER_PROCESS_IN_PROGRESS"),
              (status = 422, body = crate::error::ErrorEnvelope, description = "INVALID_PROCESS, VALIDATION_ERROR, IDEMPOTENCY_KEY_REUSED")))]
pub async fn start(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StartRequest>,
) -> Result<Response, ApiError> {
    let idem = Idempotency::from_request(&headers, &ctx.actor, "POST", "/process/start", &req)?;
    idempotency::once_inline(
        &state.db,
        idem.as_ref(),
        StatusCode::OK,
        events::start(&state, &ctx, &req, idem.as_ref()),
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/process/complete", tag = "process", request_body = CompleteRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries exactly-once")),
    security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<CompleteResponse>)),
              (status = 404, body = crate::error::ErrorEnvelope, description = "SERIAL_NOT_FOUND, PROCESS_RECORD_NOT_FOUND"),
              (status = 409, body = crate::error::ErrorEnvelope, description = "PROCESS_NOT_STARTED, ALREADY_COMPLETED, SERIAL_SCRAPPED, ..."),
              (status = 422, body = crate::error::ErrorEnvelope, description = "INVALID_PROCESS_DATA, DEFECT_CODE_REQUIRED, UNKNOWN_DEFECT_CODE, INVALID_TIMESTAMP")))]
pub async fn complete(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CompleteRequest>,
) -> Result<Response, ApiError> {
    let idem = Idempotency::from_request(&headers, &ctx.actor, "POST", "/process/complete", &req)?;
    idempotency::once_inline(
        &state.db,
        idem.as_ref(),
        StatusCode::OK,
        events::complete(&state, &ctx, &req, idem.as_ref()),
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    pub serial_number: Option<String>,
    pub lot_number: Option<String>,
    pub line: Option<String>,
    pub process: Option<String>,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub status: Option<String>,
    pub operator_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One record of `GET /process/records`: a serial's record, with whose it is (a serial's own
/// history does not repeat these).
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ProcessRecordItem {
    pub serial_number: String,
    pub lot_number: String,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub record: ProcessRecordView,
}

#[utoipa::path(get, path = "/api/v1/process/records", tag = "process", params(RecordQuery), security(("bearer" = [])),
    responses((status = 200, description = "newest first", body = inline(crate::error::Envelope<Page<ProcessRecordItem>>))))]
pub async fn records(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RecordQuery>,
) -> ApiResult<Page<ProcessRecordItem>> {
    let paging = Paging::from_query(q.page, q.page_size)?;
    if q.status
        .as_deref()
        .is_some_and(|s| !["IN_PROGRESS", "COMPLETED", "FAILED"].contains(&s))
    {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            "status must be IN_PROGRESS, COMPLETED or FAILED",
        ));
    }
    let filter = "FROM process_data d JOIN processes p ON p.id = d.process_id JOIN serials s ON s.id = d.serial_id
        JOIN lots l ON l.id = s.lot_id JOIN production_lines pl ON pl.id = l.line_id
        WHERE ($1::text IS NULL OR s.serial_number = $1) AND ($2::text IS NULL OR l.lot_number = $2)
          AND ($3::text IS NULL OR pl.line_code = $3) AND ($4::text IS NULL OR p.process_code = $4)
          AND ($5::text IS NULL OR d.status = $5) AND ($6::text IS NULL OR d.operator_id = $6)
          AND ($7::timestamptz IS NULL OR d.started_at >= $7) AND ($8::timestamptz IS NULL OR d.started_at < $8)";
    let total: i64 = sqlx::query_scalar(sql!("SELECT count(*) {filter}"))
        .bind(&q.serial_number)
        .bind(&q.lot_number)
        .bind(&q.line)
        .bind(&q.process)
        .bind(&q.status)
        .bind(&q.operator_id)
        .bind(q.from)
        .bind(q.to)
        .fetch_one(&state.db)
        .await?;
    let items = sqlx::query_as(sql!(
        "SELECT s.serial_number, l.lot_number, d.id AS process_data_id, p.process_code, p.process_name, p.sequence_order AS sequence, d.work_order,
                d.status, d.is_pass, d.started_at, d.completed_at, d.cycle_time, p.standard_cycle_time, d.operator_id,
                d.equipment_id, d.workstation, d.process_specific_data, d.inspection_result, d.defect_code,
                d.defect_description
         {filter} ORDER BY d.started_at DESC, d.id DESC LIMIT $9 OFFSET $10"
    ))
    .bind(&q.serial_number)
    .bind(&q.lot_number)
    .bind(&q.line)
    .bind(&q.process)
    .bind(&q.status)
    .bind(&q.operator_id)
    .bind(q.from)
    .bind(q.to)
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(paging.wrap(items, total)))
}
