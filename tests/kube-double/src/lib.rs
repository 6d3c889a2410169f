//! An in-memory Kubernetes API server for tests: the real `kube::Client`, kube-runtime's
//! `Controller` and kubectl talk to it over HTTP on 127.0.0.1. See `docs/testing.md` for what it
//! does and does not do.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let double = kube_double::KubeDouble::start().await?;
//! let client = double.client()?;
//! # Ok(()) }
//! ```

pub mod apply;
pub mod discovery;
pub mod error;
pub mod faults;
mod gc;
mod list_body;
mod list_cache;
pub mod logs;
pub mod patch;
pub mod selectors;
mod server;
pub mod store;
pub mod table;
pub mod tools;
mod workloads;

use axum::serve::ListenerExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

pub use faults::{Fault, Verb};
pub use store::{EventType, WriteRecord};
pub use workloads::PodTemplate;

use crate::discovery::ResourceInfo;
use crate::logs::Logs;
use crate::store::{Store, WriteCtx};

/// State shared by the server and the test-facing handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) faults: faults::Faults,
    pub(crate) logs: Logs,
    pub(crate) bookmark_interval: Duration,
    pub(crate) list_cache: list_cache::ListCache,
    requests: Mutex<HashMap<(Verb, String), u64>>,
}

impl Shared {
    fn count_request(&self, verb: Verb, resource: &str) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((verb, resource.to_string()))
            .or_default() += 1;
    }
}

/// Settings for [`KubeDouble`]; defaults suit tests.
#[derive(Debug, Clone)]
pub struct Builder {
    port: u16,
    history_limit: usize,
    bookmark_interval: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            port: 0,
            history_limit: 100_000,
            bookmark_interval: Duration::from_secs(5),
        }
    }
}

impl Builder {
    /// Port on 127.0.0.1 (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Watch events kept for replay; watching from an older resourceVersion answers 410 Gone.
    pub fn history_limit(mut self, n: usize) -> Self {
        self.history_limit = n.max(1);
        self
    }
    /// How often watches that asked for bookmarks get one (the real server: about a minute).
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }

    pub async fn start(self) -> anyhow::Result<KubeDouble> {
        let shared = Arc::new(Shared {
            store: Store::new(self.history_limit),
            faults: faults::Faults::default(),
            logs: Logs::default(),
            bookmark_interval: self.bookmark_interval,
            list_cache: list_cache::ListCache::default(),
            requests: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .context("binding 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let server = tokio::spawn(async move {
            let listener = listener.tap_io(|tcp| tune(tcp));
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        Ok(KubeDouble {
            addr,
            shared,
            server,
            stop: Some(stop_tx),
        })
    }
}

/// A running double. Dropping it stops the server.
#[derive(Debug)]
pub struct KubeDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for KubeDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.store.drop_watches.send(()).ok();
        self.server.abort();
    }
}

