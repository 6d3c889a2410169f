//! Rework of defective serials: `POST /reworks`, `POST /reworks/{id}/complete`, `GET /reworks`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, RequestContext};
use crate::http::page::{Page, Paging};
use crate::production::idempotency::{self, Idempotency};
use crate::production::rework::{self, CompleteRework, CreateRework, REWORK_SELECT, ReworkRecord};
use crate::state::AppState;

#[utoipa::path(post, path = "/api/v1/reworks", tag = "rework", request_body = CreateRework,
    params(("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 201, body = inline(crate::error::Envelope<ReworkRecord>)),
              (status = 409, body = crate::error::ErrorEnvelope, description = "NOT_DEFECTIVE, REWORK_ALREADY_OPEN")))]
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateRework>,
) -> Result<Response, ApiError> {
    let idem = Idempotency::from_request(&headers, &ctx.actor, "POST", "/reworks", &req)?;
    idempotency::once(
        &state.db,
        idem.as_ref(),
        StatusCode::CREATED,
        rework::create(&state, &ctx, &req, idem.as_ref()),
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/reworks/{id}/complete", tag = "rework", request_body = CompleteRework,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<ReworkRecord>)),
              (status = 404, body = crate::error::ErrorEnvelope, description = "REWORK_NOT_FOUND"),
              (status = 409, body = crate::error::ErrorEnvelope, description = "REWORK_ALREADY_COMPLETED")))]
pub async fn complete(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CompleteRework>,
) -> Result<Response, ApiError> {
    let path = format!("/reworks/{id}/complete");
    let idem = Idempotency::from_request(&headers, &ctx.actor, "POST", &path, &req)?;
    idempotency::once(
        &state.db,
        idem.as_ref(),
        StatusCode::OK,
        rework::complete(&state, &ctx, id, &req, idem.as_ref()),
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReworkQuery {
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    /// `open` or `completed`.
    pub status: Option<String>,
    pub serial_number: Option<String>,
    pub lot_number: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reworks", tag = "rework", params(ReworkQuery), security(("bearer" = [])),
    responses((status = 200, description = "oldest open first", body = inline(crate::error::Envelope<Page<ReworkRecord>>))))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReworkQuery>,
) -> ApiResult<Page<ReworkRecord>> {
    let paging = Paging::from_query(q.page, q.page_size)?;
    let completed = match q.status.as_deref() {
        None => None,
        Some("open") => Some(false),
        Some("completed") => Some(true),
        Some(_) => {
            return Err(ApiError::bad_request(
                "INVALID_QUERY",
                "status must be open or completed",
            ));
        }
    };
    let filter = "WHERE ($1::bool IS NULL OR r.is_completed = $1) AND ($2::text IS NULL OR s.serial_number = $2)
                    AND ($3::text IS NULL OR l.lot_number = $3)";
    let total: i64 = sqlx::query_scalar(sql!(
        "SELECT count(*) FROM reworks r JOIN serials s ON s.id = r.serial_id JOIN lots l ON l.id = s.lot_id {filter}"
    ))
    .bind(completed)
    .bind(&q.serial_number)
    .bind(&q.lot_number)
    .fetch_one(&state.db)
    .await?;
    let items = sqlx::query_as(sql!(
        "{REWORK_SELECT} {filter} ORDER BY r.is_completed, r.id LIMIT $4 OFFSET $5"
    ))
    .bind(completed)
    .bind(&q.serial_number)
    .bind(&q.lot_number)
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(paging.wrap(items, total)))
}
