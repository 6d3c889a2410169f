//! The runtime: kube-runtime `Controller`s for MesPlant (watching the objects it owns) and for
//! ProductionLine (watching plants, so a waiting line moves as soon as its plant is Ready),
//! scoped to all namespaces or a list of them.

use std::future::Future;
use std::sync::Arc;

use futures::Stream;
use futures::StreamExt;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::crd::{MesPlant, ProductionLine};
use crate::reconcile::{Context, line, plant};

/// Only objects the operator rendered are watched as children.
const CHILD_SELECTOR: &str = "app.kubernetes.io/managed-by=mes-operator";

/// Reconciles in flight per controller. Unbounded, a cold start with a thousand objects opens a
/// connection (and its buffers) per reconcile to the API server and to mes-api; a few dozen keep
/// both machines busy while memory stays flat.
const CONCURRENCY: u16 = 16;

/// Objects per list request. A restarted operator lists every kind at once, and pages of kube's
/// default 500 (a ProductionLine with its data schemas is several KiB of JSON) were decoded side
/// by side: 100 took the restart peak from about 62 to 43 MiB.
const PAGE_SIZE: u32 = 100;

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
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    let children = || watch_config().labels(CHILD_SELECTOR);
    let plants = scope.apis::<MesPlant>(&client);
    let lines = scope.apis::<ProductionLine>(&client);
    let deployments = scope.apis::<Deployment>(&client);
    let statefulsets = scope.apis::<StatefulSet>(&client);
    let services = scope.apis::<Service>(&client);
    let secrets = scope.apis::<Secret>(&client);
    let cronjobs = scope.apis::<CronJob>(&client);
    let mut runs = Vec::new();
    for (i, api) in plants.iter().enumerate() {
        let (objects, cache) = primary(api.clone());
        let controller = Controller::for_stream(objects, cache)
            .owns(deployments[i].clone(), children())
            .owns(statefulsets[i].clone(), children())
            .owns(services[i].clone(), children())
            .owns(secrets[i].clone(), children())
            .owns(cronjobs[i].clone(), children())
            .with_config(controller::Config::default().concurrency(CONCURRENCY))
            .graceful_shutdown_on(shutdown.clone())
            .run(plant::reconcile, plant::error_policy, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    warn!(error = %e, "controller");
                }
            });
        runs.push(futures::future::FutureExt::boxed(controller));
    }
    for (i, api) in lines.into_iter().enumerate() {
        let (objects, cache) = primary(api);
        let controller = Controller::for_stream(objects, cache);
        let known_lines = controller.store();
        let controller = controller
            .watches(plants[i].clone(), watch_config(), move |plant| {
                lines_of(&known_lines, &plant)
            })
            .with_config(controller::Config::default().concurrency(CONCURRENCY))
            .graceful_shutdown_on(shutdown.clone())
            .run(line::reconcile, line::error_policy, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    warn!(error = %e, "controller");
                }
            });
        runs.push(futures::future::FutureExt::boxed(controller));
    }
    info!(namespaces = ?scope.namespaces, "controllers started");
    join_all(runs).await;
    info!("controllers stopped");
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

/// The ProductionLines that reference `plant` (same namespace, `spec.plantRef`).
fn lines_of(lines: &Store<ProductionLine>, plant: &MesPlant) -> Vec<ObjectRef<ProductionLine>> {
    let ns = plant.namespace();
    let name = plant.name_any();
    lines
        .state()
        .iter()
        .filter(|l| l.namespace() == ns && l.spec.plant_ref == name)
        .map(|l| ObjectRef::from_obj(&**l))
        .collect()
}
