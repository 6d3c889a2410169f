//! `GET /api/infra/network/flows` (list, or a live SSE stream with `follow=true`) and
//! `GET /api/infra/network/map` — from Hubble Relay, scoped to the plant namespace.
//! Neither needs the Kubernetes API: they work while the cluster side is down, and the rest of
//! the service works while Hubble is down (503 `HUBBLE_UNAVAILABLE` here only).

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt as _;
use mes_api::error::{ApiError, ApiResponse};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::User;
use crate::hubble::HubbleError;
use crate::hubble::map::{ServiceMap, aggregate};
use crate::hubble::observe::{self, Item, LiveMetrics};
use crate::hubble::query::{self, FlowParams, FlowQuery, parse_limit, parse_since};
use crate::hubble::row::FlowRow;
use crate::state::AppState;

/// Default window and flow budget of the service map.
pub const MAP_DEFAULT_SINCE: &str = "5m";
pub const MAP_DEFAULT_LIMIT: u64 = 5_000;
pub const MAP_MAX_LIMIT: u64 = 20_000;
/// Seconds a client should wait before asking again after a 503.
const RETRY_AFTER: u64 = 5;

pub fn hubble_error(e: HubbleError) -> ApiError {
    match e {
        HubbleError::NotConfigured | HubbleError::Unreachable { .. } => {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "HUBBLE_UNAVAILABLE",
                "Hubble Relay is not installed, not configured or not reachable; network flows are unavailable",
            )
            .with_details(serde_json::json!({ "reason": e.to_string() }));
            err.retry_after = Some(RETRY_AFTER);
            err
        }
        HubbleError::TooManyStreams { limit } => {
            let mut err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_STREAMS",
                "too many live flow streams are open; close one or try again later",
            )
            .with_details(serde_json::json!({ "limit": limit }));
            err.retry_after = Some(RETRY_AFTER);
            err
        }
        HubbleError::Refused(s) => {
            tracing::warn!(code = ?s.code(), message = s.message(), "Hubble Relay refused a request");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "HUBBLE_ERROR",
                "Hubble Relay refused the request",
            )
            .with_details(serde_json::json!({
                "grpc_code": format!("{:?}", s.code()),
                "message": s.message(),
            }))
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FlowList {
    pub namespace: String,
    pub total: usize,
    /// Events Hubble reported lost while answering (its ring buffers overflowed).
    pub lost_events: u64,
    /// Newest first.
    pub items: Vec<FlowRow>,
}

pub async fn flows(
    State(state): State<AppState>,
    user: User,
    Query(params): Query<FlowParams>,
) -> Result<Response, ApiError> {
    user.require_read()?;
    let q = FlowQuery::parse(&params, Utc::now()).map_err(|e| ApiError::validation(e.0))?;
    let namespace = state.config.namespace.clone();
    let req = query::request(&q, &namespace);
    if q.follow {
        let metrics = LiveMetrics {
            open: state.metrics.flow_streams.clone(),
            dropped: state.metrics.flow_streams_dropped.clone(),
        };
        let live = observe::follow(&state.hubble, req, metrics).map_err(hubble_error)?;
        return Ok(sse(live, state.shutdown_started()).into_response());
    }
    let mut batch = observe::collect(&state.hubble, req)
        .await
        .map_err(hubble_error)?;
    // The relay sends oldest first; a table wants the newest on top.
    batch.rows.sort_by_key(|r| std::cmp::Reverse(r.time));
    Ok(ApiResponse::ok(FlowList {
        namespace,
        total: batch.rows.len(),
        lost_events: batch.lost_events,
        items: batch.rows,
    })
    .into_response())
}

/// One `data:` event per flow (JSON), `event: lost` when Hubble lost events, and a final
/// `event: end` saying why the stream ended (`slow_client`, `hubble_unavailable`,
/// `relay_closed`).
fn sse(
    live: observe::Live,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let items = ReceiverStream::new(live.items).map(|item| match item {
        Item::Flow(row) => Event::default()
            .json_data(&row)
            .unwrap_or_else(|_| Event::default().event("error").data("unserializable flow")),
        Item::Lost(n) => Event::default()
            .event("lost")
            .data(serde_json::json!({ "lost_events": n }).to_string()),
    });
    let end = futures::stream::once(live.end).filter_map(|end| async move {
        let end = end.ok()?;
        let detail = match &end {
            observe::StreamEnd::Unavailable(reason) => Some(reason.clone()),
            _ => None,
        };
        Some(
            Event::default()
                .event("end")
                .data(serde_json::json!({ "reason": end.reason(), "detail": detail }).to_string()),
        )
    });
    Sse::new(items.chain(end).take_until(shutdown).map(Ok)).keep_alive(KeepAlive::default())
}

#[derive(Debug, Default, Deserialize)]
pub struct MapParams {
    /// RFC 3339 time or a duration back from now (default 5m).
    pub since: Option<String>,
    pub limit: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MapAnswer {
    pub namespace: String,
    pub since: DateTime<Utc>,
    /// Flows read from the relay for this map.
    pub flows_read: usize,
    /// True when the relay had more flows in the window than `limit` (the map covers the
    /// first `limit` of them).
    pub truncated: bool,
    pub lost_events: u64,
    #[serde(flatten)]
    pub map: ServiceMap,
}

pub async fn map(
    State(state): State<AppState>,
    user: User,
    Query(params): Query<MapParams>,
) -> Result<ApiResponse<MapAnswer>, ApiError> {
    user.require_read()?;
    let now = Utc::now();
    let since = parse_since(
        params
            .since
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(MAP_DEFAULT_SINCE),
        now,
    )
    .map_err(|e| ApiError::validation(e.0))?;
    if since > now + Duration::minutes(1) {
        return Err(ApiError::validation("since lies in the future"));
    }
    let limit = parse_limit(params.limit.as_deref(), MAP_MAX_LIMIT)
        .map_err(|e| ApiError::validation(e.0))?
        .unwrap_or(MAP_DEFAULT_LIMIT);
    let namespace = state.config.namespace.clone();
    let req = query::request(&FlowQuery::scope(since, limit), &namespace);
    let batch = observe::collect(&state.hubble, req)
        .await
        .map_err(hubble_error)?;
    let map = aggregate(&batch.rows, &namespace);
    Ok(ApiResponse::ok(MapAnswer {
        namespace,
        since,
        flows_read: batch.rows.len(),
        truncated: batch.rows.len() as u64 >= limit,
        lost_events: batch.lost_events,
        map,
    }))
}
