//! Product models (master data).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, ApiPath, RequestContext};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ProductModelView {
    pub id: i32,
    pub model_code: String,
    pub model_name: String,
    #[schema(value_type = Object)]
    pub specification: Option<Value>,
    pub target_cycle_time: Option<i32>,
    #[schema(value_type = Object)]
    pub bom: Option<Value>,
    pub is_active: bool,
}

const COLUMNS: &str =
    "id, model_code, model_name, specification, target_cycle_time, bom, is_active";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductModel {
    pub model_code: String,
    pub model_name: String,
    #[schema(value_type = Object)]
    pub specification: Option<serde_json::Map<String, Value>>,
    /// Seconds per unit.
    pub target_cycle_time: Option<i32>,
    #[schema(value_type = Object)]
    pub bom: Option<Value>,
}

pub fn valid_code(code: &str) -> bool {
    (1..=50).contains(&code.len())
        && code
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_.-".contains(c))
}

#[utoipa::path(get, path = "/api/v1/product-models", tag = "master-data", security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<Vec<ProductModelView>>))))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Vec<ProductModelView>> {
    let rows = sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM product_models ORDER BY model_code"
    ))
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(rows))
}

#[utoipa::path(get, path = "/api/v1/product-models/{model_code}", tag = "master-data",
    params(("model_code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<ProductModelView>)), (status = 404, body = crate::error::ErrorEnvelope)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<ProductModelView> {
    let row = sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM product_models WHERE model_code = $1"
    ))
    .bind(&code)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| {
        ApiError::not_found(
            "PRODUCT_MODEL_NOT_FOUND",
            format!("no product model `{code}`"),
        )
    })?;
    Ok(ApiResponse::ok(row))
}

#[utoipa::path(post, path = "/api/v1/product-models", tag = "master-data", request_body = CreateProductModel,
    security(("bearer" = [])),
    responses((status = 201, body = inline(crate::error::Envelope<ProductModelView>)),
              (status = 409, body = crate::error::ErrorEnvelope, description = "PRODUCT_MODEL_EXISTS")))]
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiJson(req): ApiJson<CreateProductModel>,
) -> ApiResult<ProductModelView> {
    if !valid_code(&req.model_code) {
        return Err(ApiError::validation(
            "model_code must be 1-50 upper-case letters, digits, `_`, `.`, `-`",
        )
        .with_details(json!({ "field": "model_code" })));
    }
    if req.model_name.trim().is_empty() || req.model_name.chars().count() > 100 {
        return Err(ApiError::validation("model_name must be 1-100 characters")
            .with_details(json!({ "field": "model_name" })));
    }
    if req.target_cycle_time.is_some_and(|t| t <= 0) {
        return Err(ApiError::validation("target_cycle_time must be positive")
            .with_details(json!({ "field": "target_cycle_time" })));
    }
    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let row: Option<ProductModelView> = sqlx::query_as(sql!(
        "INSERT INTO product_models (model_code, model_name, specification, target_cycle_time, bom)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (model_code) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(&req.model_code)
    .bind(req.model_name.trim())
    .bind(req.specification.map(Value::Object))
    .bind(req.target_cycle_time)
    .bind(req.bom)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(|| {
        ApiError::conflict(
            "PRODUCT_MODEL_EXISTS",
            format!("product model `{}` already exists", req.model_code),
        )
    })?;
    tx.commit().await?;
    Ok(ApiResponse::created(row))
}
