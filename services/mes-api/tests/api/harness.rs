//! Starts mes-api on 127.0.0.1:0 for one test and talks to it like a client would.

use std::collections::HashMap;

use mes_api::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
pub const ADMIN_PASSWORD: &str = "bootstrap-admin-pw";

pub const LINE_L1: &str = include_str!("../../../../xtask/demo/line-L1.json");
pub const DEFECT_CODES: &str = include_str!("../../../../xtask/demo/defect-codes.json");
pub const PRODUCT_MODEL: &str = include_str!("../../../../xtask/demo/product-model.json");

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub admin: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub fn config(extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", "postgres://unused"),
        ("MES_JWT_SECRET", JWT_SECRET),
        ("MES_PLANT_CODE", "KR"),
        ("MES_TIMEZONE", "Asia/Seoul"),
        ("MES_BOOTSTRAP_ADMIN_USER", "admin"),
        ("MES_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("MES_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
        ("MES_MAX_BODY_BYTES", "65536"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("test config")
}

impl TestApp {
    pub async fn start(db: PgPool) -> Self {
        Self::start_with(db, &[]).await
    }

    pub async fn start_with(db: PgPool, extra: &[(&str, &str)]) -> Self {
        let state = mes_api::prepare(db.clone(), config(extra))
            .await
            .expect("prepare");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mes_api::serve(listener, state, async {
            let _ = rx.await;
        }));
        let mut app = Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            admin: String::new(),
            _shutdown: tx,
        };
        app.admin = app.login("admin", ADMIN_PASSWORD).await;
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({ "username": username, "password": password })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["data"]["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends a JSON request; returns status and parsed body (Null when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Creates a user with `role` and returns a token for them.
    pub async fn user_token(&self, username: &str, role: &str) -> String {
        let password = format!("{username}-password");
        let (status, body) = self
            .post(
                "/api/v1/users",
                &self.admin,
                json!({ "username": username, "password": password, "role": role }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.login(username, &password).await
    }

    /// The demo plant's master data: product model, defect codes, line L1 with 7 processes.
    pub async fn seed_line(&self) {
        let (s, b) = self
            .post(
                "/api/v1/product-models",
                &self.admin,
                serde_json::from_str(PRODUCT_MODEL).unwrap(),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let codes: Vec<Value> = serde_json::from_str(DEFECT_CODES).unwrap();
        for c in codes {
            let (s, b) = self.post("/api/v1/defect-codes", &self.admin, c).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
        let (s, b) = self
            .put(
                "/api/v1/lines/L1",
                &self.admin,
                serde_json::from_str(LINE_L1).unwrap(),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    /// Creates a LOT on line L1 for a fixed production slot and returns its number.
    pub async fn create_lot(&self, target: i32) -> String {
        let (s, b) = self
            .post(
                "/api/v1/lots",
                &self.admin,
                json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": target,
                        "production_date": "2025-11-09", "shift": "D" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["data"]["lot_number"].as_str().unwrap().to_owned()
    }

    /// Row counts of every table an API write can touch: equal before and after means nothing
    /// was written (audit_log alone would show any audited write).
    pub async fn fingerprint(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for table in [
            "audit_log",
            "status_history",
            "users",
            "api_tokens",
            "production_lines",
            "processes",
            "line_product_models",
            "product_models",
            "defect_codes",
            "lots",
            "lot_sequences",
            "serials",
            "process_data",
            "reworks",
        ] {
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&self.db)
                    .await
                    .unwrap();
            out.push((table.to_owned(), n));
        }
        let serial_total: i64 =
            sqlx::query_scalar("SELECT coalesce(sum(serial_count), 0)::int8 FROM lots")
                .fetch_one(&self.db)
                .await
                .unwrap();
        out.push(("lots.serial_count".into(), serial_total));
        out
    }
}

/// Asserts an error envelope with `code`.
#[track_caller]
pub fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "body: {body}");
    assert_eq!(body["success"], json!(false), "body: {body}");
    assert_eq!(body["error"]["code"], json!(want_code), "body: {body}");
    assert!(body["timestamp"].is_string(), "body: {body}");
}
