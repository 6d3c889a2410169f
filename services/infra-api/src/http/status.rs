//! `GET /api/infra/status`: per component, desired/ready replicas (Deployments, StatefulSets),
//! pods by phase and restarts in the last hour — all from the caches.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{Duration, Utc};
use mes_api::error::{ApiError, ApiResponse};
use serde::Serialize;

use crate::auth::User;
use crate::http::pods::{COMPONENT_LABEL, PodRow};
use crate::state::AppState;

#[derive(Debug, Default, Serialize)]
pub struct ComponentStatus {
    pub component: String,
    /// `Deployment/name` or `StatefulSet/name` of the workloads behind the component.
    pub workloads: Vec<String>,
    pub desired_replicas: i32,
    pub ready_replicas: i32,
    pub pods_by_phase: BTreeMap<String, usize>,
    pub restarts_total: i32,
    /// Containers whose latest restart happened in the last hour (a lower bound of restarts in
    /// that hour: Kubernetes keeps only the last termination per container).
    pub restarts_last_hour: usize,
    pub healthy: bool,
}

#[derive(Debug, Serialize)]
pub struct PlantStatus {
    pub namespace: String,
    pub components: Vec<ComponentStatus>,
}

fn component_of(labels: Option<&BTreeMap<String, String>>, fallback: &str) -> String {
    labels
        .and_then(|l| l.get(COMPONENT_LABEL))
        .cloned()
        .unwrap_or_else(|| fallback.to_owned())
}

pub async fn status(
    State(state): State<AppState>,
    user: User,
) -> Result<ApiResponse<PlantStatus>, ApiError> {
    user.require_read()?;
    let cluster = state.cluster()?;
    let cache = &cluster.cache;
    let now = Utc::now();
    let hour_ago = now - Duration::hours(1);
    let mut by: BTreeMap<String, ComponentStatus> = BTreeMap::new();
    for d in cache.deployments.state() {
        let name = d.metadata.name.clone().unwrap_or_default();
        let c = component_of(d.metadata.labels.as_ref(), &name);
        let e = by.entry(c.clone()).or_insert_with(|| ComponentStatus {
            component: c,
            ..Default::default()
        });
        e.workloads.push(format!("Deployment/{name}"));
        e.desired_replicas += d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        e.ready_replicas += d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
    }
    for s in cache.statefulsets.state() {
        let name = s.metadata.name.clone().unwrap_or_default();
        let c = component_of(s.metadata.labels.as_ref(), &name);
        let e = by.entry(c.clone()).or_insert_with(|| ComponentStatus {
            component: c,
            ..Default::default()
        });
        e.workloads.push(format!("StatefulSet/{name}"));
        e.desired_replicas += s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        e.ready_replicas += s
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
    }
    for p in cache.pods.state() {
        let Some(c) = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(COMPONENT_LABEL))
        else {
            continue;
        };
        let e = by.entry(c.clone()).or_insert_with(|| ComponentStatus {
            component: c.clone(),
            ..Default::default()
        });
        let row = PodRow::from_pod(&p, now);
        *e.pods_by_phase.entry(row.phase.clone()).or_default() += 1;
        e.restarts_total += row.restarts;
        e.restarts_last_hour += p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| {
                cs.iter()
                    .filter(|c| c.restart_count > 0)
                    .filter_map(|c| {
                        c.last_state
                            .as_ref()?
                            .terminated
                            .as_ref()?
                            .finished_at
                            .as_ref()
                    })
                    .filter_map(crate::time::from_time)
                    .filter(|t| *t >= hour_ago)
                    .count()
            })
            .unwrap_or(0);
    }
    let components = by
        .into_values()
        .map(|mut c| {
            c.workloads.sort();
            c.healthy = c.ready_replicas >= c.desired_replicas;
            c
        })
        .collect();
    Ok(ApiResponse::ok(PlantStatus {
        namespace: cluster.namespace.clone(),
        components,
    }))
}
