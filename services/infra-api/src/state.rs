//! What every handler shares.

use std::sync::Arc;

use axum::http::StatusCode;
use mes_api::auth::jwt::JwtKeys;
use mes_api::error::ApiError;
use tokio::task::JoinHandle;

use crate::cache::Cache;
use crate::config::Config;
use crate::hubble::Hubble;
use crate::metrics::Metrics;

/// A reachable (or at least configured) cluster: the client for logs and restarts, and the caches.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub cache: Cache,
    pub namespace: String,
    tasks: Arc<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    pub fn start(client: kube::Client, namespace: &str) -> Self {
        let (cache, tasks) = Cache::start(client.clone(), namespace);
        Self {
            client,
            cache,
            namespace: namespace.to_owned(),
            tasks: Arc::new(tasks),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub jwt: Arc<JwtKeys>,
    pub cluster: Option<Cluster>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    /// Hubble Relay (disabled unless [`AppState::with_hubble`] sets one).
    pub hubble: Hubble,
    /// Flips to true when shutdown begins, ending long-lived responses (log follow streams)
    /// so that graceful shutdown can finish draining.
    pub shutting_down: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(
        jwt: Arc<JwtKeys>,
        cluster: Option<Cluster>,
        metrics: Arc<Metrics>,
        config: Config,
    ) -> Self {
        Self {
            jwt,
            cluster,
            metrics,
            config: Arc::new(config),
            hubble: Hubble::disabled(),
            shutting_down: tokio::sync::watch::Sender::new(false),
        }
    }

    pub fn with_hubble(mut self, hubble: Hubble) -> Self {
        self.hubble = hubble;
        self
    }

    /// The cluster, when its caches are synced; otherwise 503 `CLUSTER_UNAVAILABLE`.
    pub fn cluster(&self) -> Result<&Cluster, ApiError> {
        match &self.cluster {
            None => Err(cluster_unavailable(
                "no Kubernetes cluster is configured (neither in-cluster nor kubeconfig)",
            )),
            Some(c) if !c.cache.synced() => Err(cluster_unavailable(
                "the Kubernetes API is not reachable or the caches are not synced yet",
            )),
            Some(c) => Ok(c),
        }
    }

    /// Resolves once shutdown has begun.
    pub fn shutdown_started(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutting_down.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    /// Stops the watchers and the Hubble probe (on shutdown).
    pub fn stop(&self) {
        self.hubble.stop();
        if let Some(c) = &self.cluster {
            for t in c.tasks.iter() {
                t.abort();
            }
        }
    }
}

pub fn cluster_unavailable(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "CLUSTER_UNAVAILABLE",
        message,
    )
}
