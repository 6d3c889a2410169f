//! The dashboard in headless Chromium against the real stack: mes-api on a fresh PostgreSQL
//! database, infra-api on the Kubernetes double and the Hubble Relay double, and the dashboard
//! server in front of both, all in this process on 127.0.0.1; then `node web/e2e/run.mjs` (playwright-core) drives the UI and
//! its exit status is the verdict.
//!
//! Ignored by default: it needs Chromium, Node.js, the web UI's npm packages and its build.
//! `cargo xtask test` prepares all of them and runs it as its own stage (`browser`); by hand:
//!
//! ```text
//! (cd services/dashboard/web && npm ci && npm run build)
//! cargo nextest run -p dashboard-server --run-ignored only -E 'test(dashboard_in_chromium)'
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use dashboard_server::config::{Config as DashboardConfig, LogFormat};
use hubble_double::{FakeRelay, endpoint, now_seconds, tcp};
use infra_api::hubble::proto::flow::{Flow, Verdict};
use kube_double::{KubeDouble, PodTemplate};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;

const JWT_SECRET: &str = "browser-test-secret-browser-test-secret!";
const NAMESPACE: &str = "plant-kr";
const LINE_L1: &str = include_str!("../../../xtask/demo/line-L1.json");
const DEFECT_CODES: &str = include_str!("../../../xtask/demo/defect-codes.json");
const PRODUCT_MODEL: &str = include_str!("../../../xtask/demo/product-model.json");
/// The whole browser run (the issue asks for under three minutes).
const BROWSER_DEADLINE: Duration = Duration::from_secs(180);

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// Everything the browser run needs that does not come from cargo, or a clear failure.
fn prerequisites() -> (PathBuf, PathBuf) {
    let chromium = PathBuf::from(
        std::env::var("DASHBOARD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
    );
    assert!(
        chromium.is_file(),
        "Chromium is missing at {}: install it (apt-get install -y chromium) or run \
         `cargo xtask test`, which does",
        chromium.display()
    );
    let assets = std::env::var("DASHBOARD_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| web_dir().join("dist"));
    assert!(
        assets.join("index.html").is_file(),
        "the web UI is not built ({} has no index.html): run `npm ci && npm run build` in \
         services/dashboard/web, or `cargo xtask test`",
        assets.display()
    );
    assert!(
        web_dir().join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in services/dashboard/web"
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "Node.js is not installed; the browser test runs `node web/e2e/run.mjs`"
    );
    (chromium, assets)
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

/// mes-api on `db` (migrations applied by its own start-up), with the bootstrap admin.
async fn start_mes_api(db: PgPool, admin_password: &str) -> String {
    let vars: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", "postgres://unused"),
        ("MES_JWT_SECRET", JWT_SECRET),
        ("MES_PLANT_CODE", "KR"),
        ("MES_TIMEZONE", "Asia/Seoul"),
        ("MES_BOOTSTRAP_ADMIN_USER", "admin"),
        ("MES_BOOTSTRAP_ADMIN_PASSWORD", admin_password),
        ("MES_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
    ];
    let config = mes_api::config::Config::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .expect("mes-api configuration");
    let state = mes_api::prepare(db, config)
        .await
        .expect("mes-api start-up");
    let (listener, base) = listener().await;
    tokio::spawn(mes_api::serve(listener, state, std::future::pending()));
    base
}

/// A small HTTP client of mes-api for the test's own set-up (the browser does the rest).
struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Api {
    async fn login(base: &str, user: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "username": user, "password": password }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["data"]["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login {user}: {answer}"))
            .to_owned();
        Self {
            base: base.to_owned(),
            http,
            token,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::CREATED,
            "{method} {path}: {status} {body}"
        );
        body["data"].clone()
    }

    /// The demo plant of `cargo xtask dev`: product model, defect codes, line L1, one user per
    /// role, and a station token.
    async fn seed(&self, passwords: &Value) -> String {
        use reqwest::Method;
        self.send(
            Method::POST,
            "/product-models",
            serde_json::from_str(PRODUCT_MODEL).unwrap(),
        )
        .await;
        let codes: Vec<Value> = serde_json::from_str(DEFECT_CODES).unwrap();
        for code in codes {
            self.send(Method::POST, "/defect-codes", code).await;
        }
        self.send(
            Method::PUT,
            "/lines/L1",
            serde_json::from_str(LINE_L1).unwrap(),
        )
        .await;
        for (user, role) in [("supervisor", "SUPERVISOR"), ("operator", "OPERATOR")] {
            self.send(
                Method::POST,
                "/users",
                json!({ "username": user, "password": passwords[user], "role": role }),
            )
            .await;
        }
        let token = self
            .send(
                Method::POST,
                "/api-tokens",
                json!({ "name": "STATION-01", "workstation": "WS-01", "process_code": "SPRING" }),
            )
            .await;
        token["token"].as_str().unwrap().to_owned()
    }
}

/// The pods of `component` among the double's pods (named after their Deployment).
fn pods_of<'a>(pods: &'a [String], deployment: &'a str) -> impl Iterator<Item = &'a String> {
    pods.iter()
        .filter(move |pod| pod.starts_with(&format!("{deployment}-")))
}

/// The plant's traffic as Hubble would have seen it in the last minutes: dashboard → mes-api,
/// mes-api → its database, and a station PC outside the plant namespace whose connection a
/// network policy dropped.
fn plant_flows(pods: &[String], at: i64) -> Vec<Flow> {
    let mut flows = Vec::new();
    for (i, mes_api) in pods_of(pods, "mes-api").enumerate() {
        let offset = i64::try_from(i).unwrap();
        for dashboard in pods_of(pods, "dashboard") {
            flows.push(tcp(
                endpoint(NAMESPACE, dashboard, "dashboard"),
                endpoint(NAMESPACE, mes_api, "backend"),
                8080,
                Verdict::Forwarded,
                at + offset,
            ));
        }
        flows.push(tcp(
            endpoint(NAMESPACE, mes_api, "backend"),
            endpoint(NAMESPACE, "mes-db-0", "database"),
            5432,
            Verdict::Forwarded,
            at + offset + 1,
        ));
    }
    if let Some(mes_api) = pods_of(pods, "mes-api").next() {
        flows.push(tcp(
            endpoint("factory-floor", "station-ws-07", "station"),
            endpoint(NAMESPACE, mes_api, "backend"),
            8080,
            Verdict::Dropped,
            at + 5,
        ));
    }
    flows
}

/// The Kubernetes double with the plant's workloads, the Hubble Relay double with their recent
/// flows, and infra-api on both.
async fn start_infra_api() -> (KubeDouble, FakeRelay, String) {
    let double = KubeDouble::start().await.unwrap();
    double.ensure_namespace(NAMESPACE).unwrap();
    for (name, component, replicas) in [("mes-api", "backend", 2), ("dashboard", "dashboard", 1)] {
        double
            .seed(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": NAMESPACE,
                             "labels": {"app.kubernetes.io/component": component}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name, "app.kubernetes.io/component": component}},
                        "spec": {"containers": [{"name": "app", "image": format!("mes/{name}:0.1.0")}]},
                    },
                },
            }))
            .unwrap();
        double
            .create_pods_for(
                "Deployment",
                NAMESPACE,
                name,
                &PodTemplate {
                    logs: vec![format!("{name} started"), "listening".to_owned()],
                    ..PodTemplate::default()
                },
            )
            .unwrap();
        double.mark_deployment_ready(NAMESPACE, name).unwrap();
    }
    let relay = FakeRelay::start().await;
    relay.store(plant_flows(&pod_names(&double), now_seconds() - 120));
    let relay_addr = relay.address();
    let vars = [
        ("MES_JWT_SECRET", JWT_SECRET),
        ("INFRA_NAMESPACE", NAMESPACE),
        ("INFRA_LISTEN_ADDR", "127.0.0.1:0"),
        ("HUBBLE_RELAY_ADDR", relay_addr.as_str()),
    ];
    let config = infra_api::config::Config::from_lookup(
        |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        },
        || None,
    )
    .unwrap();
    let metrics = Arc::new(infra_api::metrics::Metrics::new());
    let client = infra_api::kube_client::build(double.config().unwrap(), &metrics).unwrap();
    let hubble = infra_api::hubble::Hubble::start(
        &relay_addr,
        None,
        infra_api::hubble::HubbleOptions::default(),
        metrics.hubble_up.clone(),
    )
    .unwrap();
    let state = infra_api::state::AppState::new(
        Arc::new(mes_api::auth::jwt::JwtKeys::new(
            JWT_SECRET.as_bytes(),
            Duration::from_secs(3600),
        )),
        Some(infra_api::state::Cluster::start(client, NAMESPACE)),
        metrics,
        config,
    )
    .with_hubble(hubble);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while state.cluster().is_err() || !state.hubble.status().reachable {
        assert!(
            tokio::time::Instant::now() < deadline,
            "infra-api's caches did not sync or Hubble Relay is not reachable"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (listener, base) = listener().await;
    tokio::spawn(infra_api::serve(listener, state, std::future::pending()));
    (double, relay, base)
}

fn pod_names(double: &KubeDouble) -> Vec<String> {
    double
        .list("v1", "Pod")
        .iter()
        .filter_map(|pod| pod["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

async fn start_dashboard(assets: PathBuf, mes_api: &str, infra_api: &str) -> String {
    let config = DashboardConfig {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        assets_dir: assets,
        mes_api: mes_api.parse().unwrap(),
        infra_api: Some(infra_api.parse().unwrap()),
        log_format: LogFormat::Text,
    };
    let (listener, base) = listener().await;
    tokio::spawn(async move {
        dashboard_server::serve(listener, &config, std::future::pending()).await
    });
    base
}

/// A fresh database from `DATABASE_URL`, dropped when the test ends. Not `#[sqlx::test]`: that
/// runs on a single thread, and mes-api, infra-api, both doubles and the dashboard server all on
/// one thread made the overview's first render depend on everything else the test was serving.
struct FreshDatabase {
    admin: PgPool,
    name: String,
}

impl FreshDatabase {
    async fn create() -> (Self, PgPool) {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL (PostgreSQL for mes-api)");
        let options: PgConnectOptions = url.parse().expect("DATABASE_URL");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .expect("connect to DATABASE_URL");
        let name = format!("dashboard_browser_{}", std::process::id());
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&admin)
                .await
                .unwrap();
        }
        let db = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options.database(&name))
            .await
            .unwrap();
        (Self { admin, name }, db)
    }

    async fn drop(self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.admin)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, Node.js and the built web UI; run by `cargo xtask test` (stage browser)"]
async fn dashboard_in_chromium() {
    let (chromium, assets) = prerequisites();
    let (database, db) = FreshDatabase::create().await;
    let passwords = json!({
        "admin": "browser-admin-pw-1",
        "supervisor": "browser-supervisor-pw-1",
        "operator": "browser-operator-pw-1",
    });
    let mes_api = start_mes_api(db, passwords["admin"].as_str().unwrap()).await;
    let admin = Api::login(&mes_api, "admin", passwords["admin"].as_str().unwrap()).await;
    let station_token = admin.seed(&passwords).await;
    let (double, relay, infra_api) = start_infra_api().await;
    let dashboard = start_dashboard(assets, &mes_api, &infra_api).await;

    // A log that keeps growing, for the logs drawer's follow mode, and live network traffic.
    let pods = pod_names(&double);
    let double = Arc::new(double);
    let ticks = double.clone();
    let ticker = tokio::spawn(async move {
        for tick in 0.. {
            for pod in &pods {
                ticks.append_log(NAMESPACE, pod, "app", &format!("tick {tick}"));
            }
            for flow in plant_flows(&pods, now_seconds()) {
                relay.push(flow).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });

    // A relative directory is taken from the repository root (e.g. `docs/images`).
    let screenshots = std::env::var("DASHBOARD_SCREENSHOT_DIR").map_or_else(
        |_| std::env::temp_dir().join("dashboard-e2e-screenshots"),
        |dir| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(dir)
        },
    );
    let run = tokio::process::Command::new("node")
        .arg("e2e/run.mjs")
        .current_dir(web_dir())
        .env("DASHBOARD_URL", &dashboard)
        .env("MES_API_URL", &mes_api)
        .env("CHROMIUM", &chromium)
        .env("E2E_PASSWORDS", passwords.to_string())
        .env("STATION_TOKEN", &station_token)
        .env("SCREENSHOT_DIR", &screenshots)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(BROWSER_DEADLINE, run)
        .await
        .expect("the browser run took longer than its deadline")
        .expect("could not run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    println!("screenshots: {}", screenshots.display());
    ticker.abort();
    drop(double);
    database.drop().await;
    assert!(
        output.status.success(),
        "the browser run failed ({}); see its output above",
        output.status
    );
    assert!(
        stdout.contains(" passed, 0 failed"),
        "the browser run reported no result"
    );
}
