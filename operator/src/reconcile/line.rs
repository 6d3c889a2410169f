//! The ProductionLine reconciler, one readable pipeline:
//! validate → find the plant (wait while it is missing or not Ready) → mint a token from the
//! plant's JWT key → `PUT` the definition into its mes-api → read the KPIs → status.
//! A finalizer deactivates the line in mes-api on delete, and lets go when the plant is gone.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, instrument, warn};

use super::conditions::{Observed, merge, now_rfc3339};
use super::{Context, Error, measured, publish_event, requeue_after_failure};
use crate::crd::{MesPlant, ProductionLine, ProductionLineStatus};
use crate::events::EventType;
use crate::mes_api::{self, LineKpis};
use crate::{builders, line};

const KIND: &str = "ProductionLine";
/// Held while mes-api may know the line; released once it is deactivated there, or when the
/// plant (and with it the line's mes-api) is gone.
pub const FINALIZER: &str = "mes.smartfactory.io/deactivate-line";
/// A line waiting for its plant is woken by the plant watch; this is only a safety net.
const PLANT_RECHECK: Duration = Duration::from_secs(60);

/// How far one pass got; turned into the status by [`desired_status`].
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Not synced: invalid spec, or the sync failed.
    NotSynced { reason: String, message: String },
    /// The plant is missing, going away or not Ready. A line already synced at this generation
    /// stays `Synced` (a plant's rolling update does not unsync its lines); `Ready` is false.
    WaitingForPlant { reason: String, message: String },
    /// The definition of this generation is in mes-api; the KPIs were read.
    Synced { target: String, kpis: LineKpis },
    /// The definition is in mes-api but its KPIs could not be read.
    SyncedWithoutKpis {
        target: String,
        reason: String,
        message: String,
    },
    /// Something failed before we could tell (e.g. the Kubernetes API); `Synced` stays as it was.
    Failed { reason: String, message: String },
}

