//! Reconcilers and what they share: the context, the error type and the back-off policy.

pub mod conditions;
pub mod line;
pub mod plant;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;
use kube::Resource;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use tracing::warn;

use crate::crd::ProductionLine;
use crate::events::{EventPublisher, EventType, Occurrence};
use crate::mes_api::{MesApiClient, MesApiError};
use crate::metrics::Metrics;

/// How ProductionLines reach their plant's mes-api.
#[derive(Debug, Clone)]
pub struct LineSettings {
    /// Base URL used for every plant instead of the plant's Service (the operator running outside
    /// the cluster, tests, benchmarks); `None`: the plant's `status.endpoints.api`.
    pub mes_api_url: Option<String>,
    /// How often a synced line re-syncs and refreshes its KPIs.
    pub refresh: Duration,
}

impl Default for LineSettings {
    fn default() -> Self {
        Self {
            mes_api_url: None,
            refresh: Duration::from_secs(60),
        }
    }
}

/// State shared by every reconcile.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub events: Arc<EventPublisher>,
    pub metrics: Arc<Metrics>,
    pub mes_api: MesApiClient,
    pub lines: LineSettings,
    /// Consecutive failures per object, for exponential back-off.
    failures: Arc<Mutex<HashMap<String, u32>>>,
    /// The controllers' ProductionLine cache, read for `MesPlant.status.lines`; `None` for a
    /// reconcile outside the controllers, which keeps the lines the status lists.
    line_cache: Option<Store<ProductionLine>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    /// A context with default [`LineSettings`].
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Self {
        Self::with_lines(client, metrics, LineSettings::default())
    }

    pub fn with_lines(client: Client, metrics: Arc<Metrics>, lines: LineSettings) -> Self {
        let events = EventPublisher::new(
            client.clone(),
            crate::builders::FIELD_MANAGER,
            std::env::var("POD_NAME").ok(),
        );
        Self {
            events: Arc::new(events),
            client,
            metrics,
            mes_api: MesApiClient::new(),
            lines,
            failures: Arc::default(),
            line_cache: None,
        }
    }

    /// This context with the ProductionLine cache of a controller run.
    pub fn with_line_cache(mut self, cache: Store<ProductionLine>) -> Self {
        self.line_cache = Some(cache);
        self
    }

    pub fn line_cache(&self) -> Option<&Store<ProductionLine>> {
        self.line_cache.as_ref()
    }

    /// Records one more failure of `key` and returns the delay before the next attempt:
    /// 1 s, 2 s, 4 s … capped at 5 minutes; conflicts retry after 1 s.
    pub fn backoff(&self, key: &str, error: &Error) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        if error.is_conflict() {
            return Duration::from_secs(1);
        }
        Duration::from_secs(1u64 << (*n - 1).min(8)).min(Duration::from_secs(300))
    }

    pub fn reset_backoff(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// One reconcile of `object` with what every kind shares: it is counted and timed per kind, a
/// failure is counted per kind and class and logged, and a success resets the object's back-off.
/// Reporting a failure on the object itself is the caller's.
pub(crate) async fn measured<K: Resource<DynamicType = ()>>(
    kind: &'static str,
    object: &K,
    ctx: &Context,
    reconcile: impl Future<Output = Result<Action, Error>>,
) -> Result<Action, Error> {
    let started = Instant::now();
    ctx.metrics.reconciles.with_label_values(&[kind]).inc();
    let result = reconcile.await;
    ctx.metrics
        .duration
        .with_label_values(&[kind])
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => ctx.reset_backoff(&backoff_key(kind, object)),
        Err(e) => {
            ctx.metrics
                .errors
                .with_label_values(&[kind, e.class()])
                .inc();
            warn!(error = %e, "reconcile failed");
        }
    }
    result
}

/// The controllers' error policy: retry after the object's back-off for this error.
pub(crate) fn requeue_after_failure<K: Resource<DynamicType = ()>>(
    kind: &'static str,
    object: &K,
    error: &Error,
    ctx: &Context,
) -> Action {
    Action::requeue(ctx.backoff(&backoff_key(kind, object), error))
}

fn backoff_key<K: Resource<DynamicType = ()>>(kind: &str, object: &K) -> String {
    let meta = object.meta();
    format!(
        "{kind}/{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// Best effort: an Event about `object` from its reconcile. Failing to publish is logged and
/// never fails the reconcile.
pub(crate) async fn publish_event<K: Resource<DynamicType = ()>>(
    object: &K,
    ctx: &Context,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let what = Occurrence {
        type_,
        reason,
        action: "Reconcile",
        note: &note,
    };
    if let Err(e) = ctx.events.publish(&object.object_ref(&()), what).await {
        warn!(error = %e, "could not publish event");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("serializing: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error(transparent)]
    MesApi(#[from] MesApiError),
    #[error("JWT Secret {0}")]
    JwtSecret(String),
    #[error("minting a token: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// A write tested against our cached copy of the object failed because the object had
    /// changed (e.g. kube's finalizer helper adding a finalizer that an earlier reconcile had
    /// already added, its watch event not cached yet). Routine: retried after a second,
    /// counted, and not reported on the object.
    #[error("the object changed since it was cached, retrying: {0}")]
    StaleCache(kube::Error),
}

impl Error {
    /// A short label for metrics and event reasons.
    pub fn class(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "Conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 429 => "Throttled",
            Error::Kube(kube::Error::Api(s)) if s.code >= 500 => "ApiServerError",
            Error::Kube(kube::Error::Api(_)) => "ApiRejected",
            Error::Kube(_) => "ApiUnreachable",
            Error::Serialize(_) => "Serialize",
            Error::MesApi(e) => e.class(),
            Error::JwtSecret(_) => "JwtSecretMissing",
            Error::Token(_) => "TokenError",
            Error::Finalizer(_) => "Finalizer",
            Error::StaleCache(_) => "Conflict",
        }
    }

    /// Whether to tell people about it (a Warning Event, the `Ready` condition): not for a
    /// routine retry after a stale cache.
    pub fn is_reported(&self) -> bool {
        !matches!(self, Error::StaleCache(_))
    }

    fn is_conflict(&self) -> bool {
        self.class() == "Conflict"
    }
}
