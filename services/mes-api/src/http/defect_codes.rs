//! Defect codes (master data, plant-wide; D001–D008 in the demo).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, RequestContext};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Critical,
    Major,
    Minor,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::Major => "MAJOR",
            Severity::Minor => "MINOR",
        }
    }
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct DefectCodeView {
    pub id: i32,
    pub defect_code: String,
    pub defect_name: String,
    pub process_code: Option<String>,
    pub severity: String,
    pub description: Option<String>,
    pub is_active: bool,
}

const COLUMNS: &str =
    "id, defect_code, defect_name, process_code, severity, description, is_active";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDefectCode {
    pub defect_code: String,
    pub defect_name: String,
    pub process_code: Option<String>,
    pub severity: Severity,
    pub description: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/defect-codes", tag = "master-data", security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<Vec<DefectCodeView>>))))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Vec<DefectCodeView>> {
    let rows = sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM defect_codes ORDER BY defect_code"
    ))
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(rows))
}

#[utoipa::path(post, path = "/api/v1/defect-codes", tag = "master-data", request_body = CreateDefectCode,
    security(("bearer" = [])),
    responses((status = 201, body = inline(crate::error::Envelope<DefectCodeView>)),
              (status = 409, body = crate::error::ErrorEnvelope, description = "DEFECT_CODE_EXISTS")))]
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiJson(req): ApiJson<CreateDefectCode>,
) -> ApiResult<DefectCodeView> {
    if !crate::http::product_models::valid_code(&req.defect_code) {
        return Err(ApiError::validation(
            "defect_code must be 1-50 upper-case letters, digits, `_`, `.`, `-`",
        )
        .with_details(json!({ "field": "defect_code" })));
    }
    if req.defect_name.trim().is_empty() || req.defect_name.chars().count() > 100 {
        return Err(ApiError::validation("defect_name must be 1-100 characters")
            .with_details(json!({ "field": "defect_name" })));
    }
    if let Some(p) = &req.process_code
        && !crate::http::lines::valid_process_code(p)
    {
        return Err(ApiError::validation(
            "process_code must be 1-20 upper-case letters, digits or `_`",
        )
        .with_details(json!({ "field": "process_code" })));
    }
    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let row: Option<DefectCodeView> = sqlx::query_as(sql!(
        "INSERT INTO defect_codes (defect_code, defect_name, process_code, severity, description)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (defect_code) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(&req.defect_code)
    .bind(req.defect_name.trim())
    .bind(&req.process_code)
    .bind(req.severity.as_str())
    .bind(&req.description)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(|| {
        ApiError::conflict(
            "DEFECT_CODE_EXISTS",
            format!("defect code `{}` already exists", req.defect_code),
        )
    })?;
    tx.commit().await?;
    Ok(ApiResponse::created(row))
}