impl KubeDouble {
    pub async fn start() -> anyhow::Result<Self> {
        Builder::default().start().await
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> anyhow::Result<kube::Config> {
        let mut config = kube::Config::new(self.url().parse()?);
        config.default_namespace = "default".into();
        Ok(config)
    }

    /// A real `kube::Client` for this server (must be called inside a tokio runtime).
    pub fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(kube::Client::try_from(self.config()?)?)
    }

    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-double\n  cluster:\n    server: {}\n\
             contexts:\n- name: kube-double\n  context:\n    cluster: kube-double\n    user: kube-double\n    namespace: default\n\
             current-context: kube-double\nusers:\n- name: kube-double\n  user: {{}}\n",
            self.url()
        )
    }

    /// Writes a kubeconfig pointing at this server (for kubectl or a binary under test).
    pub fn write_kubeconfig(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
            .with_context(|| format!("writing {}", path.display()))
    }

    fn resolve(&self, api_version: &str, kind: &str) -> anyhow::Result<ResourceInfo> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.shared
            .store
            .lock()
            .resources
            .iter()
            .find(|r| r.group == group && r.kind == kind && r.versions.iter().any(|v| v == version))
            .cloned()
            .with_context(|| format!("no resource serves {api_version} {kind}"))
    }

    /// Creates an object as given (status included), bypassing API rules about status and
    /// creating its namespace if needed. Returns the stored object.
    pub fn seed(&self, obj: impl serde::Serialize) -> anyhow::Result<Value> {
        let obj = serde_json::to_value(obj)?;
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .context("apiVersion missing")?;
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .context("kind missing")?;
        let info = self.resolve(api_version, kind)?;
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        if info.namespaced {
            self.ensure_namespace(&ns)?;
        }
        let status = obj.get("status").cloned();
        let ctx = WriteCtx::system("kube-double-seed", "create");
        let mut inner = self.shared.store.lock();
        let created = inner
            .create(&info, &ns, obj, &ctx)
            .map_err(anyhow::Error::new)?;
        let Some(status) = status else {
            return Ok(created.value.clone());
        };
        let mut with_status = created.value.clone();
        with_status["status"] = status;
        let gr = store::GroupResource::of(&info);
        let key = (
            created.meta_str("namespace").unwrap_or("").to_string(),
            created.meta_str("name").unwrap_or("").to_string(),
        );
        let stored = inner
            .system_write(
                &gr,
                &key,
                with_status,
                apply::Section::Status,
                "kube-double-seed",
            )
            .map_err(anyhow::Error::new)?;
        Ok(stored.value.clone())
    }

    /// Seeds every document of a multi-document YAML string.
    pub fn seed_yaml(&self, yaml: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        for doc in yaml_serde::Deserializer::from_str(yaml) {
            let v: Value = serde::Deserialize::deserialize(doc)?;
            if !v.is_null() {
                out.push(self.seed(v)?);
            }
        }
        Ok(out)
    }

    pub fn ensure_namespace(&self, name: &str) -> anyhow::Result<()> {
        let info = self.resolve("v1", "Namespace")?;
        let mut inner = self.shared.store.lock();
        if inner.get(&info, "", name).is_err() {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            inner
                .create(
                    &info,
                    "",
                    body,
                    &WriteCtx::system("kube-double-seed", "create"),
                )
                .map_err(anyhow::Error::new)?;
        }
        Ok(())
    }

    /// The stored object, if any (`namespace` is ignored for cluster-scoped kinds).
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let info = self.resolve(api_version, kind).ok()?;
        let ns = if info.namespaced { namespace } else { "" };
        self.shared
            .store
            .lock()
            .get(&info, ns, name)
            .ok()
            .map(|s| s.value.clone())
    }

    /// All stored objects of a kind, in every namespace.
    pub fn list(&self, api_version: &str, kind: &str) -> Vec<Value> {
        let Ok(info) = self.resolve(api_version, kind) else {
            return Vec::new();
        };
        self.shared
            .store
            .lock()
            .list(&store::GroupResource::of(&info), None)
            .iter()
            .map(|s| s.value.clone())
            .collect()
    }

    /// The global resourceVersion now.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.lock().rv
    }

    /// Every effective write so far (writes that changed nothing are not here; see
    /// [`KubeDouble::noop_writes_to`]).
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.shared.store.lock().writes.clone()
    }

    pub fn write_count(&self) -> usize {
        self.shared.store.lock().writes.len()
    }

    /// Effective writes to one object (`resource` is the plural, e.g. `configmaps`).
    pub fn writes_to(&self, resource: &str, namespace: &str, name: &str) -> usize {
        self.shared
            .store
            .lock()
            .writes
            .iter()
            .filter(|w| w.resource == resource && w.namespace == namespace && w.name == name)
            .count()
    }

    /// Mutating requests to one object that the server answered without changing anything.
    pub fn noop_writes_to(&self, resource: &str, namespace: &str, name: &str) -> u64 {
        let key = (
            resource.to_string(),
            namespace.to_string(),
            name.to_string(),
        );
        self.shared
            .store
            .lock()
            .noop_writes
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Requests served for a verb on a resource (plural), faulted ones excluded.
    pub fn requests(&self, verb: Verb, resource: &str) -> u64 {
        let key = (verb, resource.to_string());
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.faults.add(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Cuts every open watch connection; clients re-watch from their last resourceVersion.
    pub fn drop_watches(&self) {
        let _ = self.shared.store.drop_watches.send(());
    }

    /// Forgets all watch history: watches from any resourceVersion older than now get 410 Gone.
    pub fn compact(&self) {
        self.shared.store.lock().compact();
    }
}

/// TCP options of an accepted connection. Best effort: a connection works without them.
fn tune(tcp: &tokio::net::TcpStream) {
    // No Nagle: a list's last segment would otherwise wait for the client's delayed ACK.
    let _ = tcp.set_nodelay(true);
    // Reno, not the host's default (often BBR): on loopback BBR paces a 10 MB list at its own
    // bandwidth estimate, and the sender's CPU migrations reorder segments into spurious
    // retransmits — 5,000 pods listed at p50 3.4 ms with bursts past 10 ms, against 1.8 ms and
    // a p99 of about 2 ms with Reno. Any Linux process may choose Reno; elsewhere the default
    // stays.
    #[cfg(target_os = "linux")]
    let _ = socket2::SockRef::from(tcp).set_tcp_congestion(b"reno");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_connections_use_reno_without_nagle() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        tune(&accepted);
        assert!(accepted.nodelay().unwrap());
        let cc = socket2::SockRef::from(&accepted).tcp_congestion().unwrap();
        assert_eq!(String::from_utf8_lossy(&cc).trim_end_matches('\0'), "reno");
    }
}
