//! `/healthz` (process up), `/readyz` (cluster reachable and caches synced), `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// 200 only when a cluster is configured, reachable and every cache has synced. The service
/// keeps running either way (infra endpoints then answer 503 `CLUSTER_UNAVAILABLE`).
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (configured, synced, reachable) = match &state.cluster {
        None => (false, false, false),
        Some(c) => (true, c.cache.synced(), c.cache.reachable()),
    };
    let ready = configured && synced && reachable;
    let hubble = state.hubble.status();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": ready,
            "cluster": {
                "configured": configured,
                "reachable": reachable,
                "caches_synced": synced,
                "namespace": state.config.namespace,
            },
            // Informational: flows are optional, so Hubble never makes the service unready.
            "hubble": {"configured": hubble.configured, "reachable": hubble.reachable},
        })),
    )
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