impl Progress {
    fn not_synced(reason: &str, message: impl Into<String>) -> Self {
        Self::NotSynced {
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn waiting(reason: &str, message: String) -> Self {
        Self::WaitingForPlant {
            reason: reason.into(),
            message,
        }
    }
}

/// Entry point for the controller: the finalizer wrapper around [`sync`] and [`deactivate`],
/// measured (see [`measured`]), and on failure a Warning event before per-class back-off (the
/// `Ready` condition is written by the step that failed).
#[instrument(skip_all, fields(kind = KIND, namespace = line.namespace().unwrap_or_default(), name = line.name_any()))]
pub async fn reconcile(line: Arc<ProductionLine>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<ProductionLine> =
        Api::namespaced(ctx.client.clone(), &line.namespace().unwrap_or_default());
    let run = async {
        finalizer::finalizer(&api, FINALIZER, line.clone(), |event| async {
            match event {
                Finalizer::Apply(line) => sync(&line, &ctx).await,
                Finalizer::Cleanup(line) => deactivate(&line, &ctx).await,
            }
        })
        .await
        .map_err(|e| match e {
            finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
            // The helper's JSON patch tests the finalizers it read from the cache: 422 when
            // they changed since, 409 when the object did.
            finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => match e {
                kube::Error::Api(ref s) if s.code == 409 || s.code == 422 => Error::StaleCache(e),
                e => e.into(),
            },
            other => Error::Finalizer(other.to_string()),
        })
    };
    let result = measured(KIND, &*line, &ctx, run).await;
    if let Err(e) = &result
        && e.is_reported()
    {
        publish_event(&*line, &ctx, EventType::Warning, e.class(), e.to_string()).await;
    }
    result
}

/// Back-off per object and error class (see [`Context::backoff`]).
pub fn error_policy(line: Arc<ProductionLine>, error: &Error, ctx: Arc<Context>) -> Action {
    requeue_after_failure(KIND, &*line, error, &ctx)
}

async fn sync(line: &ProductionLine, ctx: &Context) -> Result<Action, Error> {
    // 1. validate
    if let Err(e) = line::validate(&line.spec) {
        publish_status(
            line,
            ctx,
            Progress::not_synced("InvalidSpec", e.to_string()),
        )
        .await?;
        return Ok(Action::await_change());
    }

    // 2. the plant: missing, going away or not Ready yet → wait (the plant watch wakes us)
    let plant = match find_plant(line, ctx).await {
        Ok(Ok(plant)) => plant,
        Ok(Err(waiting)) => {
            publish_status(line, ctx, waiting).await?;
            return Ok(Action::requeue(PLANT_RECHECK));
        }
        Err(e) => return fail(line, ctx, failed(&e), e).await,
    };

    // 3. where and as whom
    let (base, token) = match target(ctx, &plant).await {
        Ok(t) => t,
        Err(e) => return fail(line, ctx, not_synced(&e), e).await,
    };

    // 4. sync the definition (mes-api writes nothing when it is unchanged)
    let code = &line.spec.line_code;
    let definition = line::definition(&line.spec);
    if let Err(e) = ctx.mes_api.put_line(&base, &token, code, &definition).await {
        let e = Error::from(e);
        return fail(line, ctx, not_synced(&e), e).await;
    }

    // 5. KPIs → status
    match ctx.mes_api.line_kpis(&base, &token, code).await {
        Ok(kpis) => {
            publish_status(line, ctx, Progress::Synced { target: base, kpis }).await?;
            Ok(Action::requeue(ctx.lines.refresh))
        }
        Err(e) => {
            let e = Error::from(e);
            let progress = Progress::SyncedWithoutKpis {
                target: base,
                reason: e.class().into(),
                message: e.to_string(),
            };
            fail(line, ctx, progress, e).await
        }
    }
}

/// Records how far we got, then hands the error to the controller for back-off.
async fn fail(
    line: &ProductionLine,
    ctx: &Context,
    progress: Progress,
    error: Error,
) -> Result<Action, Error> {
    if let Err(e) = publish_status(line, ctx, progress).await {
        warn!(error = %e, "could not record the failure in status");
    }
    Err(error)
}

fn not_synced(e: &Error) -> Progress {
    Progress::not_synced(e.class(), e.to_string())
}

fn failed(e: &Error) -> Progress {
    Progress::Failed {
        reason: e.class().into(),
        message: e.to_string(),
    }
}

/// The line's plant when it is usable, else why the line waits.
async fn find_plant(
    line: &ProductionLine,
    ctx: &Context,
) -> Result<Result<MesPlant, Progress>, Error> {
    let ns = line.namespace().unwrap_or_default();
    let name = &line.spec.plant_ref;
    let plants: Api<MesPlant> = Api::namespaced(ctx.client.clone(), &ns);
    Ok(match plants.get_opt(name).await? {
        None => Err(Progress::waiting(
            "PlantNotFound",
            format!("MesPlant {name} does not exist in namespace {ns}; waiting for it"),
        )),
        Some(p) if p.meta().deletion_timestamp.is_some() => Err(Progress::waiting(
            "PlantDeleting",
            format!("MesPlant {name} is being deleted"),
        )),
        Some(p) if !plant_ready(&p) => Err(Progress::waiting(
            "PlantNotReady",
            format!("waiting for MesPlant {name} to become Ready"),
        )),
        Some(p) => Ok(p),
    })
}

/// What a line reads of its plant ([`find_plant`], [`target`]). A plant change that leaves it
/// alone — the plant's own `status.lines`, a component's replica count — concerns none of the
/// plant's lines, so the line controller's plant watch passes on only changes of this view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantView {
    deleting: bool,
    ready: bool,
    api: Option<String>,
    jwt_secret: String,
}

impl PlantView {
    pub fn of(plant: &MesPlant) -> Self {
        Self {
            deleting: plant.meta().deletion_timestamp.is_some(),
            ready: plant_ready(plant),
            api: plant
                .status
                .as_ref()
                .and_then(|s| s.endpoints.as_ref())
                .map(|e| e.api.clone()),
            jwt_secret: builders::jwt_secret_name(plant),
        }
    }
}

fn plant_ready(plant: &MesPlant) -> bool {
    plant.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// The plant's mes-api base URL and a fresh ADMIN token signed with the plant's JWT key.
async fn target(ctx: &Context, plant: &MesPlant) -> Result<(String, String), Error> {
    let ns = plant.namespace().unwrap_or_default();
    let name = builders::jwt_secret_name(plant);
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&name)
        .await?
        .ok_or_else(|| Error::JwtSecret(format!("{ns}/{name} not found")))?;
    let key = secret
        .data
        .as_ref()
        .and_then(|d| d.get("secret"))
        .ok_or_else(|| Error::JwtSecret(format!("{ns}/{name} has no key `secret`")))?;
    let token =
        mes_api::mint_admin_token(mes_api::signing_key(&key.0), chrono::Utc::now().timestamp())?;
    let base = ctx
        .lines
        .mes_api_url
        .clone()
        .or_else(|| {
            plant
                .status
                .as_ref()?
                .endpoints
                .as_ref()
                .map(|e| e.api.clone())
        })
        .unwrap_or_else(|| builders::endpoints(plant).api);
    Ok((base, token))
}

/// Finalizer clean-up: deactivate the line in mes-api. Nothing to do when it was never synced;
/// nobody left to tell when the plant is gone or going (its database goes with it).
async fn deactivate(line: &ProductionLine, ctx: &Context) -> Result<Action, Error> {
    let never_synced = line
        .status
        .as_ref()
        .and_then(|s| s.synced_generation)
        .is_none();
    if never_synced {
        return Ok(Action::await_change());
    }
    let ns = line.namespace().unwrap_or_default();
    let plant = match Api::<MesPlant>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&line.spec.plant_ref)
        .await?
    {
        // Present, even if not Ready: its mes-api may well answer, so try.
        Some(plant) if plant.meta().deletion_timestamp.is_none() => plant,
        _ => {
            let note = format!(
                "MesPlant {} is gone; line {} was not deactivated in mes-api",
                line.spec.plant_ref, line.spec.line_code
            );
            info!("{note}");
            publish_event(line, ctx, EventType::Normal, "PlantGone", note).await;
            return Ok(Action::await_change());
        }
    };
    let (base, token) = target(ctx, &plant).await?;
    ctx.mes_api
        .deactivate_line(&base, &token, &line.spec.line_code)
        .await?;
    publish_event(
        line,
        ctx,
        EventType::Normal,
        "LineDeactivated",
        format!("line {} deactivated in mes-api", line.spec.line_code),
    )
    .await;
    Ok(Action::await_change())
}

