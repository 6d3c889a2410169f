//! Production lines: `PUT /lines/{code}` upserts a whole definition (processes with their data
//! schemas, stations, product models) — the operator's sync target. A PUT that changes nothing
//! writes nothing, so the operator can re-sync freely.

use axum::extract::State;
use chrono::{DateTime, Utc};
use mes_core::{Route, RouteStep};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, ApiPath, RequestContext};
use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessDefinition {
    /// e.g. `EOL`.
    pub code: String,
    pub name: String,
    /// Position in the routing, 1..=n, contiguous.
    pub sequence: u32,
    pub standard_cycle_time_seconds: u32,
    /// JSON Schema for this process's `process_specific_data`.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub data_schema: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationDefinition {
    pub name: String,
    pub process_code: String,
    #[serde(default)]
    pub equipment_ids: Vec<String>,
}

/// The body of `PUT /lines/{code}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineDefinition {
    pub display_name: String,
    #[serde(default = "yes")]
    pub active: bool,
    pub processes: Vec<ProcessDefinition>,
    #[serde(default)]
    pub stations: Vec<StationDefinition>,
    /// Model codes this line builds; empty = any.
    #[serde(default)]
    pub product_models: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineView {
    pub line_code: String,
    pub display_name: String,
    pub active: bool,
    pub processes: Vec<ProcessDefinition>,
    pub stations: Vec<StationDefinition>,
    pub product_models: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

impl LineView {
    fn same_definition(&self, other: &LineView) -> bool {
        self.display_name == other.display_name
            && self.active == other.active
            && self.processes == other.processes
            && self.stations == other.stations
            && self.product_models == other.product_models
    }
}

pub fn valid_line_code(code: &str) -> bool {
    (1..=20).contains(&code.len())
        && code
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

pub fn valid_process_code(code: &str) -> bool {
    (1..=20).contains(&code.len())
        && code.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn field_error(field: String, message: impl Into<String>) -> ApiError {
    ApiError::validation(message).with_details(json!({ "field": field }))
}

/// Checks a definition and returns it normalised (processes by sequence, models sorted).
fn validate(code: &str, mut def: LineDefinition) -> Result<LineDefinition, ApiError> {
    if !valid_line_code(code) {
        return Err(ApiError::bad_request(
            "INVALID_LINE_CODE",
            "line code must be 1-20 upper-case letters, digits, `_` or `-`",
        ));
    }
    if def.display_name.trim().is_empty() || def.display_name.chars().count() > 100 {
        return Err(field_error(
            "display_name".into(),
            "display_name must be 1-100 characters",
        ));
    }
    for (i, p) in def.processes.iter().enumerate() {
        if !valid_process_code(&p.code) {
            return Err(field_error(
                format!("processes[{i}].code"),
                "process code must be 1-20 upper-case letters, digits or `_`",
            ));
        }
        if p.name.trim().is_empty() || p.name.chars().count() > 100 {
            return Err(field_error(
                format!("processes[{i}].name"),
                "process name must be 1-100 characters",
            ));
        }
        if p.standard_cycle_time_seconds == 0 || p.standard_cycle_time_seconds > 86_400 {
            return Err(field_error(
                format!("processes[{i}].standard_cycle_time_seconds"),
                "standard cycle time must be 1..=86400 seconds",
            ));
        }
        if let Some(schema) = &p.data_schema {
            if !schema.is_object() {
                return Err(ApiError::unprocessable(
                    "INVALID_DATA_SCHEMA",
                    format!("data_schema of {} must be a JSON object", p.code),
                )
                .with_details(
                    json!({ "field": format!("processes[{i}].data_schema"), "process": p.code }),
                ));
            }
            if let Err(e) = jsonschema::validator_for(schema) {
                return Err(ApiError::unprocessable(
                    "INVALID_DATA_SCHEMA",
                    format!("data_schema of {} is not a valid JSON Schema: {e}", p.code),
                )
                .with_details(
                    json!({ "field": format!("processes[{i}].data_schema"), "process": p.code }),
                ));
            }
        }
    }
    let route = Route::new(
        def.processes
            .iter()
            .map(|p| RouteStep::new(p.code.clone(), p.sequence))
            .collect(),
    )
    .map_err(|e| {
        ApiError::unprocessable("INVALID_ROUTE", e.to_string())
            .with_details(json!({ "reason": e.code() }))
    })?;
    for (i, s) in def.stations.iter().enumerate() {
        if s.name.trim().is_empty() || s.name.chars().count() > 50 {
            return Err(field_error(
                format!("stations[{i}].name"),
                "station name must be 1-50 characters",
            ));
        }
        if route.index_of(&s.process_code).is_none() {
            return Err(ApiError::unprocessable(
                "UNKNOWN_PROCESS",
                format!(
                    "station {} names process `{}`, which this line does not have",
                    s.name, s.process_code
                ),
            )
            .with_details(json!({ "field": format!("stations[{i}].process_code") })));
        }
    }
    let mut names: Vec<&str> = def.stations.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(field_error(
            "stations".into(),
            "station names must be unique",
        ));
    }
    def.processes.sort_by_key(|p| p.sequence);
    def.product_models.sort();
    def.product_models.dedup();
    Ok(def)
}

/// Loads a line's current definition (active processes only).
pub async fn load(db: &PgPool, code: &str) -> Result<Option<(i32, LineView)>, ApiError> {
    let line: Option<(i32, String, String, Value, bool, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, line_code, display_name, stations, is_active, updated_at FROM production_lines WHERE line_code = $1",
    )
    .bind(code)
    .fetch_optional(db)
    .await?;
    let Some((id, line_code, display_name, stations, active, updated_at)) = line else {
        return Ok(None);
    };
    let processes = sqlx::query_as::<_, (String, String, i32, i32, Option<Value>)>(
        "SELECT process_code, process_name, sequence_order, standard_cycle_time, data_schema
         FROM processes WHERE line_id = $1 AND is_active ORDER BY sequence_order",
    )
    .bind(id)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(
        |(code, name, sequence, cycle, data_schema)| ProcessDefinition {
            code,
            name,
            sequence: sequence as u32,
            standard_cycle_time_seconds: cycle as u32,
            data_schema,
        },
    )
    .collect();
    let product_models = sqlx::query_scalar(
        "SELECT pm.model_code FROM line_product_models lpm JOIN product_models pm ON pm.id = lpm.product_model_id
         WHERE lpm.line_id = $1 ORDER BY pm.model_code",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let stations = serde_json::from_value(stations).map_err(ApiError::internal)?;
    Ok(Some((
        id,
        LineView {
            line_code,
            display_name,
            active,
            processes,
            stations,
            product_models,
            updated_at,
        },
    )))
}

#[utoipa::path(get, path = "/api/v1/lines", tag = "lines", security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<Vec<LineView>>))))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Vec<LineView>> {
    let codes: Vec<String> =
        sqlx::query_scalar("SELECT line_code FROM production_lines ORDER BY line_code")
            .fetch_all(&state.db)
            .await?;
    let mut lines = Vec::with_capacity(codes.len());
    for code in codes {
        if let Some((_, view)) = load(&state.db, &code).await? {
            lines.push(view);
        }
    }
    Ok(ApiResponse::ok(lines))
}

#[utoipa::path(get, path = "/api/v1/lines/{line_code}", tag = "lines", params(("line_code" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<LineView>)), (status = 404, body = crate::error::ErrorEnvelope)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<LineView> {
    let (_, view) = load(&state.db, &code)
        .await?
        .ok_or_else(|| line_not_found(&code))?;
    Ok(ApiResponse::ok(view))
}

pub fn line_not_found(code: &str) -> ApiError {
    ApiError::not_found("LINE_NOT_FOUND", format!("no production line `{code}`"))
}

#[utoipa::path(put, path = "/api/v1/lines/{line_code}", tag = "lines", params(("line_code" = String, Path)),
    request_body = LineDefinition, security(("bearer" = [])),
    responses((status = 200, description = "updated (or unchanged: nothing written)", body = inline(crate::error::Envelope<LineView>)),
              (status = 201, description = "created", body = inline(crate::error::Envelope<LineView>)),
              (status = 422, body = crate::error::ErrorEnvelope, description = "INVALID_ROUTE, INVALID_DATA_SCHEMA, UNKNOWN_PROCESS, UNKNOWN_PRODUCT_MODEL")))]
