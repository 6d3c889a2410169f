//! LOT and serial numbers under concurrency, and the end of the number space.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::harness::{TestApp, assert_error};

fn lot_body() -> serde_json::Value {
    json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 10,
            "production_date": "2025-11-09", "shift": "D" })
}

#[sqlx::test(migrations = false)]
async fn concurrent_lots_get_distinct_contiguous_numbers(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let supervisor = app.user_token("sup", "SUPERVISOR").await;
    let calls = (0..64).map(|_| app.post("/api/v1/lots", &supervisor, lot_body()));
    let mut numbers: Vec<String> = join_all(calls)
        .await
        .into_iter()
        .map(|(s, b)| {
            assert_eq!(s, StatusCode::CREATED, "{b}");
            b["data"]["lot_number"].as_str().unwrap().to_owned()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=64).map(|i| format!("FN-KR-251109D-{i:03}")).collect();
    assert_eq!(numbers, expected);
}

#[sqlx::test(migrations = false)]
async fn the_1000th_lot_of_a_shift_is_refused(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    // Fast-forward the allocator instead of creating 998 LOTs one by one.
    sqlx::query("INSERT INTO lot_sequences (plant_code, production_date, shift, last_seq) VALUES ('KR', '2025-11-09', 'D', 998)")
        .execute(&app.db)
        .await
        .unwrap();
    let (s, b) = app.post("/api/v1/lots", &app.admin, lot_body()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["data"]["lot_number"], "FN-KR-251109D-999");

    let before = app.fingerprint().await;
    let (s, b) = app.post("/api/v1/lots", &app.admin, lot_body()).await;
    assert_error(s, &b, StatusCode::CONFLICT, "LOT_SEQUENCE_EXHAUSTED");
    assert_eq!(
        app.fingerprint().await,
        before,
        "a refused LOT writes nothing"
    );

    // Another shift of the same day is unaffected.
    let (s, b) = app
        .post(
            "/api/v1/lots",
            &app.admin,
            json!({ "line_code": "L1", "product_model_code": "NH-F2X-001",
            "target_quantity": 1, "production_date": "2025-11-09", "shift": "N" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["data"]["lot_number"], "FN-KR-251109N-001");
}

#[sqlx::test(migrations = false)]
async fn lot_date_and_shift_default_to_the_plant_clock(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let (s, b) = app
        .post(
            "/api/v1/lots",
            &app.admin,
            json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 1 }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let schedule = mes_core::ShiftSchedule::parse("Asia/Seoul", "08:00", "20:00").unwrap();
    let now = chrono::Utc::now();
    let slot = schedule.production_slot(now);
    let lot: mes_core::LotNumber = b["data"]["lot_number"].as_str().unwrap().parse().unwrap();
    // The request could straddle a shift change; accept the slot of a second later too.
    let later = schedule.production_slot(now + chrono::Duration::seconds(5));
    assert!(
        (lot.date(), lot.shift()) == (slot.date, slot.shift)
            || (lot.date(), lot.shift()) == (later.date, later.shift),
        "{lot} vs {slot:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn concurrent_serial_requests_get_distinct_contiguous_numbers(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(100).await;
    let path = format!("/api/v1/lots/{lot}/serials");
    let calls = (0..64).map(|_| app.post(&path, &app.admin, json!({ "quantity": 1 })));
    let mut numbers: Vec<String> = join_all(calls)
        .await
        .into_iter()
        .flat_map(|(s, b)| {
            assert_eq!(s, StatusCode::CREATED, "{b}");
            b["data"]["serials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=64).map(|i| format!("{lot}-{i:04}")).collect();
    assert_eq!(numbers, expected);
}

#[sqlx::test(migrations = false)]
async fn serials_respect_the_target_all_or_nothing(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(10).await;
    let path = format!("/api/v1/lots/{lot}/serials");
    let (s, b) = app.post(&path, &app.admin, json!({ "quantity": 8 })).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["data"]["generated_count"], 8);

    let before = app.fingerprint().await;
    let (s, b) = app.post(&path, &app.admin, json!({ "quantity": 3 })).await;
    assert_error(s, &b, StatusCode::CONFLICT, "TARGET_QUANTITY_EXCEEDED");
    assert_eq!(b["error"]["details"]["available"], 2);
    assert_eq!(
        app.fingerprint().await,
        before,
        "nothing of a refused batch is written"
    );

    let (s, b) = app.post(&path, &app.admin, json!({ "quantity": 2 })).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["data"]["serials"][1], format!("{lot}-0010"));
}

#[sqlx::test(migrations = false)]
async fn the_10000th_serial_of_a_lot_is_refused(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(9999).await;
    let path = format!("/api/v1/lots/{lot}/serials");
    let (s, b) = app
        .post(&path, &app.admin, json!({ "quantity": 9999 }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["data"]["serials"][9998], format!("{lot}-9999"));

    let before = app.fingerprint().await;
    let (s, b) = app.post(&path, &app.admin, json!({ "quantity": 1 })).await;
    assert_error(s, &b, StatusCode::CONFLICT, "SERIAL_SEQUENCE_EXHAUSTED");
    assert_eq!(app.fingerprint().await, before);
}

#[sqlx::test(migrations = false)]
async fn lot_and_serial_creation_are_exactly_once_with_a_key(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let send = |path: String, key: &'static str, body: serde_json::Value| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let lots = join_all((0..8).map(|_| send("/api/v1/lots".into(), "lot-1", lot_body()))).await;
    let mut numbers = Vec::new();
    for r in lots {
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let b: serde_json::Value = r.json().await.unwrap();
        numbers.push(b["data"]["lot_number"].as_str().unwrap().to_owned());
    }
    numbers.dedup();
    assert_eq!(
        numbers,
        ["FN-KR-251109D-001"],
        "one LOT however often the request is retried"
    );
    let path = format!("/api/v1/lots/{}/serials", numbers[0]);
    let first: serde_json::Value = send(path.clone(), "ser-1", json!({ "quantity": 3 }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = send(path.clone(), "ser-1", json!({ "quantity": 3 }))
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(first["data"], again["data"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM serials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 3);
    let (s, b) = {
        let r = send(path, "ser-1", json!({ "quantity": 4 })).await.unwrap();
        let s = r.status();
        (s, r.json::<serde_json::Value>().await.unwrap())
    };
    assert_error(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    );
}