/// The status a pass leads to; KPIs and sync markers are kept from `previous` when this pass did
/// not produce new ones. Pure, so that "unchanged input → unchanged status" is testable.
pub fn desired_status(
    previous: &ProductionLineStatus,
    progress: &Progress,
    line: &ProductionLine,
    now: &str,
) -> ProductionLineStatus {
    let generation = line.metadata.generation;
    let synced = |target: &str| {
        Observed::ok(
            "Synced",
            "Synced",
            format!(
                "generation {} synced into {target}",
                generation.unwrap_or_default()
            ),
        )
    };
    let previous_synced = || {
        previous
            .conditions
            .iter()
            .find(|c| c.type_ == "Synced")
            .map(|c| Observed {
                type_: "Synced",
                ok: c.status == "True",
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
            .unwrap_or_else(|| Observed::not_ok("Synced", "Pending", "not synced yet"))
    };
    let synced_now =
        previous.synced_generation.is_some() && previous.synced_generation == generation;
    let observed = match progress {
        Progress::NotSynced { reason, message } => vec![
            Observed::not_ok("Synced", reason, message.clone()),
            Observed::not_ok("Ready", reason, message.clone()),
        ],
        Progress::WaitingForPlant { reason, message } => vec![
            if synced_now {
                previous_synced()
            } else {
                Observed::not_ok("Synced", reason, message.clone())
            },
            Observed::not_ok("Ready", reason, message.clone()),
        ],
        Progress::Synced { target, .. } => vec![
            synced(target),
            Observed::ok(
                "Ready",
                "KpisRefreshed",
                "synced; KPIs refreshed from mes-api",
            ),
        ],
        Progress::SyncedWithoutKpis {
            target,
            reason,
            message,
        } => vec![
            synced(target),
            Observed::not_ok("Ready", reason, message.clone()),
        ],
        Progress::Failed { reason, message } => vec![
            previous_synced(),
            Observed::not_ok(
                "Ready",
                reason,
                format!("reconcile failed, retrying: {message}"),
            ),
        ],
    };
    let is_synced = matches!(
        progress,
        Progress::Synced { .. } | Progress::SyncedWithoutKpis { .. }
    );
    let mut status = ProductionLineStatus {
        conditions: merge(&previous.conditions, &observed, generation, now),
        observed_generation: generation,
        process_count: if is_synced {
            i32::try_from(line.spec.processes.len()).ok()
        } else {
            previous.process_count
        },
        synced_generation: if is_synced {
            generation
        } else {
            previous.synced_generation
        },
        ..previous.clone()
    };
    if let Progress::Synced { kpis, .. } = progress {
        status.wip = Some(kpis.wip);
        status.completed_today = Some(kpis.completed_today);
        status.yield_percent = kpis.yield_percent;
        status.throughput_per_hour = Some(kpis.throughput_per_hour);
    }
    status
}

/// Writes the status only when it differs from the stored one (an idle reconcile writes nothing).
/// The controller's cache can lag behind our own last status write, so a difference is confirmed
/// against the API server before writing.
async fn publish_status(
    line: &ProductionLine,
    ctx: &Context,
    progress: Progress,
) -> Result<(), Error> {
    let now = now_rfc3339();
    let cached = line.status.clone().unwrap_or_default();
    if desired_status(&cached, &progress, line, &now) == cached {
        return Ok(());
    }
    let api: Api<ProductionLine> =
        Api::namespaced(ctx.client.clone(), &line.namespace().unwrap_or_default());
    let previous = api
        .get_status(&line.name_any())
        .await?
        .status
        .unwrap_or_default();
    let status = desired_status(&previous, &progress, line, &now);
    if status == previous {
        return Ok(());
    }
    if let Some((type_, reason, note)) = transition_event(&previous, &status, &progress) {
        publish_event(line, ctx, type_, reason, note).await;
    }
    api.patch_status(
        &line.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

/// An Event for the changes a person watching `kubectl describe` cares about: a generation
/// synced, or the line starting to wait for its plant. Failures get their Warning elsewhere.
fn transition_event(
    previous: &ProductionLineStatus,
    next: &ProductionLineStatus,
    progress: &Progress,
) -> Option<(EventType, &'static str, String)> {
    let reason_of = |s: &ProductionLineStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.reason.clone())
    };
    match progress {
        Progress::Synced { target, .. } | Progress::SyncedWithoutKpis { target, .. }
            if previous.synced_generation != next.synced_generation =>
        {
            Some((
                EventType::Normal,
                "Synced",
                format!(
                    "generation {} ({} processes) synced into {target}",
                    next.synced_generation.unwrap_or_default(),
                    next.process_count.unwrap_or_default()
                ),
            ))
        }
        Progress::WaitingForPlant { message, .. } if reason_of(previous) != reason_of(next) => {
            Some((EventType::Normal, "WaitingForPlant", message.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn line(generation: i64) -> ProductionLine {
        let mut l: ProductionLine = serde_json::from_value(json!({
            "apiVersion": "mes.smartfactory.io/v1alpha1", "kind": "ProductionLine",
            "metadata": {"name": "kr-l1", "namespace": "ns"},
            "spec": {"plantRef": "kr", "lineCode": "L1", "displayName": "Line 1", "processes": [
                {"code": "A", "name": "A", "sequence": 1, "standardCycleTimeSeconds": 60},
                {"code": "B", "name": "B", "sequence": 2, "standardCycleTimeSeconds": 60},
            ]},
        }))
        .unwrap();
        l.metadata.generation = Some(generation);
        l
    }

    fn kpis(wip: i64) -> LineKpis {
        LineKpis {
            wip,
            completed_today: 3,
            yield_percent: Some(87.5),
            throughput_per_hour: 1.5,
        }
    }

    fn condition(s: &ProductionLineStatus, type_: &str) -> (String, String) {
        let c = s.conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status.clone(), c.reason.clone())
    }

    fn synced(wip: i64) -> Progress {
        Progress::Synced {
            target: "http://api".into(),
            kpis: kpis(wip),
        }
    }

    #[test]
    fn synced_status_carries_kpis_and_is_stable_when_nothing_changed() {
        let l = line(2);
        let first = desired_status(&ProductionLineStatus::default(), &synced(4), &l, "t1");
        assert_eq!(
            condition(&first, "Synced"),
            ("True".into(), "Synced".into())
        );
        assert_eq!(
            condition(&first, "Ready"),
            ("True".into(), "KpisRefreshed".into())
        );
        assert_eq!(
            (
                first.synced_generation,
                first.process_count,
                first.wip,
                first.yield_percent
            ),
            (Some(2), Some(2), Some(4), Some(87.5))
        );
        // Same input later: identical status (no write), transition times kept.
        assert_eq!(desired_status(&first, &synced(4), &l, "t2"), first);
        // A changed KPI changes only that field.
        let next = desired_status(&first, &synced(5), &l, "t3");
        assert_eq!(next.wip, Some(5));
        assert_eq!(next.conditions, first.conditions);
    }

    #[test]
    fn waiting_and_failures_keep_what_was_synced() {
        let l = line(3);
        let synced_before =
            desired_status(&ProductionLineStatus::default(), &synced(1), &line(2), "t1");
        let waiting = desired_status(
            &synced_before,
            &Progress::waiting("PlantNotReady", "waiting".into()),
            &l,
            "t2",
        );
        assert_eq!(
            condition(&waiting, "Synced"),
            ("False".into(), "PlantNotReady".into()),
            "generation 3 is not in mes-api"
        );
        assert_eq!(
            waiting.synced_generation,
            Some(2),
            "last synced generation kept"
        );
        assert_eq!(waiting.wip, Some(1), "last KPIs kept");
        assert_eq!(waiting.observed_generation, Some(3));
        // Synced at this generation: a plant that is briefly not Ready does not unsync the line.
        let paused = desired_status(
            &synced_before,
            &Progress::waiting("PlantNotReady", "waiting".into()),
            &line(2),
            "t2",
        );
        assert_eq!(
            condition(&paused, "Synced"),
            ("True".into(), "Synced".into())
        );
        assert_eq!(
            condition(&paused, "Ready"),
            ("False".into(), "PlantNotReady".into())
        );

        let failed = desired_status(
            &synced_before,
            &Progress::Failed {
                reason: "ApiServerError".into(),
                message: "500".into(),
            },
            &line(2),
            "t3",
        );
        assert_eq!(
            condition(&failed, "Synced"),
            ("True".into(), "Synced".into())
        );
        assert_eq!(
            condition(&failed, "Ready"),
            ("False".into(), "ApiServerError".into())
        );

        let no_kpis = desired_status(
            &ProductionLineStatus::default(),
            &Progress::SyncedWithoutKpis {
                target: "http://api".into(),
                reason: "MesApiError".into(),
                message: "503".into(),
            },
            &l,
            "t4",
        );
        assert_eq!(condition(&no_kpis, "Synced").0, "True");
        assert_eq!(
            condition(&no_kpis, "Ready"),
            ("False".into(), "MesApiError".into())
        );
        assert_eq!(no_kpis.wip, None);
    }

    #[test]
    fn events_for_a_new_generation_and_for_starting_to_wait() {
        let l = line(1);
        let empty = ProductionLineStatus::default();
        let first = desired_status(&empty, &synced(0), &l, "t");
        assert!(matches!(
            transition_event(&empty, &first, &synced(0)),
            Some((EventType::Normal, "Synced", _))
        ));
        assert_eq!(transition_event(&first, &first, &synced(0)), None);
        let wait = Progress::waiting("PlantNotFound", "no plant".into());
        let waiting = desired_status(&empty, &wait, &l, "t");
        assert!(matches!(
            transition_event(&empty, &waiting, &wait),
            Some((EventType::Normal, "WaitingForPlant", _))
        ));
        assert_eq!(transition_event(&waiting, &waiting, &wait), None);
    }
}
