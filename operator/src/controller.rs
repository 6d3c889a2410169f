//! The runtime: kube-runtime `Controller`s for MesPlant (watching the objects it owns and its
//! ProductionLines) and for ProductionLine (watching plants, so a waiting line moves as soon as its
//! plant is Ready), scoped to all namespaces or a list of them. Both controllers share one
//! ProductionLine watch and cache.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::channel::mpsc;
use futures::future::{BoxFuture, FutureExt, join_all};
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::crd::{MesPlant, ProductionLine};
use crate::reconcile::line::{self as line_reconciler, PlantView};
use crate::reconcile::{Context, plant};

/// Only objects the operator rendered are watched as children.
const CHILD_SELECTOR: &str = "app.kubernetes.io/managed-by=mes-operator";

/// Reconciles in flight per controller. Unbounded, a cold start with a thousand objects opens a
/// connection (and its buffers) per reconcile to the API server and to mes-api; a few dozen keep
/// both machines busy while memory stays flat.
const CONCURRENCY: u16 = 16;

/// Objects per list request. A restarted operator lists every kind at once, and each page is read
/// whole before it is decoded (a ProductionLine with its data schemas is several KiB of JSON):
/// kube's default of 500 peaked at about 62 MiB after a restart, 100 at 41, 50 at 36.
const PAGE_SIZE: u32 = 50;

/// `kubectl apply`'s copy of the whole object; no reconciler reads it.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Which namespaces the operator reconciles.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
}

impl Scope {
    fn apis<K>(&self, client: &Client) -> Vec<Api<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        if self.namespaces.is_empty() {
            vec![Api::all(client.clone())]
        } else {
            self.namespaces
                .iter()
                .map(|ns| Api::namespaced(client.clone(), ns))
                .collect()
        }
    }
}

/// Runs the MesPlant and ProductionLine controllers until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Scope,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let shutdown = Box::pin(shutdown).shared();
    let children = || watch_config().labels(CHILD_SELECTOR);
    let plants = scope.apis::<MesPlant>(&client);
    let lines = scope.apis::<ProductionLine>(&client);
    let deployments = scope.apis::<Deployment>(&client);
    let statefulsets = scope.apis::<StatefulSet>(&client);
    let services = scope.apis::<Service>(&client);
    let secrets = scope.apis::<Secret>(&client);
    let cronjobs = scope.apis::<CronJob>(&client);
    let mut runs: Vec<BoxFuture<'static, ()>> = Vec::new();
    for (i, (plant_api, line_api)) in plants.into_iter().zip(lines).enumerate() {
        let (objects, plant_cache) = primary(plant_api.clone());
        let (line_objects, line_cache, wake_plants) = primary_lines(line_api, plant_cache.clone());
        // The plant reconciler reads the plant's lines from the line cache (`status.lines`).
        let ctx = Arc::new(Context::clone(&ctx).with_line_cache(line_cache.clone()));
        // A plant's own status writes (phase, `status.lines`) need no reconcile of it: only a new
        // generation does; children, lines and requeues wake it otherwise.
        let objects = objects.predicate_filter(predicates::generation, PredicateConfig::default());
        let plant_controller = Controller::for_stream(objects, plant_cache)
            .owns(deployments[i].clone(), children())
            .owns(statefulsets[i].clone(), children())
            .owns(services[i].clone(), children())
            .owns(secrets[i].clone(), children())
            .owns(cronjobs[i].clone(), children())
            .reconcile_on(wake_plants)
            .with_config(controller::Config::default().concurrency(CONCURRENCY))
            .graceful_shutdown_on(shutdown.clone())
            .run(plant::reconcile, plant::error_policy, ctx.clone())
            .for_each(log_failure);
        let known_lines = line_cache.clone();
        let line_controller = Controller::for_stream(line_objects, line_cache)
            .watches_stream(plant_changes(plant_api), move |plant| {
                lines_of(&known_lines, &plant_key(&plant))
            })
            .with_config(controller::Config::default().concurrency(CONCURRENCY))
            .graceful_shutdown_on(shutdown.clone())
            .run(
                line_reconciler::reconcile,
                line_reconciler::error_policy,
                ctx,
            )
            .for_each(log_failure);
        runs.extend([plant_controller.boxed(), line_controller.boxed()]);
    }
    info!(namespaces = ?scope.namespaces, "controllers started");
    join_all(runs).await;
    info!("controllers stopped");
}

