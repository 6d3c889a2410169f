//! `GET /api/infra/pods`: Headlamp-like pod rows from the pod cache, filtered and sorted by name.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use mes_api::error::{ApiError, ApiResponse};
use serde::{Deserialize, Serialize};

use crate::auth::User;
use crate::pod_snapshot::PodList;
use crate::state::AppState;
use crate::time::{from_time, seconds_since};

pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PodRow {
    pub name: String,
    pub component: Option<String>,
    pub phase: String,
    /// "ready/total" containers, as kubectl shows it.
    pub ready: String,
    pub ready_containers: usize,
    pub total_containers: usize,
    pub restarts: i32,
    pub last_restart_at: Option<DateTime<Utc>>,
    pub seconds_since_last_restart: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub age_seconds: Option<i64>,
    pub node: Option<String>,
    pub ip: Option<String>,
    pub last_termination_reason: Option<String>,
    /// Set while the pod is being deleted (kubectl's "Terminating").
    pub terminating: bool,
}

impl PodRow {
    pub fn from_pod(pod: &Pod, now: DateTime<Utc>) -> Self {
        let meta = &pod.metadata;
        let status = pod.status.as_ref();
        let statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        let total = pod
            .spec
            .as_ref()
            .map(|s| s.containers.len())
            .unwrap_or(statuses.len())
            .max(statuses.len());
        let ready = statuses.iter().filter(|c| c.ready).count();
        let restarts = statuses.iter().map(|c| c.restart_count).sum();
        // The latest termination across containers: from the previous instance (lastState), or
        // the current one when it has terminated and not been restarted yet.
        let mut last: Option<(DateTime<Utc>, Option<String>)> = None;
        let mut last_reason: Option<String> = None;
        for c in statuses {
            let terminated = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .or_else(|| c.state.as_ref().and_then(|s| s.terminated.as_ref()));
            let Some(t) = terminated else { continue };
            if last_reason.is_none() {
                last_reason = t.reason.clone();
            }
            if let Some(at) = t.finished_at.as_ref().and_then(from_time)
                && last.as_ref().is_none_or(|(prev, _)| at > *prev)
            {
                last = Some((at, t.reason.clone()));
            }
        }
        let last_restart_at = last.as_ref().filter(|_| restarts > 0).map(|(at, _)| *at);
        let created_at = meta.creation_timestamp.as_ref().and_then(from_time);
        Self {
            name: meta.name.clone().unwrap_or_default(),
            component: meta
                .labels
                .as_ref()
                .and_then(|l| l.get(COMPONENT_LABEL))
                .cloned(),
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into()),
            ready: format!("{ready}/{total}"),
            ready_containers: ready,
            total_containers: total,
            restarts,
            last_restart_at,
            seconds_since_last_restart: last_restart_at.map(|t| seconds_since(t, now)),
            created_at,
            age_seconds: created_at.map(|t| seconds_since(t, now)),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            ip: status.and_then(|s| s.pod_ip.clone()),
            last_termination_reason: last.and_then(|(_, r)| r).or(last_reason),
            terminating: meta.deletion_timestamp.is_some(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PodFilter {
    pub component: Option<String>,
    pub phase: Option<String>,
}

/// Rows from the precomputed snapshot ([`crate::pod_snapshot`]): no per-request row building,
/// and the unfiltered answer is sent as the bytes serialized when the snapshot was taken.
pub async fn list(
    State(state): State<AppState>,
    user: User,
    Query(filter): Query<PodFilter>,
) -> Result<Response, ApiError> {
    user.require_read()?;
    let cluster = state.cluster()?;
    let snapshot = cluster.cache.pod_rows.current();
    let component = filter.component.as_deref().filter(|c| !c.is_empty());
    let phase = filter.phase.as_deref().filter(|p| !p.is_empty());
    if component.is_none() && phase.is_none() {
        return Ok(envelope(snapshot.all_json.clone()));
    }
    let items: Vec<&PodRow> = snapshot
        .rows
        .iter()
        .filter(|r| phase.is_none_or(|want| r.phase.eq_ignore_ascii_case(want)))
        .filter(|r| component.is_none_or(|want| r.component.as_deref() == Some(want)))
        .collect();
    Ok(ApiResponse::ok(PodList {
        namespace: &cluster.namespace,
        total: items.len(),
        snapshot_at: snapshot.taken_at,
        items: &items,
    })
    .into_response())
}

/// The success envelope around already serialized `data`, without copying it.
fn envelope(data: Bytes) -> Response {
    let timestamp = serde_json::to_string(&Utc::now()).unwrap_or_else(|_| "null".into());
    let head = Bytes::from_static(b"{\"success\":true,\"data\":");
    let tail = Bytes::from(format!(",\"timestamp\":{timestamp}}}"));
    let len = head.len() + data.len() + tail.len();
    let chunks = [head, data, tail].map(Ok::<_, Infallible>);
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(futures::stream::iter(chunks)),
    )
        .into_response()
}
