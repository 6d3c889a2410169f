//! Leader election against kube-double: of two operator instances only the Lease holder
//! reconciles; when it stops (gracefully, or killed) the other takes over.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use futures::FutureExt;
use kube::Client;
use kube::api::{Api, PostParams};
use kube_double::KubeDouble;
use mes_operator::controller::{self, Scope};
use mes_operator::crd::MesPlant;
use mes_operator::leader::{self, LeaderElection};
use mes_operator::metrics::Metrics;
use mes_operator::reconcile::Context;
use serde_json::json;

const NS: &str = "plant-kr";
const LEASE: &str = "mes-operator";

struct Instance {
    metrics: Arc<Metrics>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), leader::LeaderError>>,
}

impl Instance {
    fn start(client: &Client, identity: &str) -> Self {
        let metrics = Arc::new(Metrics::new().unwrap());
        let ctx = Arc::new(Context::new(client.clone(), metrics.clone()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let election = LeaderElection {
            namespace: "default".into(),
            lease_name: LEASE.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(3),
            renew_grace: Duration::from_secs(1),
        };
        let (client, m) = (client.clone(), metrics.clone());
        let task = tokio::spawn(async move {
            leader::run(client, &election, m, stopped, move |stop| {
                controller::run(ctx.clone(), Scope::default(), stop).boxed()
            })
            .await
        });
        Self {
            metrics,
            stop,
            task,
        }
    }

    fn plant_reconciles(&self) -> u64 {
        self.metrics
            .reconciles
            .with_label_values(&["MesPlant"])
            .get()
    }

    fn leading(&self) -> bool {
        self.metrics.leader.get() == 1
    }
}

fn holder(double: &KubeDouble) -> Option<String> {
    double
        .get("coordination.k8s.io/v1", "Lease", "default", LEASE)?
        .pointer("/spec/holderIdentity")?
        .as_str()
        .map(str::to_owned)
}

async fn create_plant(client: &Client, name: &str) {
    let plant: MesPlant = serde_json::from_value(json!({
        "apiVersion": "mes.smartfactory.io/v1alpha1", "kind": "MesPlant",
        "metadata": {"name": name, "namespace": NS}, "spec": {"plantCode": "KR"},
    }))
    .unwrap();
    Api::<MesPlant>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &plant)
        .await
        .unwrap();
}

async fn wait_rendered(double: &KubeDouble, plant: &str) {
    let name = format!("{plant}-api");
    let name = &name;
    eventually(&format!("{plant} rendered"), || async move {
        double.get("apps/v1", "Deployment", NS, name).is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_a_standby_takes_over() {
    let (double, client) = start_double().await;
    double.ensure_namespace(NS).unwrap();
    let mut a = Instance::start(&client, "op-a");
    let d = &double;
    eventually("op-a holds the lease", || async move {
        holder(d).as_deref() == Some("op-a")
    })
    .await;
    let b = Instance::start(&client, "op-b");

    // Never both leading: sampled throughout the test.
    let both = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (am, bm, both) = (a.metrics.clone(), b.metrics.clone(), both.clone());
        tokio::spawn(async move {
            loop {
                if am.leader.get() == 1 && bm.leader.get() == 1 {
                    both.store(true, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    create_plant(&client, "kr").await;
    wait_rendered(&double, "kr").await;
    // Longer than a lease duration, so a standby that wrongly grabbed the Lease would show.
    let lease_writes = double.write_count();
    eventually("op-a renews the lease", || async move {
        d.writes()
            .into_iter()
            .skip(lease_writes)
            .any(|w| w.resource == "leases" && w.manager == "mes-operator-lease-op-a")
    })
    .await;
    assert!(a.leading() && a.plant_reconciles() > 0);
    assert!(!b.leading());
    assert_eq!(b.plant_reconciles(), 0, "the standby reconciled");
    assert_eq!(holder(&double).as_deref(), Some("op-a"));

    // The leader stops: it releases the Lease and the standby takes over.
    let a_reconciles = a.plant_reconciles();
    a.stop.send(true).unwrap();
    (&mut a.task).await.unwrap().unwrap();
    assert!(!a.leading());
    let bl = &b;
    eventually("op-b leads", || async move { bl.leading() }).await;
    assert_eq!(holder(&double).as_deref(), Some("op-b"));
    create_plant(&client, "us").await;
    wait_rendered(&double, "us").await;
    assert!(b.plant_reconciles() > 0);
    assert_eq!(
        a.plant_reconciles(),
        a_reconciles,
        "a stopped leader reconciled"
    );
    sampler.abort();
    assert!(!both.load(Ordering::SeqCst), "both instances led at once");
    b.stop.send(true).unwrap();
    b.task.await.unwrap().unwrap();
}

/// The value of an unlabelled or labelled sample in a Prometheus text page (0 when absent).
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_operator(kubeconfig: &Path, identity: &str, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_mes-operator"))
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .args([
            "--listen-addr",
            &format!("127.0.0.1:{port}"),
            "--leader-election-identity",
            identity,
            "--lease-duration-seconds",
            "3",
            "--lease-renew-grace-seconds",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_binary_is_replaced_once_its_lease_expires() {
    let (double, client) = start_double().await;
    double.ensure_namespace(NS).unwrap();
    let dir = std::env::temp_dir().join(format!("mes-operator-leader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();

    let (pa, pb) = (free_port(), free_port());
    let mut a = spawn_operator(&kubeconfig, "bin-a", pa);
    let d = &double;
    eventually("bin-a holds the lease", || async move {
        holder(d).as_deref() == Some("bin-a")
    })
    .await;
    let _b = spawn_operator(&kubeconfig, "bin-b", pb);
    eventually("bin-b serves /metrics", || async move {
        http_get(pb, "/metrics")
            .await
            .contains("mes_operator_leader")
    })
    .await;

    create_plant(&client, "kr").await;
    wait_rendered(&double, "kr").await;
    let (ma, mb) = (
        http_get(pa, "/metrics").await,
        http_get(pb, "/metrics").await,
    );
    let reconciles = "mes_operator_reconciles_total{kind=\"MesPlant\"}";
    assert!(sample(&ma, reconciles) > 0.0 && sample(&ma, "mes_operator_leader") == 1.0);
    assert_eq!(
        sample(&mb, reconciles),
        0.0,
        "the standby reconciled:\n{mb}"
    );
    assert_eq!(sample(&mb, "mes_operator_leader"), 0.0);

    // SIGKILL: no release; bin-b waits for the lease to expire, then leads.
    a.start_kill().unwrap();
    a.wait().await.unwrap();
    eventually("bin-b leads", || async move {
        sample(&http_get(pb, "/metrics").await, "mes_operator_leader") == 1.0
    })
    .await;
    assert_eq!(holder(&double).as_deref(), Some("bin-b"));
    create_plant(&client, "us").await;
    wait_rendered(&double, "us").await;
    let mb = http_get(pb, "/metrics").await;
    assert!(sample(&mb, reconciles) > 0.0, "{mb}");
    let _ = std::fs::remove_dir_all(&dir);
}
