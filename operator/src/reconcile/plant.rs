//! The MesPlant reconciler, one readable pipeline:
//! validate → build the desired objects → server-side apply them → observe readiness → status.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::Request;
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Deserialize;
use serde_json::json;
use tracing::{info, instrument, warn};

use super::conditions::{Observed, merge, now_rfc3339};
use super::{Context, Error, measured, publish_event, requeue_after_failure};
use crate::builders::{self, Child, FIELD_MANAGER, GeneratedValues, Rendered};
use crate::crd::{DatabaseMode, MesPlant, MesPlantStatus, PlantPhase};
use crate::events::EventType;
use crate::line;

const KIND: &str = "MesPlant";
/// Re-check a converged plant now and then (drift in objects we do not watch, e.g. CNPG).
const RESYNC: Duration = Duration::from_secs(300);
/// While something is still coming up and we may not be told (CNPG Cluster status).
const PROVISIONING_RECHECK: Duration = Duration::from_secs(15);
/// A missing prerequisite (CloudNativePG not installed) is looked at again this often.
const PREREQUISITE_RECHECK: Duration = Duration::from_secs(60);

/// Entry point for the controller: runs the pipeline, measured (see [`measured`]), and on failure
/// reports the error in the plant's conditions and as a Warning event before backing off.
#[instrument(skip_all, fields(kind = KIND, namespace = plant.namespace().unwrap_or_default(), name = plant.name_any()))]
pub async fn reconcile(plant: Arc<MesPlant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let result = measured(KIND, &*plant, &ctx, reconcile_plant(&plant, &ctx)).await;
    if let Err(e) = &result
        && e.is_reported()
    {
        report_failure(&plant, &ctx, e).await;
    }
    result
}

/// Back-off per object and error class (see [`Context::backoff`]).
pub fn error_policy(plant: Arc<MesPlant>, error: &Error, ctx: Arc<Context>) -> Action {
    requeue_after_failure(KIND, &*plant, error, &ctx)
}

async fn reconcile_plant(plant: &MesPlant, ctx: &Context) -> Result<Action, Error> {
    if plant.meta().deletion_timestamp.is_some() {
        // Children carry owner references; the garbage collector removes them.
        return Ok(Action::await_change());
    }

    // 1. validate + build
    let rendered = match builders::render(plant, &GeneratedValues::random()) {
        Ok(r) => r,
        Err(e) => {
            let observed = [Observed::not_ok("Ready", "InvalidSpec", e.to_string())];
            publish_status(plant, ctx, PlantPhase::Degraded, &observed).await?;
            return Ok(Action::await_change());
        }
    };

    // 2. prerequisites
    let cnpg_missing = plant.spec.database.mode == DatabaseMode::CloudNativePG
        && !api_group_served(ctx, builders::CNPG_API_VERSION).await?;

    // 3. apply
    create_missing_secrets(plant, ctx, &rendered).await?;
    let mut applied = Vec::new();
    for child in &rendered.apply {
        if cnpg_missing && is_cnpg_object(child) {
            continue;
        }
        applied.push(apply(ctx, plant, child).await?);
    }

    // 4. observe + status
    let observed = observe(plant, &applied, cnpg_missing);
    let all_ready = observed.iter().all(|o| o.ok);
    let phase = if all_ready {
        PlantPhase::Ready
    } else if cnpg_missing {
        PlantPhase::Degraded
    } else {
        PlantPhase::Provisioning
    };
    let mut conditions = observed;
    conditions.push(if all_ready {
        Observed::ok("Ready", "AllComponentsReady", "every component is ready")
    } else {
        let waiting: Vec<&str> = conditions
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.type_)
            .collect();
        Observed::not_ok(
            "Ready",
            if cnpg_missing {
                "PrerequisiteMissing"
            } else {
                "Provisioning"
            },
            format!("waiting for {}", waiting.join(", ")),
        )
    });
    publish_status(plant, ctx, phase, &conditions).await?;

    Ok(Action::requeue(match phase {
        PlantPhase::Ready => RESYNC,
        PlantPhase::Degraded => PREREQUISITE_RECHECK,
        _ => PROVISIONING_RECHECK,
    }))
}

fn is_cnpg_object(child: &Child) -> bool {
    child.api_version == builders::CNPG_API_VERSION
        || child.api_version.starts_with("barmancloud.cnpg.io/")
}

