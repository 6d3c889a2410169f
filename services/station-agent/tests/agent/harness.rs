//! mes-api in-process on 127.0.0.1, a station folder in a temp dir, and a fault-injecting proxy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Value, json};
use sqlx::PgPool;
use station_agent::agent::{Agent, Mode, Summary};
use station_agent::config::Config;
use station_agent::event::Kind;
use station_agent::layout::Layout;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
pub const ADMIN_PASSWORD: &str = "bootstrap-admin-pw";
pub const LINE_L1: &str = include_str!("../../../../xtask/demo/line-L1.json");
pub const DEFECT_CODES: &str = include_str!("../../../../xtask/demo/defect-codes.json");
pub const PRODUCT_MODEL: &str = include_str!("../../../../xtask/demo/product-model.json");

pub fn api_config() -> mes_api::config::Config {
    let env: HashMap<&str, &str> = [
        ("DATABASE_URL", "postgres://unused"),
        ("MES_JWT_SECRET", JWT_SECRET),
        ("MES_PLANT_CODE", "KR"),
        ("MES_BOOTSTRAP_ADMIN_USER", "admin"),
        ("MES_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("MES_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
    ]
    .into_iter()
    .collect();
    mes_api::config::Config::from_lookup(|k| env.get(k).map(|v| (*v).to_owned())).unwrap()
}

/// A running mes-api with line L1 seeded, a station token and serials started on SPRING.
pub struct Mes {
    pub base: String,
    pub db: PgPool,
    pub admin: String,
    pub station_token: String,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Mes {
    pub async fn start(db: PgPool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let state = mes_api::prepare(db.clone(), api_config()).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mes_api::serve(listener, state, async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::new();
        let mut mes = Self {
            base,
            db,
            admin: String::new(),
            station_token: String::new(),
            client,
            _stop: tx,
        };
        let (s, b) = mes
            .call(
                "/api/v1/auth/login",
                None,
                json!({"username": "admin", "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        mes.admin = b["data"]["access_token"].as_str().unwrap().to_owned();
        mes.seed_line().await;
        let (s, b) = mes
            .call(
                "/api/v1/api-tokens",
                Some(&mes.admin),
                json!({"name": "STATION-01", "workstation": "STATION-01", "process_code": "SPRING"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        mes.station_token = b["data"]["token"].as_str().unwrap().to_owned();
        mes
    }

    pub async fn call(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .client
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn seed_line(&self) {
        let (s, b) = self
            .call(
                "/api/v1/product-models",
                Some(&self.admin),
                serde_json::from_str(PRODUCT_MODEL).unwrap(),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let codes: Vec<Value> = serde_json::from_str(DEFECT_CODES).unwrap();
        for c in codes {
            let (s, b) = self
                .call("/api/v1/defect-codes", Some(&self.admin), c)
                .await;
            assert_eq!(s, 201, "{b}");
        }
        let (s, b) = self
            .put("/api/v1/lines/L1", serde_json::from_str(LINE_L1).unwrap())
            .await;
        assert_eq!(s, 201, "{b}");
    }

    /// `n` new serials (in LOTs of up to 9999), not started.
    pub async fn serials(&self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let quantity = (n - out.len()).min(9999);
            let (s, b) = self
                .call(
                    "/api/v1/lots",
                    Some(&self.admin),
                    json!({"line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": quantity,
                           "production_date": "2025-11-09", "shift": "D"}),
                )
                .await;
            assert_eq!(s, 201, "{b}");
            let lot = b["data"]["lot_number"].as_str().unwrap().to_owned();
            let (s, b) = self
                .call(
                    &format!("/api/v1/lots/{lot}/serials"),
                    Some(&self.admin),
                    json!({"quantity": quantity}),
                )
                .await;
            assert_eq!(s, 201, "{b}");
            out.extend(
                b["data"]["serials"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned()),
            );
        }
        out
    }

    /// `n` serials with SPRING started, ready for a COMPLETE file.
    pub async fn started_serials(&self, n: usize) -> Vec<String> {
        let serials = self.serials(n).await;
        for sn in &serials {
            let (s, b) = self
                .call(
                    "/api/v1/process/start",
                    Some(&self.station_token),
                    json!({"serial_number": sn, "process_code": "SPRING", "operator_id": "W001"}),
                )
                .await;
            assert_eq!(s, 200, "{b}");
        }
        serials
    }

    /// Finished (COMPLETED or FAILED) process records per serial.
    pub async fn finished_records(&self) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT s.serial_number, count(*) FROM process_data d JOIN serials s ON s.id = d.serial_id
             WHERE d.status IN ('COMPLETED', 'FAILED') GROUP BY s.serial_number",
        )
        .fetch_all(&self.db)
        .await
        .unwrap();
        rows.into_iter().collect()
    }

    pub async fn finished_count(&self) -> i64 {
        self.finished_records().await.values().sum()
    }
}

/// A COMPLETE file for SPRING, as a process app writes it (seed 001 §3.5.3).
pub fn complete_file(serial: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "serial_number": serial,
        "process_code": "SPRING",
        "operator_id": "W001",
        "is_pass": true,
        "cycle_time": 118,
        "process_specific_data": {"inspection_result": "OK", "spring_type": "Type-A", "spring_length": 45.2},
        "inspection_result": {"visual_check": "OK"},
        "defect_code": null,
        "defect_description": null,
        // A little ahead: some tests write the file before its START is sent, and mes-api
        // refuses a completion before the start (it allows up to 5 minutes ahead).
        "timestamp": (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc3339()
    }))
    .unwrap()
}

/// A station folder with its configuration.
pub struct Station {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
}

impl Station {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        Self { dir, layout }
    }

    /// The TOML a station PC would have: fast timings so tests do not wait for 1+2+4 s.
    pub fn toml(&self, api: &str, token: &str) -> String {
        format!(
            r#"station_id = "STATION-01"
process_code = "SPRING"
base_dir = '{}'
watch_start = true
[api]
url = "{api}"
token = "{token}"
timeout_ms = 5000
[timing]
settle_ms = 50
rescan_ms = 200
drain_interval_ms = 200
retry_delays_ms = [10, 20, 40]
[log]
level = "station_agent=debug,warn"
"#,
            self.dir.path().display()
        )
    }

    pub fn config(&self, api: &str, token: &str) -> Config {
        Config::from_toml_and_env(&self.toml(api, token), &[]).unwrap()
    }

    pub fn input(&self, kind: Kind) -> PathBuf {
        self.layout.input(kind)
    }

    /// Writes a file the way a well-behaved process app does: temp file, then rename. Its
    /// mtime is set `age` in the past, so order of arrival is explicit.
    pub fn drop_file(&self, kind: Kind, name: &str, content: &[u8], age: Duration) -> PathBuf {
        let dir = self.input(kind);
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, content).unwrap();
        let f = std::fs::File::options().write(true).open(&tmp).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
        drop(f);
        let target = dir.join(name);
        std::fs::rename(&tmp, &target).unwrap();
        target
    }

    /// Every regular file below `sub` (recursively), with `.error.txt` reports left out.
    pub fn files(&self, sub: &str) -> Vec<PathBuf> {
        fn walk(p: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(p) else {
                return;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if !path.to_string_lossy().ends_with(".error.txt") {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join(sub), &mut out);
        out.sort();
        out
    }

    /// Every `.error.txt` below error/, for failure messages.
    pub fn reports(&self) -> String {
        let mut out = String::new();
        for f in self.files("error") {
            out.push_str(
                &std::fs::read_to_string(format!("{}.error.txt", f.display())).unwrap_or_default(),
            );
        }
        out
    }

    pub async fn run_once(&self, config: &Config) -> Summary {
        let (_tx, rx) = watch::channel(false);
        Agent::new(config, rx)
            .unwrap()
            .run(Mode::Once)
            .await
            .unwrap()
    }
}

/// Waits for `cond`, polling; fails after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What the proxy saw: path, Idempotency-Key and the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub key: Option<String>,
    pub status: u16,
}

/// A reverse proxy in front of mes-api that answers 500 to the first `fail_first` requests.
#[derive(Clone)]
pub struct Proxy {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub fail_first: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    seen: Arc<Mutex<Vec<Seen>>>,
    fail_first: Arc<AtomicUsize>,
    count: Arc<AtomicUsize>,
}

impl Proxy {
    pub async fn start(upstream: &str, fail_first: usize) -> Self {
        Self::start_on(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            upstream,
            fail_first,
        )
    }

    pub fn start_on(listener: TcpListener, upstream: &str, fail_first: usize) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = ProxyState {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            seen: Arc::default(),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
            count: Arc::default(),
        };
        let proxy = Self {
            base,
            seen: state.seen.clone(),
            fail_first: state.fail_first.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        proxy
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn forward(State(st): State<ProxyState>, req: Request) -> Response {
    let n = st.count.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let record = |status: u16| {
        st.seen.lock().unwrap().push(Seen {
            path: path.clone(),
            key: key.clone(),
            status,
        });
    };
    if n < st.fail_first.load(Ordering::SeqCst) {
        record(500);
        return Response::builder()
            .status(500)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"success":false,"error":{"code":"INTERNAL_ERROR","message":"injected failure"}}"#))
            .unwrap();
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 4 << 20)
        .await
        .unwrap();
    let mut out = st
        .client
        .request(method, format!("{}{}", st.upstream, path))
        .body(body);
    for name in ["authorization", "content-type", "idempotency-key"] {
        if let Some(v) = headers.get(name) {
            out = out.header(name, v);
        }
    }
    let res = out.send().await.unwrap();
    let status = res.status().as_u16();
    record(status);
    let bytes = res.bytes().await.unwrap();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .unwrap()
}
