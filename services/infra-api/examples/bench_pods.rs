//! `cargo run -p infra-api --release --example bench_pods [pods] [iterations]`
//!
//! Seeds 5,000 pods into kube-double, starts infra-api on it (real `kube::Client`, reflector
//! caches), then measures `GET /api/infra/pods` (all pods, and a component filter matching 100),
//! the Kubernetes API calls made per request (infra-api's own counter and the double's request
//! counter), and — beside it — the double's own list of the same pods (what `kubectl get pods`
//! costs the API server). Three rounds, each printed, so the spread is visible. It also times
//! one rebuild of the pod-row snapshot (what a pod change costs in the background).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use infra_api::metrics::Metrics;
use infra_api::state::{AppState, Cluster};
use kube_double::{KubeDouble, Verb};
use mes_api::auth::Role;
use mes_api::auth::jwt::JwtKeys;
use serde_json::json;

const SECRET: &str = "0123456789abcdef0123456789abcdef";
const NS: &str = "bench";

fn pod(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:05}"), "namespace": NS,
                     "labels": {"app": format!("app-{}", i % 50), "app.kubernetes.io/component": format!("comp-{}", i % 50),
                                "pod-template-hash": "5d9f8c7b6"},
                     "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-01T00:00:00Z"}},
        "spec": {"nodeName": format!("node-{}", i % 20), "serviceAccountName": "default",
                 "containers": [{"name": "main", "image": "registry.example/mes/station:1.4.2",
                                 "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                 "env": [{"name": "RUST_LOG", "value": "info"}, {"name": "PLANT", "value": "berlin"}],
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}]},
        "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                   "hostIP": "10.1.0.1", "startTime": "2026-11-01T00:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-01T00:00:00Z"}],
                   "containerStatuses": [{"name": "main", "ready": true, "restartCount": i % 3, "started": true,
                                          "image": "registry.example/mes/station:1.4.2", "imageID": "",
                                          "lastState": if i.is_multiple_of(3) { json!({}) } else {
                                              json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                                     "startedAt": "2026-11-01T00:00:00Z", "finishedAt": "2026-11-01T01:00:00Z"}}) },
                                          "state": {"running": {"startedAt": "2026-11-01T00:00:00Z"}}}]}
    })
}

fn summary(label: &str, mut samples: Vec<Duration>, extra: &str) {
    samples.sort();
    let q = |p: f64| {
        samples[((samples.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(samples.len() - 1)]
    };
    println!(
        "{label:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (n={}) {extra}",
        q(0.50).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        samples.len()
    );
}

async fn measure(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    iterations: usize,
) -> (Vec<Duration>, usize) {
    let mut samples = Vec::with_capacity(iterations);
    let mut bytes = 0;
    for _ in 0..iterations {
        let mut req = http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let t = Instant::now();
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        bytes = resp.bytes().await.unwrap().len();
        samples.push(t.elapsed());
    }
    (samples, bytes)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5000);
    let iterations: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let double = KubeDouble::start().await?;
    let t = Instant::now();
    for i in 0..n {
        double.seed(pod(i))?;
    }
    println!("seeded {n} pods in {:.2} s", t.elapsed().as_secs_f64());

    let metrics = Arc::new(Metrics::new());
    let client = infra_api::kube_client::build(double.config()?, &metrics)?;
    let vars = [("MES_JWT_SECRET", SECRET), ("INFRA_NAMESPACE", NS)];
    let config = infra_api::config::Config::from_lookup(
        |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        },
        || None,
    )?;
    let keys = JwtKeys::new(SECRET.as_bytes(), Duration::from_secs(3600));
    let token = keys.issue(1, "bench", Role::Supervisor, chrono::Utc::now().timestamp())?;
    let t = Instant::now();
    let state = AppState::new(
        Arc::new(keys),
        Some(Cluster::start(client, NS)),
        metrics.clone(),
        config,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let s = state.clone();
    tokio::spawn(async move { infra_api::serve(listener, s, std::future::pending()).await });
    // Served from the row snapshot, so wait for the snapshot, not only the reflector store.
    while state
        .cluster()
        .map(|c| c.cache.pod_rows.current().rows.len())
        .unwrap_or(0)
        < n
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "reflector cache synced with {n} pods in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    if let Ok(c) = state.cluster() {
        let pods = c.cache.pods.state();
        let mut samples = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let snap = infra_api::pod_snapshot::PodSnapshot::build(&pods, NS, chrono::Utc::now());
            samples.push(t.elapsed());
            assert_eq!(snap.rows.len(), n);
        }
        summary(
            &format!("snapshot rebuild ({n} pods, background)"),
            samples,
            "",
        );
    }

    let http = reqwest::Client::new();
    let pods_url = format!("{base}/api/infra/pods");
    let filtered_url = format!("{base}/api/infra/pods?component=comp-7");
    let double_url = format!("{}/api/v1/namespaces/{NS}/pods", double.url());
    let reads = || double.requests(Verb::List, "pods") + double.requests(Verb::Get, "pods");
    for round in 1..=3 {
        println!("-- round {round}");
        let (ours0, double0) = (metrics.kube_api_calls(), reads());
        let (samples, bytes) = measure(&http, &pods_url, Some(&token), iterations).await;
        let (ours1, double1) = (metrics.kube_api_calls(), reads());
        summary(
            &format!("infra-api /api/infra/pods ({n} pods)"),
            samples,
            &format!("[{:.2} MB/response]", bytes as f64 / 1e6),
        );
        let (samples, bytes) = measure(&http, &filtered_url, Some(&token), iterations).await;
        summary(
            "infra-api /api/infra/pods?component= (1/50)",
            samples,
            &format!("[{:.3} MB/response]", bytes as f64 / 1e6),
        );
        println!(
            "Kubernetes API calls per /api/infra/pods request: infra-api counter {:.3}, double's pod list/get counter {:.3}",
            (ours1 - ours0) as f64 / iterations as f64,
            (double1 - double0) as f64 / iterations as f64,
        );
        let (samples, bytes) = measure(&http, &double_url, None, iterations).await;
        summary(
            &format!("kube-double list of the same {n} pods"),
            samples,
            &format!("[{:.2} MB/list]", bytes as f64 / 1e6),
        );
    }
    state.stop();
    Ok(())
}
