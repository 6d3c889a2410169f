//! `cargo run -p kube-double --release --example bench_list [pods] [iterations]`
//!
//! Seeds 5,000 pods, then measures per-list latency (raw HTTP over a kept-alive connection, and
//! through `kube::Api<Pod>` with typed decoding), a label-selected list, and a reflector's
//! initial sync plus the time for 1,000 updates to reach it. Three rounds, each printed, so the
//! spread is visible on a noisy shared machine.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube_double::KubeDouble;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn pod(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:05}"), "namespace": "bench",
                     "labels": {"app": format!("app-{}", i % 50), "tier": "backend", "pod-template-hash": "5d9f8c7b6"},
                     "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-01T00:00:00Z"}},
        "spec": {"nodeName": format!("node-{}", i % 20), "serviceAccountName": "default",
                 "containers": [{"name": "main", "image": "registry.example/mes/station:1.4.2",
                                 "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                 "env": [{"name": "RUST_LOG", "value": "info"}, {"name": "PLANT", "value": "berlin"}],
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}]},
        "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                   "hostIP": "10.1.0.1", "startTime": "2026-11-01T00:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-01T00:00:00Z"}],
                   "containerStatuses": [{"name": "main", "ready": true, "restartCount": 0, "started": true,
                                          "image": "registry.example/mes/station:1.4.2", "imageID": "",
                                          "state": {"running": {"startedAt": "2026-11-01T00:00:00Z"}}}]}
    })
}

/// One GET over a kept-alive HTTP/1.1 connection into a reused buffer; returns the body length.
async fn raw_get(conn: &mut Conn, path: &str) -> usize {
    let Conn { stream: conn, body } = conn;
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes()).await.unwrap();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    body.resize(len, 0);
    conn.read_exact(&mut body[..len]).await.unwrap();
    len
}

struct Conn {
    stream: BufReader<tokio::net::TcpStream>,
    body: Vec<u8>,
}

async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Conn> {
    Ok(Conn {
        stream: BufReader::with_capacity(1 << 16, tokio::net::TcpStream::connect(addr).await?),
        body: Vec::new(),
    })
}

fn summary(label: &str, mut samples: Vec<Duration>) -> String {
    samples.sort();
    let q = |p: f64| {
        samples[((samples.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(samples.len() - 1)]
    };
    format!(
        "{label:<34} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (n={})",
        q(0.50).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        samples.len()
    )
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
    let host_cc =
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "host TCP congestion control {} (the double's connections use reno); load average {}",
        host_cc.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let client = double.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");

    for round in 1..=3 {
        println!("-- round {round}");
        let mut conn = connect(double.addr()).await?;
        let bytes = raw_get(&mut conn, "/api/v1/namespaces/bench/pods").await;
        let mut raw = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            raw_get(&mut conn, "/api/v1/namespaces/bench/pods").await;
            raw.push(t.elapsed());
        }
        println!(
            "{}  [{:.1} MB/list]",
            summary(&format!("list {n} pods (raw HTTP)"), raw),
            bytes as f64 / 1e6
        );

        let mut empty = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            raw_get(&mut conn, "/api/v1/namespaces/default/pods").await;
            empty.push(t.elapsed());
        }
        println!("{}", summary("list empty namespace (raw HTTP)", empty));

        let mut sel = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            raw_get(
                &mut conn,
                "/api/v1/namespaces/bench/pods?labelSelector=app%3Dapp-7",
            )
            .await;
            sel.push(t.elapsed());
        }
        println!("{}", summary("list app=app-7 (raw HTTP)", sel));

        let mut typed = Vec::new();
        for _ in 0..iterations.min(50) {
            let t = Instant::now();
            let list = pods.list(&ListParams::default()).await?;
            assert_eq!(list.items.len(), n);
            typed.push(t.elapsed());
        }
        println!(
            "{}",
            summary(&format!("list {n} pods (kube Api<Pod>)"), typed)
        );

        // Reflector: initial list+watch, then 1,000 updates observed through the watch.
        let (reader, writer) = reflector::store::<Pod>();
        let t = Instant::now();
        let stream =
            reflector::reflector(writer, watcher(pods.clone(), watcher::Config::default()))
                .applied_objects();
        let task = tokio::spawn(stream.for_each(|_| async {}));
        reader.wait_until_ready().await?;
        let synced = t.elapsed();
        let t = Instant::now();
        let marker = format!("r{round}");
        for i in 0..1000 {
            let p = json!({"metadata": {"labels": {"round": marker}}});
            pods.patch(
                &format!("pod-{i:05}"),
                &PatchParams::default(),
                &Patch::Merge(p),
            )
            .await?;
        }
        let patched = t.elapsed();
        loop {
            let seen = reader
                .state()
                .iter()
                .filter(|p| {
                    p.metadata.labels.as_ref().and_then(|l| l.get("round")) == Some(&marker)
                })
                .count();
            if seen == 1000 {
                break;
            }
            tokio::task::yield_now().await;
        }
        println!(
            "reflector initial sync {:.1} ms; 1000 patches {:.1} ms; all 1000 seen via watch {:.1} ms",
            synced.as_secs_f64() * 1e3,
            patched.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
        task.abort();
    }
    Ok(())
}
