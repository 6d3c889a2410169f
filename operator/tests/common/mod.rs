//! Shared by the integration tests: waits with deadlines (never fixed sleeps) and a running
//! operator against a fresh kube-double.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResourceExt};
use kube_double::KubeDouble;
use mes_operator::controller::{self, Scope};
use mes_operator::crd::{MesPlant, ProductionLine};
use mes_operator::metrics::Metrics;
use mes_operator::reconcile::{Context, LineSettings};

/// Generous: the CI machine has 2 cores shared by parallel test processes.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `check` until it returns true or the deadline passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A double with our CRDs installed and the operator's controllers running in-process.
pub struct Running {
    pub double: KubeDouble,
    pub client: Client,
    pub metrics: Arc<Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

impl Running {
    /// Stops the controllers and waits until they are gone.
    pub async fn stop_operator(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

/// A double with the CRDs installed, and a client for it.
pub async fn start_double() -> (KubeDouble, Client) {
    let double = KubeDouble::start().await.unwrap();
    let client = double.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [MesPlant::crd(), ProductionLine::crd()] {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    (double, client)
}

pub async fn start_operator() -> Running {
    start_operator_with(LineSettings::default()).await
}

pub async fn start_operator_with(lines: LineSettings) -> Running {
    let (double, client) = start_double().await;
    let metrics = Arc::new(Metrics::new().unwrap());
    let ctx = Arc::new(Context::with_lines(client.clone(), metrics.clone(), lines));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(controller::run(ctx, Scope::default(), async move {
        let _ = stopped.await;
    }));
    Running {
        double,
        client,
        metrics,
        stop: Some(stop),
        task,
    }
}

/// `GET path` over plain HTTP/1.0 from a server on 127.0.0.1 (an operator binary's health and
/// metrics port): the whole response, status line and headers included, or empty when nothing
/// answers.
pub async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}