async fn log_failure<T, E: std::fmt::Display>(result: Result<T, E>) {
    if let Err(e) = result {
        warn!(error = %e, "controller");
    }
}

fn watch_config() -> watcher::Config {
    watcher::Config::default().page_size(PAGE_SIZE)
}

/// Drops what no reconciler reads from a cached object: `managedFields` (a ProductionLine's
/// mirror its whole spec, data schemas included — half of the operator's memory at a thousand
/// lines) and `kubectl apply`'s copy of the object.
fn slim<K: Resource>(object: &mut K) {
    object.managed_fields_mut().clear();
    object.annotations_mut().remove(LAST_APPLIED);
}

/// A controller's primary resource as `Controller::new` would watch and cache it, minus what
/// [`slim`] drops.
fn primary<K>(
    api: Api<K>,
) -> (
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    Store<K>,
)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (cache, writer) = reflector::store();
    let objects = watcher(api, watch_config().any_semantic())
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .applied_objects();
    (objects, cache)
}

/// The single ProductionLine watch, for both controllers: the line controller's primary stream
/// and cache (which the plant reconciler reads), and — computed from the same events — the plants
/// to wake ([`PlantWakeups`]). One copy of each line in memory, one list at start-up.
fn primary_lines(
    api: Api<ProductionLine>,
    plant_cache: Store<MesPlant>,
) -> (
    impl Stream<Item = Result<ProductionLine, watcher::Error>> + Send + 'static,
    Store<ProductionLine>,
    impl Stream<Item = ObjectRef<MesPlant>> + Send + 'static,
) {
    let (objects, line_cache) = primary(api);
    // Unbounded: a wake-up is a few bytes per line update, consumed by the plant controller.
    let (wake, woken) = mpsc::unbounded();
    let mut wakeups = PlantWakeups::default();
    let known = line_cache.clone();
    let objects = objects.inspect_ok(move |line| {
        for plant in wakeups.wake(line, |plant, code| lists(&plant_cache, plant, code)) {
            // Fails only once the plant controller has stopped.
            let _ = wake.unbounded_send(plant);
        }
        wakeups.forget_missing(&known);
    });
    (objects, line_cache, woken)
}

/// Whether the cached status of `plant` lists line `code`.
fn lists(plants: &Store<MesPlant>, plant: &ObjectRef<MesPlant>, code: &str) -> bool {
    plants
        .get(plant)
        .and_then(|p| p.status.as_ref().map(|s| s.lines.iter().any(|l| l == code)))
        .unwrap_or(false)
}

/// What a plant's `status.lines` takes from one ProductionLine.
#[derive(Debug, Clone, PartialEq)]
struct Listing {
    plant: String,
    /// The line code while the line counts as synced into the plant.
    code: Option<String>,
}

/// Which plants a ProductionLine update concerns: those whose `status.lines` (as cached) disagrees
/// with the line — its plant, and its former plant or code after a move. A plant reconcile applies
/// every child, so a line created unsynced, a restart's initial list of synced lines and the KPI
/// refreshes that rewrite a line's status every minute wake no plant.
#[derive(Debug, Default)]
struct PlantWakeups {
    seen: HashMap<ObjectRef<ProductionLine>, Listing>,
}

