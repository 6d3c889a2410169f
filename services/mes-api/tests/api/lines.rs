//! Line definitions: create, no-op re-sync, reorder, validation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::harness::{LINE_L1, TestApp, assert_error};

fn l1() -> Value {
    serde_json::from_str(LINE_L1).unwrap()
}

#[sqlx::test(migrations = false)]
async fn put_creates_then_an_identical_put_writes_nothing(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let (s, line) = app.get("/api/v1/lines/L1", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    let codes: Vec<&str> = line["data"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["SPRING", "LMA", "LASER", "EOL", "ROBOT", "PRINT", "PACK"]
    );
    assert_eq!(line["data"]["product_models"], json!(["NH-F2X-001"]));

    let before = app.fingerprint().await;
    let (s, again) = app.put("/api/v1/lines/L1", &app.admin, l1()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["data"]["processes"], line["data"]["processes"]);
    assert_eq!(
        app.fingerprint().await,
        before,
        "an unchanged definition writes nothing"
    );
}

#[sqlx::test(migrations = false)]
async fn processes_can_be_reordered_and_removed(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let mut def = l1();
    def["stations"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["process_code"] != "PRINT");
    def["processes"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["code"] != "PRINT");
    let processes = def["processes"].as_array_mut().unwrap();
    for p in processes.iter_mut() {
        let new_seq = match p["code"].as_str().unwrap() {
            "SPRING" => 2,
            "LMA" => 1,
            "PACK" => 6,
            _ => p["sequence"].as_i64().unwrap(),
        };
        p["sequence"] = json!(new_seq);
    }
    let (s, b) = app.put("/api/v1/lines/L1", &app.admin, def).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let codes: Vec<&str> = b["data"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["LMA", "SPRING", "LASER", "EOL", "ROBOT", "PACK"]);
    let inactive: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM processes WHERE NOT is_active AND process_code = 'PRINT'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        inactive, 1,
        "a removed process is kept, inactive, for its history"
    );
}

#[sqlx::test(migrations = false)]
async fn invalid_definitions_are_refused_with_a_named_reason(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let mut gap = l1();
    gap["processes"][6]["sequence"] = json!(9);
    let mut dup = l1();
    dup["processes"][1]["code"] = json!("SPRING");
    let mut schema = l1();
    schema["processes"][2]["data_schema"] = json!({ "type": "no-such-type" });
    let mut station = l1();
    station["stations"] = json!([{ "name": "S1", "process_code": "WELD" }]);
    let mut model = l1();
    model["product_models"] = json!(["NOPE-1"]);
    let mut empty = l1();
    empty["processes"] = json!([]);
    let cases = [
        (gap, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_ROUTE"),
        (dup, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_ROUTE"),
        (
            schema,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_DATA_SCHEMA",
        ),
        (station, StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_PROCESS"),
        (
            model,
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_PRODUCT_MODEL",
        ),
        (empty, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_ROUTE"),
    ];
    let before = app.fingerprint().await;
    for (body, status, code) in cases {
        let (s, b) = app.put("/api/v1/lines/L1", &app.admin, body).await;
        assert_error(s, &b, status, code);
    }
    let (s, b) = app.put("/api/v1/lines/l%20x", &app.admin, l1()).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "INVALID_LINE_CODE");
    assert_eq!(app.fingerprint().await, before);
}

#[sqlx::test(migrations = false)]
async fn deactivated_lines_take_no_new_lots(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let (s, b) = app
        .call(Method::DELETE, "/api/v1/lines/L1", Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["data"]["active"], false);
    let (s, b) = app
        .post(
            "/api/v1/lots",
            &app.admin,
            json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 1 }),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "LINE_INACTIVE");
    let (s, b) = app
        .call(Method::DELETE, "/api/v1/lines/L9", Some(&app.admin), None)
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "LINE_NOT_FOUND");
}
