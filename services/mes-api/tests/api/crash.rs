//! Exactly-once under failure: mes-api is SIGKILLed and its database connections are cut in
//! the middle of a run of stations that retry with their Idempotency-Keys. Afterwards every event
//! is stored exactly once and every counter agrees with the records.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::harness::{ADMIN_PASSWORD, DEFECT_CODES, JWT_SECRET, LINE_L1, PRODUCT_MODEL};
use crate::production::{ROUTE, data_for};

const STATIONS: usize = 8;
const SERIALS_PER_STATION: usize = 4;

fn database_url(db: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let name = db
        .connect_options()
        .get_database()
        .expect("test database name")
        .to_owned();
    let (head, tail) = base.split_at(base.rfind('/').expect("DATABASE_URL has a path"));
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    format!("{head}/{name}{query}")
}

async fn spawn_api(url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mes-api"))
        .env("DATABASE_URL", url)
        .env("MES_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("MES_JWT_SECRET", JWT_SECRET)
        .env("MES_PLANT_CODE", "KR")
        .env("MES_BOOTSTRAP_ADMIN_USER", "admin")
        .env("MES_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MES_DB_MAX_CONNECTIONS", "8")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mes-api")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "mes-api did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts until the server gives a definitive answer (anything but a connection failure or a 5xx),
/// always with the same key — what a station or the station agent does.
async fn post_until_answered(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = client
            .post(url)
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .timeout(Duration::from_secs(5))
            .json(body)
            .send()
            .await;
        if let Ok(r) = sent {
            let status = r.status();
            if !status.is_server_error() {
                return (status, r.json().await.unwrap_or(Value::Null));
            }
        }
        assert!(Instant::now() < deadline, "no answer for {key} within 60 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn acknowledged_events_survive_kills_exactly_once(db: PgPool) {
    let url = database_url(&db);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut api = spawn_api(&url, port).await;
    wait_ready(&client, &base).await;

    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let token = login["data"]["access_token"].as_str().unwrap().to_owned();
    let post = |path: &str, body: Value| {
        let req = client
            .post(format!("{base}/api/v1{path}"))
            .bearer_auth(&token)
            .json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    post(
        "/product-models",
        serde_json::from_str(PRODUCT_MODEL).unwrap(),
    )
    .await;
    for c in serde_json::from_str::<Vec<Value>>(DEFECT_CODES).unwrap() {
        post("/defect-codes", c).await;
    }
    client
        .put(format!("{base}/api/v1/lines/L1"))
        .bearer_auth(&token)
        .json(&serde_json::from_str::<Value>(LINE_L1).unwrap())
        .send()
        .await
        .unwrap();
    let total = STATIONS * SERIALS_PER_STATION;
    let lot = post(
        "/lots",
        json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": total }),
    )
    .await;
    let lot_number = lot["data"]["lot_number"].as_str().unwrap().to_owned();
    let serials = post(
        &format!("/lots/{lot_number}/serials"),
        json!({ "quantity": total }),
    )
    .await;
    let serials: Vec<String> = serials["data"]["serials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let stations = serials.chunks(SERIALS_PER_STATION).enumerate().map(|(i, mine)| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let mine = mine.to_vec();
        async move {
            let mut acknowledged = 0;
            for sn in &mine {
                for process in ROUTE {
                    let start = json!({ "serial_number": sn, "process_code": process, "operator_id": format!("W{i}") });
                    let (s, b) = post_until_answered(&client, &format!("{base}/api/v1/process/start"), &token, &format!("{sn}/{process}/start"), &start).await;
                    assert_eq!(s, StatusCode::OK, "{sn} {process} start: {b}");
                    let complete = json!({ "serial_number": sn, "process_code": process, "is_pass": true,
                                           "process_specific_data": data_for(process) });
                    let (s, b) = post_until_answered(&client, &format!("{base}/api/v1/process/complete"), &token, &format!("{sn}/{process}/complete"), &complete).await;
                    assert_eq!(s, StatusCode::OK, "{sn} {process} complete: {b}");
                    acknowledged += 2;
                }
            }
            acknowledged
        }
    });
    let chaos = {
        let (client, base, url, done) = (client.clone(), base.clone(), url.clone(), done.clone());
        let db = db.clone();
        async move {
            let progress = |db: PgPool| async move {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM process_data")
                    .fetch_one(&db)
                    .await
                    .unwrap()
            };
            // Kill mes-api once a third of the work is done, mid-flight.
            while progress(db.clone()).await < (total * 7 / 3) as i64 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            api.start_kill().unwrap();
            api.wait().await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut api = spawn_api(&url, port).await;
            wait_ready(&client, &base).await;
            // Then cut every database connection, as a PostgreSQL restart would.
            while progress(db.clone()).await < (total * 7 * 2 / 3) as i64 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let name = db.connect_options().get_database().unwrap().to_owned();
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = 'mes-api'")
                .bind(name)
                .execute(&db)
                .await
                .unwrap();
            while !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            api.start_kill().ok();
        }
    };
    let stations = async {
        let acknowledged: usize = join_all(stations).await.into_iter().sum();
        done.store(true, Ordering::SeqCst);
        acknowledged
    };
    let (acknowledged, ()) = tokio::join!(stations, chaos);
    assert_eq!(acknowledged, total * 14);

    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM process_data")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(
        records,
        (total * 7) as i64,
        "every event stored exactly once"
    );
    let duplicates: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT serial_id, process_id FROM process_data GROUP BY 1, 2 HAVING count(*) > 1) d",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(duplicates, 0);
    let (actual, status): (i32, String) =
        sqlx::query_as("SELECT actual_quantity, status FROM lots")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((actual, status.as_str()), (total as i32, "COMPLETED"));
    let (started, passed, completed): (i64, i64, i64) = sqlx::query_as(
        "SELECT sum(started)::int8, sum(passed)::int8, sum(completed)::int8 FROM process_rollups",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        (started, passed, completed),
        ((total * 7) as i64, (total * 7) as i64, total as i64),
        "counters agree with records"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE table_name = 'process_data' AND action = 'INSERT'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(audited, (total * 7) as i64, "every record audited once");
}