impl PlantWakeups {
    /// `lists(plant, code)`: whether the plant's status lists `code` now.
    fn wake(
        &mut self,
        line: &ProductionLine,
        lists: impl Fn(&ObjectRef<MesPlant>, &str) -> bool,
    ) -> Vec<ObjectRef<MesPlant>> {
        let ns = line.namespace().unwrap_or_default();
        let now = Listing {
            plant: line.spec.plant_ref.clone(),
            code: crate::line::is_synced(line).then(|| line.spec.line_code.clone()),
        };
        let key = ObjectRef::new(&line.name_any()).within(&ns);
        let before = self.seen.insert(key, now.clone());
        if before.as_ref() == Some(&now) {
            return Vec::new();
        }
        let plant = |name: &str| ObjectRef::new(name).within(&ns);
        let mut plants = Vec::new();
        let current = plant(&now.plant);
        if lists(&current, &line.spec.line_code) != now.code.is_some() {
            plants.push(current);
        }
        // Listed before under another plant or code: that entry may have to go.
        if let Some(Listing {
            plant: name,
            code: Some(code),
        }) = before
        {
            let former = plant(&name);
            if lists(&former, &code) && !plants.contains(&former) {
                plants.push(former);
            }
        }
        plants
    }

    /// Deletions are not applied objects: forget lines the cache no longer has, now and then.
    fn forget_missing(&mut self, cache: &Store<ProductionLine>) {
        if self.seen.len() > 2 * cache.len() + 64 {
            self.seen.retain(|line, _| cache.get(line).is_some());
        }
    }
}

/// The line controller's plant watch. It passes on a plant only when what its lines read of it
/// ([`PlantView`]) changed, or when it is deleted: without this, every write of a plant's own
/// status (`status.lines` grows as its lines sync) re-synced all of the plant's lines.
fn plant_changes(
    api: Api<MesPlant>,
) -> impl Stream<Item = Result<MesPlant, watcher::Error>> + Send + 'static {
    let mut views = PlantViews::default();
    watcher(api, watch_config())
        .default_backoff()
        .try_filter_map(move |event| futures::future::ready(Ok(views.changed(event))))
}

/// The last [`PlantView`] passed on per plant.
#[derive(Debug, Default)]
struct PlantViews {
    seen: HashMap<ObjectRef<MesPlant>, PlantView>,
}

impl PlantViews {
    fn changed(&mut self, event: watcher::Event<MesPlant>) -> Option<MesPlant> {
        match event {
            watcher::Event::Apply(plant) | watcher::Event::InitApply(plant) => {
                let view = PlantView::of(&plant);
                let before = self.seen.insert(plant_key(&plant), view.clone());
                (before != Some(view)).then_some(plant)
            }
            watcher::Event::Delete(plant) => {
                self.seen.remove(&plant_key(&plant));
                Some(plant)
            }
            watcher::Event::Init | watcher::Event::InitDone => None,
        }
    }
}

fn plant_key(plant: &MesPlant) -> ObjectRef<MesPlant> {
    ObjectRef::new(&plant.name_any()).within(&plant.namespace().unwrap_or_default())
}

