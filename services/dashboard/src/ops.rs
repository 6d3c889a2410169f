//! `/healthz` (the process is up) and `/readyz` (it can serve the UI: `index.html` is readable).
//!
//! Readiness does not depend on mes-api or infra-api: the UI loads without them and shows their
//! absence itself, and tying the dashboard's readiness to theirs would take the login page down
//! whenever a backend restarts.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(index): State<PathBuf>) -> (StatusCode, Json<Value>) {
    match tokio::fs::metadata(&index).await {
        Ok(meta) if meta.is_file() => (StatusCode::OK, Json(json!({ "ready": true }))),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "reason": "index.html of the web UI is missing" })),
        ),
    }
}
