//! `GET /api/infra/pods/{name}/logs?container=&tail=&previous=&timestamps=&follow=&format=`
//!
//! The pod must be in the cache (404 otherwise). Without `follow`, the log comes back as
//! `text/plain`, or as JSON lines in the success envelope with `format=json`. With `follow=true`
//! it is streamed as Server-Sent Events (`data:` per line, back-pressure from the connection);
//! the upstream log request is dropped as soon as the client goes away.

use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{AsyncBufReadExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use mes_api::error::{ApiError, ApiResponse};
use prometheus::IntGauge;
use serde::{Deserialize, Serialize};

use crate::auth::User;
use crate::state::AppState;

pub const MAX_TAIL: i64 = 10_000;

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    pub container: Option<String>,
    pub tail: Option<i64>,
    #[serde(default)]
    pub previous: bool,
    #[serde(default)]
    pub timestamps: bool,
    #[serde(default)]
    pub follow: bool,
    /// `text` (default) or `json`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LogLines {
    pub pod: String,
    pub container: Option<String>,
    pub lines: Vec<String>,
}

/// Keeps the open-streams gauge honest: dropped with the response stream.
struct StreamGuard(IntGauge);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub async fn logs(
    State(state): State<AppState>,
    user: User,
    Path(name): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    user.require_read()?;
    let cluster = state.cluster()?;
    let pod = cluster
        .cache
        .pods
        .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
        .ok_or_else(|| ApiError::not_found("POD_NOT_FOUND", format!("no pod {name}")))?;
    let containers: Vec<&str> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    if let Some(c) = &q.container
        && !containers.contains(&c.as_str())
    {
        return Err(ApiError::bad_request(
            "CONTAINER_NOT_FOUND",
            format!(
                "pod {name} has no container {c}; containers: {}",
                containers.join(", ")
            ),
        ));
    }
    // Like kubectl: a single-container pod needs no container name; several need one, and the
    // first is a sensible default for a dashboard.
    let container = q
        .container
        .clone()
        .or_else(|| containers.first().map(|c| (*c).to_owned()));
    let json = match q.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "format must be `text` or `json`, not `{other}`"
            )));
        }
    };
    if q.tail.is_some_and(|t| !(0..=MAX_TAIL).contains(&t)) {
        return Err(ApiError::validation(format!(
            "tail must be between 0 and {MAX_TAIL}"
        )));
    }
    let params = LogParams {
        container: container.clone(),
        tail_lines: q.tail,
        previous: q.previous,
        timestamps: q.timestamps,
        follow: q.follow && !q.previous,
        ..LogParams::default()
    };
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    if params.follow {
        let reader = api.log_stream(&name, &params).await.map_err(kube_error)?;
        let gauge = state.metrics.log_streams.clone();
        gauge.inc();
        let guard = StreamGuard(gauge);
        let stream = reader
            .lines()
            .take_until(state.shutdown_started())
            .map(move |line| {
                let _keep = &guard;
                Ok::<_, Infallible>(match line {
                    Ok(line) => Event::default().data(line),
                    Err(e) => Event::default().event("error").data(e.to_string()),
                })
            });
        return Ok(Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let text = api.logs(&name, &params).await.map_err(kube_error)?;
    if json {
        let lines = text.lines().map(str::to_owned).collect();
        return Ok(ApiResponse::ok(LogLines {
            pod: name,
            container,
            lines,
        })
        .into_response());
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response())
}

/// Kubernetes API failures of a log or write request, without leaking internals.
pub fn kube_error(e: kube::Error) -> ApiError {
    match e {
        kube::Error::Api(s) if s.code == 404 => {
            ApiError::not_found("NOT_FOUND", "the Kubernetes object was not found")
        }
        kube::Error::Api(s) if s.code == 400 => {
            ApiError::bad_request("KUBE_BAD_REQUEST", s.message)
        }
        kube::Error::Api(s) if s.code == 403 => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "KUBE_FORBIDDEN",
            "infra-api's service account is not allowed to do this (check its Role)",
        )
        .with_details(serde_json::json!({"kubernetes": s.message})),
        kube::Error::Api(s) => {
            tracing::warn!(code = s.code, message = %s.message, "Kubernetes API error");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "KUBE_API_ERROR",
                "the Kubernetes API refused the request",
            )
        }
        other => {
            tracing::warn!(error = %other, "Kubernetes API unreachable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "CLUSTER_UNAVAILABLE",
                "the Kubernetes API is not reachable",
            )
        }
    }
}
