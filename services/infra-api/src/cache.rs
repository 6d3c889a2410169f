//! Watch caches (kube-runtime reflectors) of Pods, Deployments, StatefulSets and Events in the
//! plant namespace. Handlers read only these stores; the watchers keep them current and re-list
//! with back-off after errors, 410 Gone or dropped connections. Pods are also kept as a
//! precomputed snapshot of rows ([`crate::pod_snapshot`]), rebuilt when their watch changes.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::pod_snapshot::{self, PodSnapshots};

const KINDS: usize = 4;

#[derive(Debug, Default)]
struct Health {
    synced: [AtomicBool; KINDS],
    /// False after a watch error until the next successful event.
    reachable: [AtomicBool; KINDS],
    /// The pod watch has completed a list; pods count as synced once a snapshot of it exists.
    pods_listed: AtomicBool,
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub pods: Store<Pod>,
    pub deployments: Store<Deployment>,
    pub statefulsets: Store<StatefulSet>,
    pub events: Store<Event>,
    /// Sorted pod rows, rebuilt on change (what `/api/infra/pods` serves).
    pub pod_rows: PodSnapshots,
    health: Arc<Health>,
}

impl Cache {
    /// Starts one reflector per kind; returns at once (see [`Cache::synced`]).
    pub fn start(client: kube::Client, namespace: &str) -> (Self, Vec<JoinHandle<()>>) {
        let health = Arc::new(Health::default());
        let (pods, w_pods) = reflector::store();
        let (deployments, w_deploy) = reflector::store();
        let (statefulsets, w_sts) = reflector::store();
        let (events, w_events) = reflector::store();
        let pods_changed = Arc::new(Notify::new());
        let (pod_rows, snapshot_task) = {
            let (listed, synced) = (health.clone(), health.clone());
            pod_snapshot::spawn(
                pods.clone(),
                namespace.to_owned(),
                pods_changed.clone(),
                move || listed.pods_listed.load(Ordering::Acquire),
                move || synced.synced[0].store(true, Ordering::Release),
            )
        };
        let tasks = vec![
            snapshot_task,
            spawn(
                Api::<Pod>::namespaced(client.clone(), namespace),
                w_pods,
                health.clone(),
                0,
                Some(pods_changed),
            ),
            spawn(
                Api::<Deployment>::namespaced(client.clone(), namespace),
                w_deploy,
                health.clone(),
                1,
                None,
            ),
            spawn(
                Api::<StatefulSet>::namespaced(client.clone(), namespace),
                w_sts,
                health.clone(),
                2,
                None,
            ),
            spawn(
                Api::<Event>::namespaced(client, namespace),
                w_events,
                health.clone(),
                3,
                None,
            ),
        ];
        (
            Self {
                pods,
                deployments,
                statefulsets,
                events,
                pod_rows,
                health,
            },
            tasks,
        )
    }

    /// Every cache has completed its first list.
    pub fn synced(&self) -> bool {
        self.health.synced.iter().all(|s| s.load(Ordering::Acquire))
    }

    /// No watch is failing right now.
    pub fn reachable(&self) -> bool {
        self.health
            .reachable
            .iter()
            .all(|s| s.load(Ordering::Acquire))
    }
}

fn spawn<K>(
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    health: Arc<Health>,
    index: usize,
    changed: Option<Arc<Notify>>,
) -> JoinHandle<()>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    tokio::spawn(async move {
        let kind = K::kind(&K::DynamicType::default()).into_owned();
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default()).default_backoff(),
        );
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    if !health.reachable[index].swap(true, Ordering::AcqRel) {
                        tracing::info!(kind, "watch is healthy");
                    }
                    let init_done = matches!(event, watcher::Event::InitDone);
                    match &changed {
                        // Synced once the derived snapshot has caught up with this list.
                        Some(changed) => {
                            if init_done {
                                health.pods_listed.store(true, Ordering::Release);
                            }
                            changed.notify_one();
                        }
                        None if init_done => health.synced[index].store(true, Ordering::Release),
                        None => {}
                    }
                }
                Err(e) => {
                    if health.reachable[index].swap(false, Ordering::AcqRel) {
                        tracing::warn!(kind, error = %e, "watch failed; retrying with back-off");
                    } else {
                        tracing::debug!(kind, error = %e, "watch still failing");
                    }
                }
            }
        }
    })
}