/// The ProductionLines that reference `plant` (same namespace, `spec.plantRef`).
fn lines_of(
    lines: &Store<ProductionLine>,
    plant: &ObjectRef<MesPlant>,
) -> Vec<ObjectRef<ProductionLine>> {
    lines
        .state()
        .iter()
        .filter(|l| l.namespace() == plant.namespace && l.spec.plant_ref == plant.name)
        .map(|l| ObjectRef::from_obj(&**l))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn line(name: &str, plant: &str, synced: bool, wip: i64) -> ProductionLine {
        serde_json::from_value(json!({
            "apiVersion": "mes.smartfactory.io/v1alpha1", "kind": "ProductionLine",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"plantRef": plant, "lineCode": "L1", "displayName": "Line 1", "processes": []},
            "status": {"wip": wip, "conditions": [{"type": "Synced", "status": if synced { "True" } else { "False" },
                "reason": "r", "lastTransitionTime": "t"}]},
        }))
        .unwrap()
    }

    fn names(plants: Vec<ObjectRef<MesPlant>>) -> Vec<String> {
        plants
            .into_iter()
            .map(|p| format!("{}/{}", p.namespace.unwrap(), p.name))
            .collect()
    }

    /// The plants' cached `status.lines`: (plant, code) pairs.
    fn listed(pairs: &[(&str, &str)]) -> impl Fn(&ObjectRef<MesPlant>, &str) -> bool {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        move |plant, code| pairs.iter().any(|(p, c)| *p == plant.name && c == code)
    }

    #[test]
    fn plants_wake_only_when_their_list_disagrees_with_a_line() {
        let mut wakeups = PlantWakeups::default();
        // Created unsynced, not listed: nothing to do.
        assert!(
            wakeups
                .wake(&line("l1", "kr", false, 0), listed(&[]))
                .is_empty()
        );
        // Synced, not listed yet: the plant recomputes.
        assert_eq!(
            names(wakeups.wake(&line("l1", "kr", true, 0), listed(&[]))),
            ["ns/kr"]
        );
        // A KPI refresh changes nothing the plant shows.
        assert!(
            wakeups
                .wake(&line("l1", "kr", true, 5), listed(&[("kr", "L1")]))
                .is_empty()
        );
        // Moved to another plant: the new one lists it, the old one must drop it.
        assert_eq!(
            names(wakeups.wake(&line("l1", "us", true, 5), listed(&[("kr", "L1")]))),
            ["ns/us", "ns/kr"]
        );
        // Being deleted: no longer listed.
        let mut deleting = line("l1", "us", true, 5);
        deleting.metadata.deletion_timestamp =
            serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(
            names(wakeups.wake(&deleting, listed(&[("us", "L1")]))),
            ["ns/us"]
        );
        // After a restart: a synced line its plant already lists wakes nothing.
        let mut restarted = PlantWakeups::default();
        assert!(
            restarted
                .wake(&line("l1", "kr", true, 5), listed(&[("kr", "L1")]))
                .is_empty()
        );
    }

    #[test]
    fn forgets_lines_the_cache_no_longer_has() {
        let (cache, mut writer) = reflector::store::<ProductionLine>();
        let kept = line("kept", "kr", true, 0);
        writer.apply_watcher_event(&watcher::Event::Apply(kept.clone()));
        let mut wakeups = PlantWakeups::default();
        wakeups.wake(&kept, listed(&[]));
        for n in 0..100 {
            wakeups.wake(&line(&format!("gone-{n}"), "kr", true, 0), listed(&[]));
        }
        wakeups.forget_missing(&cache);
        assert_eq!(wakeups.seen.len(), 1);
        assert!(wakeups.wake(&kept, listed(&[])).is_empty(), "still known");
    }

    fn plant(ready: bool, lines: &[&str]) -> MesPlant {
        serde_json::from_value(json!({
            "apiVersion": "mes.smartfactory.io/v1alpha1", "kind": "MesPlant",
            "metadata": {"name": "kr", "namespace": "ns"},
            "spec": {"plantCode": "KR"},
            "status": {"lines": lines, "endpoints": {"api": "http://api", "dashboard": "http://d"},
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                "reason": "r", "lastTransitionTime": "t"}]},
        }))
        .unwrap()
    }

    #[test]
    fn lines_hear_of_a_plant_only_when_what_they_read_changes() {
        use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};
        let mut views = PlantViews::default();
        assert!(views.changed(Init).is_none());
        assert!(
            views.changed(InitApply(plant(false, &[]))).is_some(),
            "first sight"
        );
        assert!(views.changed(InitDone).is_none());
        assert!(views.changed(Apply(plant(false, &[]))).is_none());
        assert!(
            views.changed(Apply(plant(true, &[]))).is_some(),
            "became Ready"
        );
        // The plant's own status.lines growing as its lines sync concerns none of them.
        assert!(views.changed(Apply(plant(true, &["L1"]))).is_none());
        assert!(views.changed(Apply(plant(true, &["L1", "L2"]))).is_none());
        let mut deleting = plant(true, &["L1", "L2"]);
        deleting.metadata.deletion_timestamp =
            serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap();
        assert!(views.changed(Apply(deleting.clone())).is_some());
        assert!(
            views.changed(Delete(deleting)).is_some(),
            "deletions always"
        );
        assert!(views.seen.is_empty());
    }
}