/// Whether the API server serves `group/version` (i.e. the CRDs of an add-on are installed).
async fn api_group_served(ctx: &Context, api_version: &str) -> Result<bool, Error> {
    match ctx.client.list_api_group_resources(api_version).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Generated credentials are created once and never overwritten.
async fn create_missing_secrets(
    plant: &MesPlant,
    ctx: &Context,
    rendered: &Rendered,
) -> Result<(), Error> {
    let ns = plant.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    for child in &rendered.create_if_absent {
        if secrets.get_metadata_opt(&child.name).await?.is_some() {
            continue;
        }
        let secret: Secret = serde_json::from_value(child.body.clone())?;
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        match secrets.create(&pp, &secret).await {
            Ok(_) => {
                info!(secret = child.name, "generated secret");
                publish_event(
                    plant,
                    ctx,
                    EventType::Normal,
                    "SecretGenerated",
                    format!("generated Secret {}", child.name),
                )
                .await;
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Server-side apply with the operator's single field manager; returns what [`observe`] reads of
/// the stored object. The answer is decoded into [`Applied`] rather than a `DynamicObject`: a
/// reconcile applies a dozen objects, and their managed fields and pod templates as JSON trees
/// were megabytes at sixteen reconciles in flight.
async fn apply(ctx: &Context, plant: &MesPlant, child: &Child) -> Result<Applied, Error> {
    let ns = plant.namespace().unwrap_or_default();
    let (group, version) = child
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", child.api_version));
    let gvk = GroupVersionKind::gvk(group, version, child.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, child.plural);
    let mut request = Request::new(DynamicObject::url_path(&resource, Some(&ns)))
        .patch(
            &child.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&child.body),
        )
        .map_err(kube::Error::BuildRequest)?;
    // As kube's `Api::patch` does: names the request's tracing span.
    request.extensions_mut().insert("patch");
    let applied: Applied = ctx.client.request(request).await?;
    Ok(applied)
}

/// The parts of an applied object that tell whether it is ready.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Applied {
    kind: String,
    metadata: AppliedMeta,
    spec: AppliedSpec,
    status: AppliedStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AppliedMeta {
    name: String,
    generation: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AppliedSpec {
    /// Deployments and StatefulSets (absent: 1).
    replicas: Option<i64>,
    /// CloudNativePG Clusters.
    instances: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AppliedStatus {
    observed_generation: Option<i64>,
    ready_replicas: Option<i64>,
    updated_replicas: Option<i64>,
    ready_instances: Option<i64>,
}

impl Applied {
    fn desired_replicas(&self) -> i64 {
        self.spec.replicas.unwrap_or(1)
    }

    /// A Deployment or StatefulSet whose controller saw the current generation and has every
    /// desired replica ready.
    fn workload_ready(&self) -> bool {
        let desired = self.desired_replicas();
        self.status.observed_generation.unwrap_or(0) >= self.metadata.generation.unwrap_or(0)
            && self.status.ready_replicas.unwrap_or(0) >= desired
            && self.status.updated_replicas.unwrap_or(desired) >= desired
    }

    fn replica_summary(&self) -> String {
        format!(
            "{}/{} replicas ready",
            self.status.ready_replicas.unwrap_or(0),
            self.desired_replicas()
        )
    }

    fn cnpg_ready(&self) -> bool {
        let desired = self.spec.instances.unwrap_or(1).max(1);
        self.status.ready_instances.unwrap_or(0) >= desired
    }
}

/// Readiness of each component from the objects the apply returned (status included).
fn observe(plant: &MesPlant, applied: &[Applied], cnpg_missing: bool) -> Vec<Observed> {
    let names = builders::Names::of(plant);
    let find = |kind: &str, name: &str| {
        applied
            .iter()
            .find(|o| o.kind == kind && o.metadata.name == name)
    };
    let workload = |type_: &'static str, kind: &str, name: &str| match find(kind, name) {
        Some(o) if o.workload_ready() => {
            Observed::ok(type_, "Available", format!("{kind} {name} is ready"))
        }
        Some(o) => Observed::not_ok(
            type_,
            "Progressing",
            format!("{kind} {name}: {}", o.replica_summary()),
        ),
        None => Observed::not_ok(type_, "NotCreated", format!("{kind} {name} not created")),
    };
    let database = match plant.spec.database.mode {
        DatabaseMode::Embedded => workload("DatabaseReady", "StatefulSet", &names.db()),
        DatabaseMode::CloudNativePG if cnpg_missing => Observed::not_ok(
            "DatabaseReady",
            "CloudNativePGNotInstalled",
            "database.mode is CloudNativePG but the API server does not serve postgresql.cnpg.io/v1; install the CloudNativePG operator",
        ),
        DatabaseMode::CloudNativePG => match find("Cluster", &names.cnpg_cluster()) {
            Some(o) if o.cnpg_ready() => Observed::ok(
                "DatabaseReady",
                "ClusterHealthy",
                "CloudNativePG cluster is healthy",
            ),
            _ => Observed::not_ok(
                "DatabaseReady",
                "ClusterProvisioning",
                "waiting for the CloudNativePG cluster's instances",
            ),
        },
        DatabaseMode::External => Observed::ok(
            "DatabaseReady",
            "External",
            "using the DATABASE_URL of the referenced Secret",
        ),
    };
    let infra = if plant.spec.infra.enabled {
        workload("InfraReady", "Deployment", &names.infra())
    } else {
        Observed::ok("InfraReady", "Disabled", "infra-api is disabled")
    };
    vec![
        database,
        workload("BackendReady", "Deployment", &names.api()),
        workload("DashboardReady", "Deployment", &names.dashboard()),
        infra,
    ]
}

/// Writes the status only when it differs from the stored one (an idle reconcile writes nothing).
/// The controller's cache can lag behind our own last status write, so a difference is confirmed
/// against the API server before writing.
async fn publish_status(
    plant: &MesPlant,
    ctx: &Context,
    phase: PlantPhase,
    observed: &[Observed],
) -> Result<(), Error> {
    let lines = synced_lines(plant, ctx);
    let desired = |previous: &MesPlantStatus| MesPlantStatus {
        phase: Some(phase),
        observed_generation: plant.metadata.generation,
        conditions: merge(
            &previous.conditions,
            observed,
            plant.metadata.generation,
            &now_rfc3339(),
        ),
        endpoints: Some(builders::endpoints(plant)),
        lines: lines.clone().unwrap_or_else(|| previous.lines.clone()),
    };
    let cached = plant.status.clone().unwrap_or_default();
    if desired(&cached) == cached {
        return Ok(());
    }
    let ns = plant.namespace().unwrap_or_default();
    let api = Api::<MesPlant>::namespaced(ctx.client.clone(), &ns);
    let previous = api
        .get_status(&plant.name_any())
        .await?
        .status
        .unwrap_or_default();
    let status = desired(&previous);
    if status == previous {
        return Ok(());
    }
    if previous.phase != Some(phase) {
        let (type_, reason) = match phase {
            PlantPhase::Ready => (EventType::Normal, "PlantReady"),
            PlantPhase::Degraded => (EventType::Warning, "PlantDegraded"),
            _ => (EventType::Normal, "Provisioning"),
        };
        let note = observed
            .iter()
            .filter(|o| !o.ok)
            .map(|o| o.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let note = if note.is_empty() {
            format!("phase {phase:?}")
        } else {
            note
        };
        publish_event(plant, ctx, type_, reason, note).await;
    }
    api.patch_status(
        &plant.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

/// `status.lines` from the controllers' ProductionLine cache. `None` — keep what the status lists —
/// without a cache, and until its first full list: a restarted operator would otherwise write a
/// shorter list and then the full one again.
fn synced_lines(plant: &MesPlant, ctx: &Context) -> Option<Vec<String>> {
    let cache = ctx.line_cache()?;
    cache.wait_until_ready().now_or_never()?.ok()?;
    let lines = cache.state();
    Some(line::synced_codes(
        lines.iter().map(AsRef::as_ref),
        &plant.namespace().unwrap_or_default(),
        &plant.name_any(),
    ))
}

/// Best effort: the failure as a Warning event and in the `Ready` condition.
async fn report_failure(plant: &MesPlant, ctx: &Context, error: &Error) {
    publish_event(
        plant,
        ctx,
        EventType::Warning,
        error.class(),
        error.to_string(),
    )
    .await;
    let mut observed: Vec<Observed> = plant
        .status
        .as_ref()
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| c.type_ != "Ready")
                .filter_map(|c| {
                    let type_ = [
                        "DatabaseReady",
                        "BackendReady",
                        "DashboardReady",
                        "InfraReady",
                    ]
                    .into_iter()
                    .find(|t| *t == c.type_)?;
                    Some(Observed {
                        type_,
                        ok: c.status == "True",
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    observed.push(Observed::not_ok(
        "Ready",
        error.class(),
        format!("reconcile failed, retrying: {error}"),
    ));
    if let Err(e) = publish_status(plant, ctx, PlantPhase::Degraded, &observed).await {
        warn!(error = %e, "could not record the failure in status");
    }
}
