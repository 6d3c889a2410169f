//! `GET /api/infra/events?limit=`: namespace events from the cache, newest first.

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Event;
use mes_api::error::{ApiError, ApiResponse};
use serde::{Deserialize, Serialize};

use crate::auth::User;
use crate::state::AppState;
use crate::time::{from_micro, from_time};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Serialize)]
pub struct EventRow {
    pub name: String,
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// `Kind/name` of the object the event is about.
    pub object: String,
    pub count: i32,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub source: Option<String>,
}

fn last_seen(e: &Event) -> Option<DateTime<Utc>> {
    e.last_timestamp
        .as_ref()
        .and_then(from_time)
        .or_else(|| e.event_time.as_ref().and_then(from_micro))
        .or_else(|| e.first_timestamp.as_ref().and_then(from_time))
        .or_else(|| e.metadata.creation_timestamp.as_ref().and_then(from_time))
}

impl EventRow {
    fn from_event(e: &Event) -> Self {
        let o = &e.involved_object;
        Self {
            name: e.metadata.name.clone().unwrap_or_default(),
            type_: e.type_.clone(),
            reason: e.reason.clone(),
            message: e.message.clone(),
            object: format!(
                "{}/{}",
                o.kind.as_deref().unwrap_or(""),
                o.name.as_deref().unwrap_or("")
            ),
            count: e.count.unwrap_or(1),
            first_seen: e
                .first_timestamp
                .as_ref()
                .and_then(from_time)
                .or_else(|| e.event_time.as_ref().and_then(from_micro)),
            last_seen: last_seen(e),
            source: e
                .source
                .as_ref()
                .and_then(|s| s.component.clone())
                .or_else(|| e.reporting_component.clone()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct EventQuery {
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct EventList {
    pub total: usize,
    pub items: Vec<EventRow>,
}

pub async fn list(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<EventQuery>,
) -> Result<ApiResponse<EventList>, ApiError> {
    user.require_read()?;
    let cluster = state.cluster()?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut events = cluster.cache.events.state();
    let total = events.len();
    // Newest first; the name breaks ties so the order is stable.
    events.sort_by(|a, b| {
        last_seen(b)
            .cmp(&last_seen(a))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let items = events
        .iter()
        .take(limit)
        .map(|e| EventRow::from_event(e))
        .collect();
    Ok(ApiResponse::ok(EventList { total, items }))
}
