//! Bad input on every write endpoint gets a 4xx envelope with a specific code, and the database
//! is unchanged afterwards.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::harness::{LINE_L1, TestApp, assert_error};

const INJECTION: &str = "x'); DROP TABLE lots; --";

struct WriteEndpoint {
    method: Method,
    path: String,
    valid: Value,
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, Value) {
    let res = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.admin)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[sqlx::test(migrations = false)]
async fn every_write_endpoint_refuses_bad_bodies_and_writes_nothing(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(10).await;
    let endpoints = [
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/auth/login".into(),
            valid: json!({ "username": "admin", "password": "pw-pw-pw-pw" }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/users".into(),
            valid: json!({ "username": "lee", "password": "lee-password", "role": "OPERATOR" }),
        },
        WriteEndpoint {
            method: Method::PATCH,
            path: "/api/v1/users/1".into(),
            valid: json!({ "full_name": "Admin" }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/api-tokens".into(),
            valid: json!({ "name": "STATION-05" }),
        },
        WriteEndpoint {
            method: Method::PUT,
            path: "/api/v1/lines/L1".into(),
            valid: serde_json::from_str(LINE_L1).unwrap(),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/product-models".into(),
            valid: json!({ "model_code": "M-2", "model_name": "Two" }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/defect-codes".into(),
            valid: json!({ "defect_code": "D100", "defect_name": "X", "severity": "MINOR" }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/lots".into(),
            valid: json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 2 }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: format!("/api/v1/lots/{lot}/serials"),
            valid: json!({ "quantity": 2 }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/process/start".into(),
            valid: json!({ "serial_number": "FN-KR-251109D-001-0001", "process_code": "SPRING", "operator_id": "W1" }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/process/complete".into(),
            valid: json!({ "serial_number": "FN-KR-251109D-001-0001", "process_code": "SPRING", "is_pass": true }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/reworks".into(),
            valid: json!({ "serial_number": "FN-KR-251109D-001-0001" }),
        },
        WriteEndpoint {
            method: Method::POST,
            path: "/api/v1/reworks/1/complete".into(),
            valid: json!({ "result": "SCRAP" }),
        },
    ];
    let before = app.fingerprint().await;
    for e in &endpoints {
        let ctx = format!("{} {}", e.method, e.path);
        let (s, b) = raw(
            &app,
            e.method.clone(),
            &e.path,
            "application/json",
            "{,".into(),
        )
        .await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "MALFORMED_JSON");

        let (s, b) = raw(
            &app,
            e.method.clone(),
            &e.path,
            "text/plain",
            e.valid.to_string(),
        )
        .await;
        assert_error(
            s,
            &b,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        );

        let huge = json!({ "padding": "x".repeat(70 * 1024) }).to_string();
        let (s, b) = raw(&app, e.method.clone(), &e.path, "application/json", huge).await;
        assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");

        let mut unknown = e.valid.clone();
        unknown["surprise"] = json!(1);
        let (s, b) = app
            .call(e.method.clone(), &e.path, Some(&app.admin), Some(unknown))
            .await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");

        if e.method != Method::PATCH {
            let (s, b) = app
                .call(e.method.clone(), &e.path, Some(&app.admin), Some(json!({})))
                .await;
            assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
        }
        for key in e.valid.as_object().unwrap().keys() {
            let mut wrong = e.valid.clone();
            wrong[key] = json!([[true]]);
            let (s, b) = app
                .call(e.method.clone(), &e.path, Some(&app.admin), Some(wrong))
                .await;
            assert!(
                s.is_client_error() && b["success"] == false,
                "{ctx} with {key} of the wrong type: {s} {b}"
            );
        }
        assert_eq!(
            app.fingerprint().await,
            before,
            "{ctx}: a refused request must write nothing"
        );
    }
}

#[sqlx::test(migrations = false)]
async fn specific_codes_for_bad_references_and_identifiers(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(10).await;
    let before = app.fingerprint().await;
    let lot_for = |line: &str, model: &str, qty: i64| json!({ "line_code": line, "product_model_code": model, "target_quantity": qty });
    let cases: Vec<(Method, String, Value, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/api/v1/lots".into(),
            lot_for("L9", "NH-F2X-001", 1),
            StatusCode::NOT_FOUND,
            "LINE_NOT_FOUND",
        ),
        (
            Method::POST,
            "/api/v1/lots".into(),
            lot_for("L1", "NOPE", 1),
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_PRODUCT_MODEL",
        ),
        (
            Method::POST,
            "/api/v1/lots".into(),
            lot_for("L1", "NH-F2X-001", 0),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/lots".into(),
            lot_for("L1", "NH-F2X-001", 10_000),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/lots".into(),
            lot_for(INJECTION, "NH-F2X-001", 1),
            StatusCode::NOT_FOUND,
            "LINE_NOT_FOUND",
        ),
        (
            Method::POST,
            "/api/v1/lots".into(),
            json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 1, "shift": "D" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/lots".into(),
            json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 1, "shift": "X", "production_date": "2025-11-09" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/lots/FN-KR-251109D-1/serials".into(),
            json!({ "quantity": 1 }),
            StatusCode::BAD_REQUEST,
            "INVALID_LOT_FORMAT",
        ),
        (
            Method::POST,
            format!("/api/v1/lots/{INJECTION}/serials"),
            json!({ "quantity": 1 }),
            StatusCode::BAD_REQUEST,
            "INVALID_LOT_FORMAT",
        ),
        (
            Method::POST,
            "/api/v1/lots/FN-KR-251109D-555/serials".into(),
            json!({ "quantity": 1 }),
            StatusCode::NOT_FOUND,
            "LOT_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("/api/v1/lots/{lot}/serials"),
            json!({ "quantity": -1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            json!({ "username": INJECTION, "password": "long-enough", "role": "OPERATOR" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            json!({ "username": "shorty", "password": "short", "role": "OPERATOR" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/product-models".into(),
            json!({ "model_code": INJECTION, "model_name": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/defect-codes".into(),
            json!({ "defect_code": "D200", "defect_name": "x", "severity": "MINOR", "process_code": "weld; --" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            "/api/v1/defect-codes".into(),
            json!({ "defect_code": "D001", "defect_name": "dup", "severity": "MINOR" }),
            StatusCode::CONFLICT,
            "DEFECT_CODE_EXISTS",
        ),
        (
            Method::POST,
            "/api/v1/product-models".into(),
            json!({ "model_code": "NH-F2X-001", "model_name": "dup" }),
            StatusCode::CONFLICT,
            "PRODUCT_MODEL_EXISTS",
        ),
        (
            Method::PATCH,
            "/api/v1/users/999".into(),
            json!({ "full_name": "ghost" }),
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        ),
        (
            Method::PATCH,
            "/api/v1/users/abc".into(),
            json!({ "full_name": "ghost" }),
            StatusCode::BAD_REQUEST,
            "INVALID_PATH",
        ),
        (
            Method::POST,
            "/api/v1/api-tokens".into(),
            json!({ "name": "S", "expires_in_days": 0 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (s, b) = app
            .call(method.clone(), &path, Some(&app.admin), Some(body))
            .await;
        assert_error(s, &b, status, code);
    }
    assert_eq!(app.fingerprint().await, before);
}

#[sqlx::test(migrations = false)]
async fn sql_metacharacters_in_free_text_are_stored_verbatim(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let (s, b) = app
        .post(
            "/api/v1/lots",
            &app.admin,
            json!({ "line_code": "L1", "product_model_code": "NH-F2X-001",
            "target_quantity": 1, "notes": INJECTION }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["data"]["notes"], INJECTION);
    let lots: i64 = sqlx::query_scalar("SELECT count(*) FROM lots")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(lots, 1, "the lots table is still there");
}