pub async fn upsert(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiPath(code): ApiPath<String>,
    ApiJson(def): ApiJson<LineDefinition>,
) -> ApiResult<LineView> {
    let def = validate(&code, def)?;
    let current = load(&state.db, &code).await?;
    if let Some((_, view)) = &current {
        let wanted = LineView {
            line_code: code.clone(),
            display_name: def.display_name.clone(),
            active: def.active,
            processes: def.processes.clone(),
            stations: def.stations.clone(),
            product_models: def.product_models.clone(),
            updated_at: view.updated_at,
        };
        if view.same_definition(&wanted) {
            return Ok(ApiResponse::ok(wanted));
        }
    }

    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let model_ids: Vec<i32> =
        sqlx::query_scalar("SELECT id FROM product_models WHERE model_code = ANY($1)")
            .bind(&def.product_models)
            .fetch_all(&mut *tx)
            .await?;
    if model_ids.len() != def.product_models.len() {
        return Err(ApiError::unprocessable(
            "UNKNOWN_PRODUCT_MODEL",
            "product_models names a model that does not exist",
        )
        .with_details(json!({ "field": "product_models" })));
    }
    let stations = serde_json::to_value(&def.stations).map_err(ApiError::internal)?;
    let (line_id, created): (i32, bool) = sqlx::query_as(
        "INSERT INTO production_lines (line_code, display_name, stations, is_active) VALUES ($1, $2, $3, $4)
         ON CONFLICT (line_code) DO UPDATE SET display_name = EXCLUDED.display_name, stations = EXCLUDED.stations,
             is_active = EXCLUDED.is_active, updated_at = now()
         RETURNING id, (xmax = 0)",
    )
    .bind(&code)
    .bind(def.display_name.trim())
    .bind(stations)
    .bind(def.active)
    .fetch_one(&mut *tx)
    .await?;
    let codes: Vec<&str> = def.processes.iter().map(|p| p.code.as_str()).collect();
    sqlx::query(
        "UPDATE processes SET is_active = false, updated_at = now()
         WHERE line_id = $1 AND is_active AND NOT (process_code = ANY($2))",
    )
    .bind(line_id)
    .bind(&codes)
    .execute(&mut *tx)
    .await?;
    for p in &def.processes {
        sqlx::query(
            "INSERT INTO processes (line_id, process_code, process_name, sequence_order, standard_cycle_time, data_schema)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (line_id, process_code) DO UPDATE SET process_name = EXCLUDED.process_name,
                 sequence_order = EXCLUDED.sequence_order, standard_cycle_time = EXCLUDED.standard_cycle_time,
                 data_schema = EXCLUDED.data_schema, is_active = true, updated_at = now()
             WHERE (processes.process_name, processes.sequence_order, processes.standard_cycle_time,
                    processes.data_schema, processes.is_active)
                 IS DISTINCT FROM (EXCLUDED.process_name, EXCLUDED.sequence_order, EXCLUDED.standard_cycle_time,
                    EXCLUDED.data_schema, true)",
        )
        .bind(line_id)
        .bind(&p.code)
        .bind(p.name.trim())
        .bind(p.sequence as i32)
        .bind(p.standard_cycle_time_seconds as i32)
        .bind(&p.data_schema)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "DELETE FROM line_product_models WHERE line_id = $1 AND NOT (product_model_id = ANY($2))",
    )
    .bind(line_id)
    .bind(&model_ids)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO line_product_models (line_id, product_model_id) SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING",
    )
    .bind(line_id)
    .bind(&model_ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let (_, view) = load(&state.db, &code)
        .await?
        .ok_or_else(|| line_not_found(&code))?;
    Ok(if created {
        ApiResponse::created(view)
    } else {
        ApiResponse::ok(view)
    })
}

#[utoipa::path(delete, path = "/api/v1/lines/{line_code}", tag = "lines", params(("line_code" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, description = "deactivated", body = inline(crate::error::Envelope<LineView>)),
              (status = 404, body = crate::error::ErrorEnvelope)))]
pub async fn deactivate(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<LineView> {
    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let found: Option<i32> = sqlx::query_scalar(
        "UPDATE production_lines SET is_active = false, updated_at = now()
         WHERE line_code = $1 AND is_active RETURNING id",
    )
    .bind(&code)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let (_, view) = load(&state.db, &code)
        .await?
        .ok_or_else(|| line_not_found(&code))?;
    let _ = found; // already inactive: nothing written, same answer
    Ok(ApiResponse::ok(view))
}
