//! `POST /api/infra/deployments/{name}/restart` — what `kubectl rollout restart` does: patch
//! `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` with the current
//! time (RFC 3339), so the Deployment rolls its pods. ADMIN only; audited twice: a structured
//! log line (target `audit`) and a Kubernetes Event on the Deployment naming the user.

use axum::extract::{Path, State};
use chrono::{SecondsFormat, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use mes_api::error::{ApiError, ApiResponse};
use serde::Serialize;
use serde_json::json;

use crate::auth::User;
use crate::http::logs::kube_error;
use crate::state::AppState;
use crate::time::{now_micro, now_time};

pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
pub const FIELD_MANAGER: &str = "infra-api";

#[derive(Debug, Serialize)]
pub struct Restarted {
    pub deployment: String,
    pub namespace: String,
    pub restarted_at: String,
    pub requested_by: String,
}

pub async fn restart(
    State(state): State<AppState>,
    user: User,
    Path(name): Path<String>,
) -> Result<ApiResponse<Restarted>, ApiError> {
    user.require_admin()?;
    let cluster = state.cluster()?;
    let ns = cluster.namespace.clone();
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}});
    let patched = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => {
                ApiError::not_found("DEPLOYMENT_NOT_FOUND", format!("no deployment {name}"))
            }
            other => kube_error(other),
        })?;
    state.metrics.restarts.inc();
    tracing::info!(
        target: "audit",
        action = "deployment.restart",
        user = %user.name,
        user_id = user.user_id,
        role = user.role.as_str(),
        namespace = %ns,
        deployment = %name,
        restarted_at = %at,
        "rollout restart requested"
    );
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}.")),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: patched.metadata.uid.clone(),
            resource_version: patched.metadata.resource_version.clone(),
            ..ObjectReference::default()
        },
        reason: Some("RolloutRestart".into()),
        message: Some(format!(
            "rollout restart requested by {} ({}) via infra-api",
            user.name,
            user.role.as_str()
        )),
        type_: Some("Normal".into()),
        count: Some(1),
        first_timestamp: Some(now_time()),
        last_timestamp: Some(now_time()),
        event_time: Some(now_micro()),
        action: Some("Restart".into()),
        reporting_component: Some(FIELD_MANAGER.into()),
        reporting_instance: Some(FIELD_MANAGER.into()),
        source: Some(EventSource {
            component: Some(FIELD_MANAGER.into()),
            host: None,
        }),
        ..Event::default()
    };
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &ns);
    if let Err(e) = events.create(&PostParams::default(), &event).await {
        // The restart happened and the audit log line is written; the Event is a convenience.
        tracing::warn!(error = %e, deployment = %name, "could not record the restart as an Event");
    }
    Ok(ApiResponse::ok(Restarted {
        deployment: name,
        namespace: ns,
        restarted_at: at,
        requested_by: user.name,
    }))
}
