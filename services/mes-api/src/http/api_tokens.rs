//! Station API tokens (ADMIN): the secret is returned once at creation, then only its prefix.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::station_token;
use crate::db;
use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, ApiPath, RequestContext};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ApiTokenView {
    pub id: i32,
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub token_prefix: String,
    pub role: String,
    pub workstation: Option<String>,
    pub process_code: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, token_prefix, role, workstation, process_code, created_by, created_at, \
                       expires_at, revoked_at, last_used_at";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// e.g. `STATION-04`.
    pub name: String,
    pub workstation: Option<String>,
    pub process_code: Option<String>,
    /// Lifetime in days; none = until revoked.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    /// The secret: shown only in this response. Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(flatten)]
    pub info: ApiTokenView,
}

#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api-tokens", security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<Vec<ApiTokenView>>))))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Vec<ApiTokenView>> {
    let rows = sqlx::query_as(sql!("SELECT {COLUMNS} FROM api_tokens ORDER BY id"))
        .fetch_all(&state.db)
        .await?;
    Ok(ApiResponse::ok(rows))
}

#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api-tokens", request_body = CreateApiToken,
    security(("bearer" = [])),
    responses((status = 201, body = inline(crate::error::Envelope<CreatedApiToken>)), (status = 422, body = crate::error::ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiJson(req): ApiJson<CreateApiToken>,
) -> ApiResult<CreatedApiToken> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name must be 1-100 characters")
            .with_details(json!({ "field": "name" })));
    }
    for (field, value, max) in [
        ("workstation", &req.workstation, 50),
        ("process_code", &req.process_code, 20),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.chars().count() > max)
        {
            return Err(
                ApiError::validation(format!("{field} must be 1-{max} characters"))
                    .with_details(json!({ "field": field })),
            );
        }
    }
    let expires_at = match req.expires_in_days {
        Some(0) | Some(3651..) => {
            return Err(ApiError::validation("expires_in_days must be 1..=3650")
                .with_details(json!({ "field": "expires_in_days" })));
        }
        Some(days) => Some(Utc::now() + Duration::days(i64::from(days))),
        None => None,
    };
    let new = station_token::generate();
    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let info: ApiTokenView = sqlx::query_as(sql!(
        "INSERT INTO api_tokens (name, token_prefix, token_hash, workstation, process_code, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(name)
    .bind(&new.display_prefix)
    .bind(&new.hash)
    .bind(&req.workstation)
    .bind(&req.process_code)
    .bind(&ctx.actor)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApiResponse::created(CreatedApiToken {
        token: new.secret,
        info,
    }))
}

#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", tag = "api-tokens", params(("id" = i32, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<ApiTokenView>)), (status = 404, body = crate::error::ErrorEnvelope)))]
pub async fn revoke(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiPath(id): ApiPath<i32>,
) -> ApiResult<ApiTokenView> {
    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let row: Option<ApiTokenView> = sqlx::query_as(sql!(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(|| {
        ApiError::not_found("API_TOKEN_NOT_FOUND", format!("no API token with id {id}"))
    })?;
    tx.commit().await?;
    state.station_tokens.forget_all();
    Ok(ApiResponse::ok(row))
}
