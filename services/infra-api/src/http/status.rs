//! `GET /api/infra/status`: per component, desired/ready replicas (Deployments, StatefulSets),
//! pods by phase and restarts in the last hour — all from the caches; the database's state
//! judged from its workload, and Hubble Relay's reachability as the client's probe last saw it
//! (no call to the relay per request).

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{Duration, Utc};
use mes_api::error::{ApiError, ApiResponse};
use serde::Serialize;

use crate::auth::User;
use crate::http::pods::{COMPONENT_LABEL, PodRow};
use crate::hubble::HubbleStatus;
use crate::state::AppState;

/// The component label value the operator gives the plant's PostgreSQL (embedded StatefulSet
/// and CloudNativePG `Cluster` alike).
pub const DATABASE_COMPONENT: &str = "database";
/// CloudNativePG labels its instance pods with their cluster (it runs no StatefulSet).
pub const CNPG_CLUSTER_LABEL: &str = "cnpg.io/cluster";

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
    pub database: DatabaseState,
    pub hubble: HubbleStatus,
}

/// The database as its workload shows it. infra-api has no database connection of its own;
/// mes-api's `/readyz` is the authority on "reachable with migrations applied".
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct DatabaseState {
    /// `ready`, `degraded` (some replicas ready), `down` (none ready) or `unknown` (no
    /// database workload in the namespace: an external database, or not deployed yet).
    pub state: &'static str,
    /// What the state was judged from: `StatefulSet/mes-db`, `CloudNativePG/mes-db`, or null.
    pub source: Option<String>,
    pub ready_replicas: i32,
    pub desired_replicas: i32,
}

/// Ready and total instance pods of CloudNativePG clusters in the namespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CnpgPods {
    pub cluster: String,
    pub ready: i32,
    pub total: i32,
}

fn judge(ready: i32, desired: i32) -> &'static str {
    match (ready, desired) {
        (_, d) if d <= 0 => "down",
        (r, d) if r >= d => "ready",
        (0, _) => "down",
        _ => "degraded",
    }
}

/// Pure: the `database` component's workloads first, else CloudNativePG's instance pods.
pub fn database_state(
    component: Option<&ComponentStatus>,
    cnpg: Option<&CnpgPods>,
) -> DatabaseState {
    if let Some(c) = component.filter(|c| !c.workloads.is_empty()) {
        return DatabaseState {
            state: judge(c.ready_replicas, c.desired_replicas),
            source: Some(c.workloads.join(",")),
            ready_replicas: c.ready_replicas,
            desired_replicas: c.desired_replicas,
        };
    }
    if let Some(p) = cnpg.filter(|p| p.total > 0) {
        return DatabaseState {
            state: judge(p.ready, p.total),
            source: Some(format!("CloudNativePG/{}", p.cluster)),
            ready_replicas: p.ready,
            desired_replicas: p.total,
        };
    }
    DatabaseState {
        state: "unknown",
        source: None,
        ready_replicas: 0,
        desired_replicas: 0,
    }
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
    let mut cnpg: Option<CnpgPods> = None;
    for p in cache.pods.state() {
        if let Some(cluster) = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CNPG_CLUSTER_LABEL))
        {
            let row = PodRow::from_pod(&p, now);
            let c = cnpg.get_or_insert_with(|| CnpgPods {
                cluster: cluster.clone(),
                ..CnpgPods::default()
            });
            c.total += 1;
            c.ready +=
                i32::from(row.phase == "Running" && row.ready_containers == row.total_containers);
        }
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
    let components: Vec<ComponentStatus> = by
        .into_values()
        .map(|mut c| {
            c.workloads.sort();
            c.healthy = c.ready_replicas >= c.desired_replicas;
            c
        })
        .collect();
    let database = database_state(
        components
            .iter()
            .find(|c| c.component == DATABASE_COMPONENT),
        cnpg.as_ref(),
    );
    Ok(ApiResponse::ok(PlantStatus {
        namespace: cluster.namespace.clone(),
        components,
        database,
        hubble: state.hubble.status(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(workloads: &[&str], ready: i32, desired: i32) -> ComponentStatus {
        ComponentStatus {
            component: DATABASE_COMPONENT.into(),
            workloads: workloads.iter().map(|w| w.to_string()).collect(),
            ready_replicas: ready,
            desired_replicas: desired,
            ..ComponentStatus::default()
        }
    }

    #[test]
    fn database_from_its_workload() {
        let d = database_state(Some(&component(&["StatefulSet/mes-db"], 1, 1)), None);
        assert_eq!(d.state, "ready");
        assert_eq!(d.source.as_deref(), Some("StatefulSet/mes-db"));
        assert_eq!(
            database_state(Some(&component(&["StatefulSet/mes-db"], 0, 1)), None).state,
            "down"
        );
        assert_eq!(
            database_state(Some(&component(&["StatefulSet/mes-db"], 1, 3)), None).state,
            "degraded"
        );
        assert_eq!(
            database_state(Some(&component(&["StatefulSet/mes-db"], 0, 0)), None).state,
            "down"
        );
    }

    #[test]
    fn database_from_cloudnativepg_pods_or_unknown() {
        let cnpg = CnpgPods {
            cluster: "mes-db".into(),
            ready: 2,
            total: 3,
        };
        // A component made only of pods (no workload) defers to the CloudNativePG pods.
        let d = database_state(Some(&component(&[], 0, 0)), Some(&cnpg));
        assert_eq!(d.state, "degraded");
        assert_eq!(d.source.as_deref(), Some("CloudNativePG/mes-db"));
        assert_eq!((d.ready_replicas, d.desired_replicas), (2, 3));
        let d = database_state(None, None);
        assert_eq!((d.state, d.source), ("unknown", None));
    }
}
