//! Operator scale benchmark (STANDARDS.md "Benchmarks"): 200 MesPlants + 1,000 ProductionLines
//! to Ready on kube-double, with the real `mes-operator` binary as its own process.
//!
//! ```sh
//! export CARGO_TARGET_DIR=/var/tmp/mes-target
//! cargo build --release -p mes-operator --bin mes-operator --example bench_scale
//! $CARGO_TARGET_DIR/release/examples/bench_scale [plants=200] [lines_per_plant=5]
//! ```
//!
//! `MES_OPERATOR_BIN=/path/to/mes-operator` benchmarks another build of the operator.
//!
//! - kube-double runs inside this process; the bench marks each plant's workloads ready with the
//!   double's helpers as soon as the operator has rendered them (what the Deployment and
//!   StatefulSet controllers would report).
//! - Line sync goes to a tiny fake mes-api in this process (answers `PUT /api/v1/lines/{code}`,
//!   the KPIs and `DELETE` with constant bodies), passed to the operator with `--mes-api-url`; the
//!   real mes-api is exercised by `tests/line_mes_api.rs`, not here.
//! - Writes per idle reconcile are counted twice: over a window in which every line refreshes
//!   (`--line-refresh-seconds 5`), and over a restart of the operator, which reconciles every
//!   plant and line again from scratch. Lease renewals are reported separately.
//! - Peak RSS is the operator process's own `VmHWM` from `/proc/<pid>/status`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use axum::Router;
use axum::routing::{get, put};
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResourceExt};
use kube_double::KubeDouble;
use mes_operator::crd::{MesPlant, ProductionLine};
use serde_json::{Value, json};

