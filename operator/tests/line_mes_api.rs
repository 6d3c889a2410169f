//! The ProductionLine controller against a real mes-api (in-process, on 127.0.0.1) backed by a
//! fresh PostgreSQL database, with the operator's Kubernetes side on kube-double.
//! Needs PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use mes_operator::crd::{MesPlant, ProductionLine};
use mes_operator::line;
use mes_operator::reconcile::LineSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};

const NS: &str = "plant-kr";
const JWT_SECRET: &str = "operator-test-secret-operator-test-secret";
const ADMIN_PASSWORD: &str = "bootstrap-admin-pw";

fn demo(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../xtask/demo")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn example_line() -> ProductionLine {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/examples/productionline-l1.yaml");
    yaml_serde::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// mes-api on its own fresh database; dropped (best effort) with the value.
struct MesApi {
    base: String,
    http: reqwest::Client,
    admin: String,
    server: String,
    database: String,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_mes_api() -> MesApi {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("mes_operator_{}_{}", std::process::id(), rand_suffix());
    let mut admin_conn = PgConnection::connect(&server).await.unwrap();
    admin_conn
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let (prefix, _) = server.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{name}");
    let db = PgPool::connect(&url).await.unwrap();
    let env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", url.clone()),
        ("MES_JWT_SECRET", JWT_SECRET.into()),
        ("MES_PLANT_CODE", "KR".into()),
        ("MES_TIMEZONE", "Asia/Seoul".into()),
        ("MES_BOOTSTRAP_ADMIN_USER", "admin".into()),
        ("MES_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("MES_LOGIN_ATTEMPTS_PER_MINUTE", "1000".into()),
    ];
    let config = mes_api::config::Config::from_lookup(|k| {
        env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .unwrap();
    let state = mes_api::prepare(db, config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(mes_api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["data"]["access_token"].as_str().unwrap().to_owned();
    MesApi {
        base,
        http,
        admin,
        server,
        database: name,
        stop,
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) % 1_000_000_000
}

impl MesApi {
    /// Stops mes-api and drops its database (a failed test leaves it behind for inspection).
    async fn finish(self) {
        let _ = self.stop.send(());
        let mut conn = PgConnection::connect(&self.server).await.unwrap();
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database);
        conn.execute(sqlx::AssertSqlSafe(drop)).await.unwrap();
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        let (s, b) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(s.is_success(), "POST {path}: {s} {b}");
        b
    }
}

async fn line_status(client: &Client, name: &str) -> Option<ProductionLine> {
    Api::<ProductionLine>::namespaced(client.clone(), NS)
        .get_opt(name)
        .await
        .unwrap()
}

fn condition(l: &ProductionLine, type_: &str) -> Option<(String, String)> {
    l.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

async fn wait_line(
    client: &Client,
    name: &str,
    what: &str,
    check: impl Fn(&ProductionLine) -> bool,
) {
    let check = &check;
    eventually(what, || async move {
        line_status(client, name).await.is_some_and(|l| check(&l))
    })
    .await;
}

/// The plant's `status.lines` once it equals `expected`.
async fn wait_plant_lines(client: &Client, expected: &[&str]) {
    let plants = Api::<MesPlant>::namespaced(client.clone(), NS);
    let plants = &plants;
    eventually(&format!("plant kr lists {expected:?}"), || async move {
        plants
            .get_opt("kr")
            .await
            .unwrap()
            .and_then(|p| p.status)
            .is_some_and(|s| s.lines == expected)
    })
    .await;
}

/// Events the operator's recorder published (`events.k8s.io/v1`) with `reason`.
fn events_with_reason(double: &kube_double::KubeDouble, reason: &str) -> usize {
    double
        .list("events.k8s.io/v1", "Event")
        .iter()
        .filter(|e| e["reason"] == reason && e["regarding"]["kind"] == "ProductionLine")
        .count()
}

#[test]
fn minted_tokens_pass_mes_apis_own_verification() {
    let keys = ::mes_api::auth::jwt::JwtKeys::new(JWT_SECRET.as_bytes(), Duration::from_secs(3600));
    let now = chrono::Utc::now().timestamp();
    let token = mes_operator::mes_api::mint_admin_token(JWT_SECRET.as_bytes(), now).unwrap();
    let claims = keys.verify(&token).unwrap();
    assert_eq!(claims.role, mes_api::auth::Role::Admin);
    assert_eq!(claims.sub, "mes-operator");
    let other =
        mes_operator::mes_api::mint_admin_token(b"not-the-plant-key-not-the-plant-key", now)
            .unwrap();
    assert!(
        keys.verify(&other).is_err(),
        "a token from another key is refused"
    );
}

#[test]
fn the_rendered_definition_is_what_mes_api_accepts() {
    let body = line::definition(&example_line().spec);
    // mes-api's own request type (deny_unknown_fields) accepts it …
    serde_json::from_value::<mes_api::http::lines::LineDefinition>(body.clone()).unwrap();
    // … and it is the demo line the example was written from.
    assert_eq!(body, demo("line-L1.json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_sync_into_mes_api_report_kpis_and_are_deactivated_on_delete() {
    let api = start_mes_api().await;
    let op = start_operator_with(LineSettings {
        mes_api_url: Some(api.base.clone()),
        refresh: Duration::from_millis(500),
    })
    .await;
    let client = op.client.clone();
    op.double.ensure_namespace(NS).unwrap();
    let lines: Api<ProductionLine> = Api::namespaced(client.clone(), NS);

    // A line without its plant waits with a clear reason.
    lines
        .create(&PostParams::default(), &example_line())
        .await
        .unwrap();
    wait_line(&client, "kr-l1", "PlantNotFound", |l| {
        condition(l, "Synced") == Some(("False".into(), "PlantNotFound".into()))
    })
    .await;

    // The plant appears (its JWT Secret holds mes-api's key) but is not Ready yet.
    let mut secret = Secret::default();
    secret.metadata.name = Some("mes-jwt".into());
    secret.string_data = Some([("secret".to_string(), JWT_SECRET.to_string())].into());
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let plant: MesPlant = serde_json::from_value(json!({
        "apiVersion": "mes.smartfactory.io/v1alpha1", "kind": "MesPlant",
        "metadata": {"name": "kr", "namespace": NS},
        "spec": {"plantCode": "KR", "auth": {"jwtSecretRef": "mes-jwt"}},
    }))
    .unwrap();
    Api::<MesPlant>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &plant)
        .await
        .unwrap();
    wait_line(&client, "kr-l1", "PlantNotReady", |l| {
        condition(l, "Synced") == Some(("False".into(), "PlantNotReady".into()))
    })
    .await;

    // Plant Ready → the sync reaches mes-api, which refuses the unknown product model: the
    // refusal shows in the condition, and the line syncs once the model exists.
    let d = &op.double;
    eventually("the plant's workloads", || async move {
        ["kr-api", "kr-dashboard", "kr-infra"]
            .iter()
            .all(|n| d.get("apps/v1", "Deployment", NS, n).is_some())
            && d.get("apps/v1", "StatefulSet", NS, "kr-db").is_some()
    })
    .await;
    for n in ["kr-api", "kr-dashboard", "kr-infra"] {
        op.double.mark_deployment_ready(NS, n).unwrap();
    }
    op.double.mark_statefulset_ready(NS, "kr-db").unwrap();
    wait_line(&client, "kr-l1", "MesApiRejected", |l| {
        condition(l, "Synced") == Some(("False".into(), "MesApiRejected".into()))
    })
    .await;
    api.post("/api/v1/product-models", demo("product-model.json"))
        .await;
    wait_line(&client, "kr-l1", "Synced and Ready", |l| {
        let s = l.status.as_ref().unwrap();
        condition(l, "Synced") == Some(("True".into(), "Synced".into()))
            && condition(l, "Ready") == Some(("True".into(), "KpisRefreshed".into()))
            && s.synced_generation == l.metadata.generation
            && s.process_count == Some(7)
            && s.wip == Some(0)
    })
    .await;
    // The plant lists the synced line (before the idle window: that write is still due).
    wait_plant_lines(&client, &["L1"]).await;

    // Idle (no production, nothing changed): refreshes keep running and write nothing.
    let reconciles = || {
        op.metrics
            .reconciles
            .with_label_values(&["ProductionLine"])
            .get()
    };
    let writes_before = op.double.write_count();
    let (reconciles_before, r) = (reconciles(), &reconciles);
    eventually("three idle refreshes", || async move {
        r() >= reconciles_before + 3
    })
    .await;
    let extra: Vec<_> = op.double.writes().into_iter().skip(writes_before).collect();
    assert!(extra.is_empty(), "idle line refreshes wrote: {extra:?}");

    // The line with its processes is in mes-api, written by the operator's token.
    let (s, body) = api.get("/api/v1/lines/L1").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let codes: Vec<&str> = body["data"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["SPRING", "LMA", "LASER", "EOL", "ROBOT", "PRINT", "PACK"]
    );
    assert_eq!(body["data"]["active"], true);
    assert_eq!(body["data"]["product_models"], json!(["NH-F2X-001"]));
    assert!(events_with_reason(&op.double, "Synced") >= 1);

    // Station events through the API → the KPIs flow into the status.
    for code in demo("defect-codes.json").as_array().unwrap() {
        api.post("/api/v1/defect-codes", code.clone()).await;
    }
    let lot = api
        .post(
            "/api/v1/lots",
            json!({"line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 3}),
        )
        .await["data"]["lot_number"]
        .as_str()
        .unwrap()
        .to_owned();
    let serials: Vec<String> = api
        .post(
            &format!("/api/v1/lots/{lot}/serials"),
            json!({"quantity": 3}),
        )
        .await["data"]["serials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let start =
        |sn: &str, p: &str| json!({"serial_number": sn, "process_code": p, "operator_id": "W001"});
    let complete = |sn: &str, p: &str, pass: bool| {
        let mut b = json!({"serial_number": sn, "process_code": p, "operator_id": "W001",
                           "is_pass": pass, "process_specific_data": process_data(p)});
        if !pass {
            b["defect_code"] = json!("D001");
        }
        b
    };
    for p in ["SPRING", "LMA", "LASER", "EOL", "ROBOT", "PRINT", "PACK"] {
        api.post("/api/v1/process/start", start(&serials[0], p))
            .await;
        api.post("/api/v1/process/complete", complete(&serials[0], p, true))
            .await;
    }
    api.post("/api/v1/process/start", start(&serials[1], "SPRING"))
        .await;
    api.post(
        "/api/v1/process/complete",
        complete(&serials[1], "SPRING", false),
    )
    .await;
    api.post("/api/v1/process/start", start(&serials[2], "SPRING"))
        .await;
    wait_line(&client, "kr-l1", "KPIs in status", |l| {
        let s = l.status.as_ref().unwrap();
        s.wip == Some(2)
            && s.completed_today == Some(1)
            && s.yield_percent == Some(87.5)
            && s.throughput_per_hour.is_some_and(|t| t > 0.0)
    })
    .await;

    // Deleting the line deactivates it in mes-api, then the finalizer lets go.
    let stored = line_status(&client, "kr-l1").await.unwrap();
    assert!(
        stored
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == "mes.smartfactory.io/deactivate-line"))
    );
    lines
        .delete("kr-l1", &DeleteParams::default())
        .await
        .unwrap();
    let c = &client;
    eventually("the line is gone", || async move {
        line_status(c, "kr-l1").await.is_none()
    })
    .await;
    let (_, body) = api.get("/api/v1/lines/L1").await;
    assert_eq!(body["data"]["active"], false, "{body}");
    wait_plant_lines(&client, &[]).await;
    assert!(events_with_reason(&op.double, "LineDeactivated") >= 1);

    // A line whose plant is gone is released without anyone to tell.
    let mut l2 = example_line();
    l2.metadata.name = Some("kr-l2".into());
    l2.spec.line_code = "L2".into();
    lines.create(&PostParams::default(), &l2).await.unwrap();
    wait_line(&client, "kr-l2", "L2 synced", |l| {
        condition(l, "Synced").is_some_and(|(s, _)| s == "True")
    })
    .await;
    wait_plant_lines(&client, &["L2"]).await;
    Api::<MesPlant>::namespaced(client.clone(), NS)
        .delete("kr", &DeleteParams::default())
        .await
        .unwrap();
    lines
        .delete("kr-l2", &DeleteParams::default())
        .await
        .unwrap();
    eventually("L2 released", || async move {
        line_status(c, "kr-l2").await.is_none()
    })
    .await;
    assert!(events_with_reason(&op.double, "PlantGone") >= 1);
    let (_, body) = api.get("/api/v1/lines/L2").await;
    assert_eq!(body["data"]["active"], true, "nobody deactivated L2");
    api.finish().await;
}

/// `process_specific_data` that satisfies the demo line's schemas.
fn process_data(process: &str) -> Value {
    match process {
        "SPRING" => {
            json!({"inspection_result": "OK", "spring_type": "Type-A", "spring_length": 45.2})
        }
        "LMA" => {
            json!({"lma_model": "LMA-2024-V2", "assembly_complete": true, "torque_test": 5.2, "alignment_check": "OK"})
        }
        "LASER" => json!({"marking_quality": 5, "power_level": 80, "marking_duration": 12}),
        "EOL" => {
            json!({"temperature_sensor": 25.3, "tof_sensor": 1523, "firmware_version": "v2.5.1",
                        "firmware_upload_status": "success", "battery_voltage": 12.5})
        }
        "ROBOT" => {
            json!({"performance_score": 95, "motion_test": "OK", "accuracy_test": 98.5, "speed_test": "PASS"})
        }
        "PRINT" => {
            json!({"label_path": "/storage/labels/x.png", "printing_status": "completed", "printer_id": "PRINTER-01"})
        }
        _ => {
            json!({"package_type": "Standard Box", "package_weight": 3.2, "package_id": "PKG-20251110-001"})
        }
    }
}
