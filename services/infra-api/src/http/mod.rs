//! The HTTP surface: ops endpoints and `/api/infra`.

pub mod events;
pub mod logs;
pub mod network;
pub mod ops;
pub mod pods;
pub mod restart;
pub mod status;

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/api/infra/pods", get(pods::list))
        .route("/api/infra/pods/{name}/logs", get(logs::logs))
        .route("/api/infra/status", get(status::status))
        .route("/api/infra/events", get(events::list))
        .route("/api/infra/network/flows", get(network::flows))
        .route("/api/infra/network/map", get(network::map))
        .route(
            "/api/infra/deployments/{name}/restart",
            post(restart::restart),
        )
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts and times every request by its route template (not the raw path).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let m = &state.metrics;
    m.http_duration
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    m.http_requests
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .inc();
    response
}