const NAMESPACES: usize = 20;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let plants: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let lines_per_plant: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let operator = operator_binary()?;
    println!("machine: {}", uptime());
    println!(
        "bench: {plants} MesPlants + {} ProductionLines in {NAMESPACES} namespaces, operator {}",
        plants * lines_per_plant,
        operator.display()
    );

    let double = KubeDouble::start().await?;
    let client = double.client()?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [MesPlant::crd(), ProductionLine::crd()] {
        crds.create(&PostParams::default(), &crd).await?;
    }
    for n in 0..NAMESPACES {
        double.ensure_namespace(&namespace(n))?;
    }
    let dir = std::env::temp_dir().join(format!("mes-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig)?;
    let (mes_api, mes_api_calls) = fake_mes_api().await?;

    let first = Operator::spawn(&operator, &kubeconfig, &mes_api)?;
    first.wait_ready().await?;

    // Apply everything, then keep marking rendered workloads ready until all are Ready.
    let started = Instant::now();
    let line_template = example_line()?;
    let mut objects: Vec<(Option<MesPlant>, Option<ProductionLine>)> = Vec::new();
    for p in 0..plants {
        objects.push((Some(plant_object(p)?), None));
        for l in 1..=lines_per_plant {
            objects.push((None, Some(line_object(&line_template, p, l))));
        }
    }
    futures::stream::iter(objects)
        .map(|(plant, line)| {
            let client = client.clone();
            async move { create(&client, plant, line).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let applied = started.elapsed();
    let mut marked = HashSet::new();
    let mut ready_unlisted = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        for p in 0..plants {
            if !marked.contains(&p) && mark_ready(&double, p) {
                marked.insert(p);
            }
        }
        let (ready_plants, listing, ready_lines) = ready_counts(&double, lines_per_plant);
        let all_lines = ready_lines == plants * lines_per_plant;
        if ready_plants == plants && all_lines {
            ready_unlisted.get_or_insert_with(|| started.elapsed());
        }
        if listing == plants && all_lines {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "not all Ready after 300 s: {ready_plants} plants ({listing} listing their lines), {ready_lines} lines"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_ready = started.elapsed();
    let metrics = first.metrics().await;
    println!(
        "time to all Ready: {:.1} s; every plant listing its lines in status.lines: {:.1} s (objects applied after {:.1} s)",
        ready_unlisted.unwrap_or(all_ready).as_secs_f64(),
        all_ready.as_secs_f64(),
        applied.as_secs_f64()
    );
    println!(
        "reconciles until Ready: MesPlant {}, ProductionLine {}; errors {} {:?}; writes {}",
        metrics.reconciles("MesPlant"),
        metrics.reconciles("ProductionLine"),
        metrics.errors(),
        metrics.error_classes(),
        double.write_count()
    );

    // Idle window: every line refreshes (re-sync + KPIs) a few times; nothing may be written.
    let window = Duration::from_secs(20);
    let (writes_before, before) = (double.write_count(), first.metrics().await);
    tokio::time::sleep(window).await;
    let after = first.metrics().await;
    let (idle_writes, lease_writes) = writes_since(&double, writes_before);
    let idle_reconciles = after.total() - before.total();
    println!(
        "idle window {} s: {idle_reconciles} reconciles, {idle_writes} writes ({} per idle reconcile), {lease_writes} lease renewals",
        window.as_secs(),
        per(idle_writes, idle_reconciles)
    );
    let rss_first = first.peak_rss_kib()?;
    first.stop().await?;

    // Restart: the new process reconciles every converged object once more.
    let writes_before = double.write_count();
    let second = Operator::spawn(&operator, &kubeconfig, &mes_api)?;
    second.wait_ready().await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = second.metrics().await;
        if m.reconciles("MesPlant") >= plants as f64
            && m.reconciles("ProductionLine") >= (plants * lines_per_plant) as f64
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("restarted operator did not reconcile everything within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let m = second.metrics().await;
    let (restart_writes, lease_writes) = writes_since(&double, writes_before);
    println!(
        "restart: {} reconciles of converged objects, {restart_writes} writes ({} per idle reconcile), {lease_writes} lease writes",
        m.total(),
        per(restart_writes, m.total())
    );
    let rss_second = second.peak_rss_kib()?;
    second.stop().await?;
    println!(
        "operator peak RSS (VmHWM): {:.1} MiB first run, {:.1} MiB after restart",
        rss_first as f64 / 1024.0,
        rss_second as f64 / 1024.0
    );
    println!(
        "fake mes-api requests: {}",
        mes_api_calls.load(Ordering::Relaxed)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn per(writes: usize, reconciles: f64) -> String {
    if reconciles > 0.0 {
        format!("{:.3}", writes as f64 / reconciles)
    } else {
        "n/a".into()
    }
}

/// Writes since `from`, apart from the leader Lease: (others, lease writes).
fn writes_since(double: &KubeDouble, from: usize) -> (usize, usize) {
    let writes: Vec<_> = double.writes().into_iter().skip(from).collect();
    let leases = writes.iter().filter(|w| w.resource == "leases").count();
    for w in writes.iter().filter(|w| w.resource != "leases").take(5) {
        println!("  unexpected write: {w:?}");
    }
    (writes.len() - leases, leases)
}

fn namespace(n: usize) -> String {
    format!("bench-{n:02}")
}

fn plant_name(p: usize) -> String {
    format!("p{p:03}")
}

fn plant_object(p: usize) -> Result<MesPlant> {
    let mut plant = MesPlant::new(
        &plant_name(p),
        serde_json::from_value(json!({"plantCode": "KR"}))?,
    );
    plant.metadata.namespace = Some(namespace(p % NAMESPACES));
    Ok(plant)
}

fn example_line() -> Result<ProductionLine> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/examples/productionline-l1.yaml");
    Ok(yaml_serde::from_str(&std::fs::read_to_string(path)?)?)
}

/// The example line L1 (seven processes with their data schemas), once per plant and code.
fn line_object(template: &ProductionLine, p: usize, l: usize) -> ProductionLine {
    let mut line = template.clone();
    line.metadata.name = Some(format!("{}-l{l}", plant_name(p)));
    line.metadata.namespace = Some(namespace(p % NAMESPACES));
    line.spec.plant_ref = plant_name(p);
    line.spec.line_code = format!("L{l}");
    line
}

async fn create(
    client: &Client,
    plant: Option<MesPlant>,
    line: Option<ProductionLine>,
) -> Result<()> {
    let pp = PostParams::default();
    if let Some(p) = plant {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        Api::<MesPlant>::namespaced(client.clone(), &ns)
            .create(&pp, &p)
            .await?;
    }
    if let Some(l) = line {
        let ns = l.metadata.namespace.clone().unwrap_or_default();
        Api::<ProductionLine>::namespaced(client.clone(), &ns)
            .create(&pp, &l)
            .await?;
    }
    Ok(())
}

/// Marks plant `p`'s workloads ready once the operator has rendered all of them.
fn mark_ready(double: &KubeDouble, p: usize) -> bool {
    let (ns, name) = (namespace(p % NAMESPACES), plant_name(p));
    let deployments = ["api", "dashboard", "infra"].map(|c| format!("{name}-{c}"));
    let db = format!("{name}-db");
    let rendered = deployments
        .iter()
        .all(|d| double.get("apps/v1", "Deployment", &ns, d).is_some())
        && double.get("apps/v1", "StatefulSet", &ns, &db).is_some();
    if !rendered {
        return false;
    }
    deployments
        .iter()
        .all(|d| double.mark_deployment_ready(&ns, d).is_ok())
        && double.mark_statefulset_ready(&ns, &db).is_ok()
}

/// Ready plants, Ready plants that list all their lines in `status.lines`, and Ready lines.
fn ready_counts(double: &KubeDouble, lines_per_plant: usize) -> (usize, usize, usize) {
    let ready = |o: &Value| {
        o.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    };
    let lists_its_lines = |o: &Value| {
        o.pointer("/status/lines")
            .and_then(Value::as_array)
            .is_some_and(|l| l.len() == lines_per_plant)
    };
    let plants = double.list("mes.smartfactory.io/v1alpha1", "MesPlant");
    let lines = double.list("mes.smartfactory.io/v1alpha1", "ProductionLine");
    (
        plants.iter().filter(|p| ready(p)).count(),
        plants
            .iter()
            .filter(|p| ready(p) && lists_its_lines(p))
            .count(),
        lines.iter().filter(|l| ready(l)).count(),
    )
}

/// Answers what the line reconciler asks, with constant bodies; counts requests.
async fn fake_mes_api() -> Result<(String, Arc<AtomicU64>)> {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = |calls: &Arc<AtomicU64>, body: Value| {
        calls.fetch_add(1, Ordering::Relaxed);
        json!({"success": true, "data": body}).to_string()
    };
    let (c1, c2, c3) = (calls.clone(), calls.clone(), calls.clone());
    let app = Router::new()
        .route(
            "/api/v1/lines/{code}",
            put(move || {
                let c = c1.clone();
                async move { counted(&c, json!({})) }
            })
            .delete(move || {
                let c = c2.clone();
                async move { counted(&c, json!({})) }
            }),
        )
        .route(
            "/api/v1/dashboard/lines/{code}/kpis",
            get(move || {
                let c = c3.clone();
                async move {
                    counted(
                        &c,
                        json!({"wip": 3, "completed_today": 42, "failed_today": 1,
                               "yield_percent": 97.7, "throughput_per_hour": 12.5}),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, calls))
}

fn operator_binary() -> Result<PathBuf> {
    // `MES_OPERATOR_BIN` names another build (A/B comparisons within one sitting).
    if let Some(bin) = std::env::var_os("MES_OPERATOR_BIN") {
        return Ok(PathBuf::from(bin));
    }
    // examples live in <target>/<profile>/examples/, the binary in <target>/<profile>/.
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .context("no parent directory")?
        .join("mes-operator");
    if !bin.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p mes-operator --bin mes-operator --example bench_scale`",
            bin.display()
        );
    }
    Ok(bin)
}

fn uptime() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpus} CPUs, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

struct Operator {
    child: tokio::process::Child,
    port: u16,
}

impl Operator {
    fn spawn(bin: &Path, kubeconfig: &Path, mes_api: &str) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(bin)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .args([
                "--listen-addr",
                &format!("127.0.0.1:{port}"),
                "--mes-api-url",
                mes_api,
                "--line-refresh-seconds",
                "5",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self { child, port })
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.metrics().await.leader() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the operator did not start leading within 30 s")
    }

    async fn metrics(&self) -> Metrics {
        // Empty while the operator is not (yet, or any more) serving.
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        let body = match reqwest::get(url).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        Metrics(body)
    }

    fn peak_rss_kib(&self) -> Result<u64> {
        let pid = self.child.id().context("operator exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmHWM")
    }

    /// SIGTERM (graceful: the Lease is released), then wait for the exit.
    async fn stop(mut self) -> Result<()> {
        let pid = self.child.id().context("operator exited")?;
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await??;
        Ok(())
    }
}

struct Metrics(String);

impl Metrics {
    fn sample(&self, series: &str) -> f64 {
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
    fn reconciles(&self, kind: &str) -> f64 {
        self.sample(&format!("mes_operator_reconciles_total{{kind=\"{kind}\"}}"))
    }
    fn total(&self) -> f64 {
        self.reconciles("MesPlant") + self.reconciles("ProductionLine")
    }
    fn errors(&self) -> f64 {
        self.0
            .lines()
            .filter(|l| l.starts_with("mes_operator_reconcile_errors_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
    /// `kind/error count` for each error series, e.g. `ProductionLine/Conflict 3`.
    fn error_classes(&self) -> Vec<String> {
        self.0
            .lines()
            .filter_map(|l| l.strip_prefix("mes_operator_reconcile_errors_total{"))
            .filter_map(|l| {
                let (labels, count) = l.rsplit_once("} ")?;
                let label = |name: &str| {
                    labels
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                        .map(|v| v.trim_end_matches('"').to_string())
                };
                Some(format!("{}/{} {count}", label("kind")?, label("error")?))
            })
            .collect()
    }
    fn leader(&self) -> bool {
        self.sample("mes_operator_leader") == 1.0
    }
}
