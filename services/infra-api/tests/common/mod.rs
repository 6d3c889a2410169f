//! Shared harness: a kube-double, infra-api's state built on a real `kube::Client` to it, the
//! router served on 127.0.0.1:0, and tokens of each role.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use infra_api::config::Config;
use infra_api::hubble::{Hubble, HubbleOptions};
use infra_api::metrics::Metrics;
use infra_api::state::{AppState, Cluster};
use kube_double::{KubeDouble, PodTemplate};
use mes_api::auth::Role;
use mes_api::auth::jwt::JwtKeys;
use serde_json::{Value, json};

pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const NS: &str = "plant";
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn config() -> Config {
    let vars = [
        ("MES_JWT_SECRET", SECRET),
        ("INFRA_NAMESPACE", NS),
        ("INFRA_LISTEN_ADDR", "127.0.0.1:0"),
    ];
    Config::from_lookup(
        |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        },
        || None,
    )
    .unwrap()
}

pub fn token(role: Role, user: &str) -> String {
    JwtKeys::new(SECRET.as_bytes(), Duration::from_secs(3600))
        .issue(1, user, role, chrono::Utc::now().timestamp())
        .unwrap()
}

pub fn admin() -> String {
    token(Role::Admin, "ada")
}

pub fn supervisor() -> String {
    token(Role::Supervisor, "sam")
}

pub struct Server {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub task: tokio::task::JoinHandle<()>,
    /// Send to begin a graceful shutdown.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    pub async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let s = state.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let _ = infra_api::serve(listener, s, shutdown).await;
        });
        Self {
            base,
            state,
            http: reqwest::Client::new(),
            task,
            stop: Some(stop),
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn pod_names(&self) -> Vec<String> {
        let (status, body) = self.get("/api/infra/pods", Some(&admin())).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Hubble client options scaled for tests: quick probes and a short back-off cap, so that
/// recovery is seen within the deadline.
pub fn hubble_options() -> HubbleOptions {
    HubbleOptions {
        probe_interval: Duration::from_millis(200),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        stream_buffer: 1024,
        max_live_streams: 64,
    }
}

/// A Hubble client for the relay at `addr`, publishing reachability into `metrics`.
pub fn hubble(addr: &str, options: HubbleOptions, metrics: &Metrics) -> Hubble {
    Hubble::start(addr, None, options, metrics.hubble_up.clone()).unwrap()
}

/// infra-api without any cluster (the network endpoints do not need one).
pub async fn server_without_cluster(hubble: Hubble, metrics: Arc<Metrics>) -> Server {
    let state = AppState::new(
        Arc::new(JwtKeys::new(SECRET.as_bytes(), Duration::from_secs(3600))),
        None,
        metrics,
        config(),
    )
    .with_hubble(hubble);
    Server::start(state).await
}

pub struct Harness {
    pub double: KubeDouble,
    pub server: Server,
    pub metrics: Arc<Metrics>,
}

impl Harness {
    /// A double with the plant namespace, infra-api on it, caches synced.
    pub async fn start() -> Self {
        Self::start_with(|_| Hubble::disabled()).await
    }

    /// The same, with the Hubble client `hubble` builds from the service's metrics.
    pub async fn start_with(hubble: impl FnOnce(&Metrics) -> Hubble) -> Self {
        let double = KubeDouble::start().await.unwrap();
        double.ensure_namespace(NS).unwrap();
        let metrics = Arc::new(Metrics::new());
        let client = infra_api::kube_client::build(double.config().unwrap(), &metrics).unwrap();
        let state = AppState::new(
            Arc::new(JwtKeys::new(SECRET.as_bytes(), Duration::from_secs(3600))),
            Some(Cluster::start(client, NS)),
            metrics.clone(),
            config(),
        )
        .with_hubble(hubble(&metrics));
        let server = Server::start(state).await;
        let s = server.state.clone();
        wait_for("caches synced", || {
            let s = s.clone();
            async move { s.cluster().is_ok() }
        })
        .await;
        Self {
            double,
            server,
            metrics,
        }
    }

    /// A Deployment `name` of `component` with one container `app`.
    pub fn deployment(&self, name: &str, component: &str, replicas: i32) {
        self.double
            .seed(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": NS,
                             "labels": {"app.kubernetes.io/component": component}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name, "app.kubernetes.io/component": component}},
                        "spec": {"containers": [{"name": "app", "image": "example/app:1"}]},
                    },
                },
            }))
            .unwrap();
    }

    pub fn pods(&self, deployment: &str, tpl: PodTemplate) -> Vec<String> {
        self.double
            .create_pods_for("Deployment", NS, deployment, &tpl)
            .unwrap()
    }
}

/// Polls `cond` until it holds, failing after [`DEADLINE`].
pub async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
