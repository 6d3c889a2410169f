//! The runtime: kube-runtime `Controller`s for MesPlant, watching the objects they own, scoped to
//! all namespaces or a list of them.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::runtime::controller::Controller;
use kube::runtime::watcher;
use kube::{Api, Client};
use tracing::{info, warn};

use crate::crd::MesPlant;
use crate::metrics::Metrics;
use crate::reconcile::{Context, plant};

/// Only objects the operator rendered are watched as children.
const CHILD_SELECTOR: &str = "app.kubernetes.io/managed-by=mes-operator";

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

/// Runs the MesPlant controller(s) until `shutdown` resolves.
pub async fn run(
    client: Client,
    scope: Scope,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ctx = Arc::new(Context::new(client.clone(), metrics));
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    let children = || watcher::Config::default().labels(CHILD_SELECTOR);
    let plants = scope.apis::<MesPlant>(&client);
    let deployments = scope.apis::<Deployment>(&client);
    let statefulsets = scope.apis::<StatefulSet>(&client);
    let services = scope.apis::<Service>(&client);
    let secrets = scope.apis::<Secret>(&client);
    let cronjobs = scope.apis::<CronJob>(&client);
    let mut runs = Vec::new();
    for (i, api) in plants.into_iter().enumerate() {
        let controller = Controller::new(api, watcher::Config::default().any_semantic())
            .owns(deployments[i].clone(), children())
            .owns(statefulsets[i].clone(), children())
            .owns(services[i].clone(), children())
            .owns(secrets[i].clone(), children())
            .owns(cronjobs[i].clone(), children())
            .graceful_shutdown_on(shutdown.clone())
            .run(plant::reconcile, plant::error_policy, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    warn!(error = %e, "controller");
                }
            });
        runs.push(controller);
    }
    info!(namespaces = ?scope.namespaces, "controllers started");
    join_all(runs).await;
    info!("controllers stopped");
}
