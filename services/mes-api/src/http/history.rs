//! History: the audit log of any record, and the status history of a serial (ADMIN/SUPERVISOR).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::http::page::{Page, Paging};
use crate::http::serials::{parse_serial_number, serial_not_found};
use crate::state::AppState;

/// Tables whose rows are audited, as `entity` values.
const ENTITIES: [&str; 11] = [
    "lots",
    "serials",
    "process_data",
    "reworks",
    "users",
    "production_lines",
    "processes",
    "product_models",
    "defect_codes",
    "api_tokens",
    "permissions",
];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Table name, e.g. `lots`, `serials`, `process_data`, `reworks`, `users`.
    pub entity: Option<String>,
    /// Record id within `entity`.
    pub id: Option<i64>,
    pub changed_by: Option<String>,
    pub page: Option<u32>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub entity: String,
    pub record_id: i64,
    pub action: String,
    #[schema(value_type = Object)]
    pub old_data: Option<Value>,
    #[schema(value_type = Object)]
    pub new_data: Option<Value>,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub ip_address: Option<String>,
    pub request_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "history", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, description = "newest first", body = inline(crate::error::Envelope<Page<AuditEntry>>)),
              (status = 400, body = crate::error::ErrorEnvelope, description = "INVALID_QUERY")))]
pub async fn audit(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Page<AuditEntry>> {
    let paging = Paging::from_query(q.page, q.page_size)?;
    if let Some(e) = &q.entity
        && !ENTITIES.contains(&e.as_str())
    {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("entity must be one of {}", ENTITIES.join(", ")),
        ));
    }
    if q.id.is_some() && q.entity.is_none() {
        return Err(ApiError::bad_request("INVALID_QUERY", "id needs entity"));
    }
    let filter =
        "WHERE ($1::text IS NULL OR table_name = $1) AND ($2::int8 IS NULL OR record_id = $2)
                    AND ($3::text IS NULL OR changed_by = $3)";
    let total: i64 = sqlx::query_scalar(sql!("SELECT count(*) FROM audit_log {filter}"))
        .bind(&q.entity)
        .bind(q.id)
        .bind(&q.changed_by)
        .fetch_one(&state.db)
        .await?;
    let items = sqlx::query_as(sql!(
        "SELECT id, table_name AS entity, record_id, action, old_data, new_data, changed_by, changed_at,
                host(ip_address) AS ip_address, request_id
         FROM audit_log {filter} ORDER BY id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(&q.entity)
    .bind(q.id)
    .bind(&q.changed_by)
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(paging.wrap(items, total)))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct StatusChange {
    /// `SERIAL` or `PROCESS_RECORD`.
    pub entity_type: String,
    pub entity_id: i64,
    pub process_code: Option<String>,
    pub old_status: Option<String>,
    pub new_status: String,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/serials/{serial_number}/history", tag = "history",
    params(("serial_number" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "oldest first", body = inline(crate::error::Envelope<Vec<StatusChange>>)),
              (status = 404, body = crate::error::ErrorEnvelope, description = "SERIAL_NOT_FOUND")))]
pub async fn serial_history(
    State(state): State<AppState>,
    ApiPath(sn): ApiPath<String>,
) -> ApiResult<Vec<StatusChange>> {
    parse_serial_number(&sn)?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM serials WHERE serial_number = $1")
        .bind(&sn)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| serial_not_found(&sn))?;
    let rows = sqlx::query_as(
        "SELECT h.entity_type, h.entity_id, NULL::text AS process_code, h.old_status, h.new_status, h.changed_by,
                h.changed_at, h.reason
         FROM status_history h WHERE h.entity_type = 'SERIAL' AND h.entity_id = $1
         UNION ALL
         SELECT h.entity_type, h.entity_id, p.process_code, h.old_status, h.new_status, h.changed_by, h.changed_at, h.reason
         FROM process_data d JOIN status_history h ON h.entity_type = 'PROCESS_RECORD' AND h.entity_id = d.id
         JOIN processes p ON p.id = d.process_id
         WHERE d.serial_id = $1
         ORDER BY changed_at, entity_type DESC, entity_id",
    )
    .bind(id)
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(rows))
}
