//! The routing of each line, with its process ids and compiled data schemas, cached in memory.
//!
//! Every event reads the line's `updated_at` together with the serial (no extra query); a
//! different value than the cached one reloads the definition, so a line change on any replica
//! takes effect on the next event.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use jsonschema::Validator;
use mes_core::{Route, RouteStep};
use serde_json::Value;
use sqlx::PgConnection;

use crate::error::ApiError;

#[derive(Debug)]
pub struct ProcessInfo {
    pub id: i32,
    pub code: String,
    pub name: String,
    pub standard_cycle_time: i32,
    pub schema: Option<Validator>,
}

#[derive(Debug)]
pub struct LineRouting {
    pub line_id: i32,
    pub line_code: String,
    pub version: DateTime<Utc>,
    pub route: Route,
    /// In route order: `processes[i]` is `route.steps()[i]`.
    pub processes: Vec<ProcessInfo>,
}

impl LineRouting {
    pub fn step_of(&self, process_code: &str) -> Option<usize> {
        self.route.index_of(process_code)
    }

    /// Index of the step with this 1-based sequence.
    pub fn step_at_sequence(&self, sequence: i32) -> Option<usize> {
        self.route
            .steps()
            .iter()
            .position(|s| s.sequence as i32 == sequence)
    }
}

#[derive(Debug, Default)]
pub struct RouteCache {
    lines: RwLock<HashMap<i32, Arc<LineRouting>>>,
}

impl RouteCache {
    /// Loads through the caller's connection: an event holds a row lock in its transaction, and
    /// must not wait for a second pooled connection while holding it.
    pub async fn get(
        &self,
        db: &mut PgConnection,
        line_id: i32,
        version: DateTime<Utc>,
    ) -> Result<Arc<LineRouting>, ApiError> {
        if let Some(hit) = self.read().get(&line_id)
            && hit.version == version
        {
            return Ok(hit.clone());
        }
        let loaded = Arc::new(load(db, line_id).await?);
        self.lines
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(line_id, loaded.clone());
        Ok(loaded)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<i32, Arc<LineRouting>>> {
        self.lines.read().unwrap_or_else(|e| e.into_inner())
    }
}

async fn load(db: &mut PgConnection, line_id: i32) -> Result<LineRouting, ApiError> {
    let (line_code, version): (String, DateTime<Utc>) =
        sqlx::query_as("SELECT line_code, updated_at FROM production_lines WHERE id = $1")
            .bind(line_id)
            .fetch_one(&mut *db)
            .await?;
    let rows: Vec<(i32, String, String, i32, i32, Option<Value>)> = sqlx::query_as(
        "SELECT id, process_code, process_name, sequence_order, standard_cycle_time, data_schema
         FROM processes WHERE line_id = $1 AND is_active ORDER BY sequence_order",
    )
    .bind(line_id)
    .fetch_all(&mut *db)
    .await?;
    let route = Route::new(
        rows.iter()
            .map(|(_, code, _, seq, _, _)| RouteStep::new(code.clone(), *seq as u32))
            .collect(),
    )
    .map_err(|e| {
        ApiError::internal(format!(
            "stored routing of line {line_code} is invalid: {e}"
        ))
    })?;
    let processes = rows
        .into_iter()
        .map(|(id, code, name, _, standard_cycle_time, schema)| {
            let schema = match schema {
                Some(s) => Some(jsonschema::validator_for(&s).map_err(|e| {
                    ApiError::internal(format!("stored schema of {code} is invalid: {e}"))
                })?),
                None => None,
            };
            Ok(ProcessInfo {
                id,
                code,
                name,
                standard_cycle_time,
                schema,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(LineRouting {
        line_id,
        line_code,
        version,
        route,
        processes,
    })
}
