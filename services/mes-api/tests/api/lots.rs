//! LOT list filters and paging, LOT detail, serial genealogy.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::harness::{TestApp, assert_error};

#[sqlx::test(migrations = false)]
async fn lots_list_filters_and_pages_in_a_stable_order(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    for (date, shift) in [
        ("2025-11-08", "D"),
        ("2025-11-08", "N"),
        ("2025-11-09", "D"),
        ("2025-11-09", "D"),
        ("2025-11-10", "N"),
    ] {
        let (s, b) = app
            .post(
                "/api/v1/lots",
                &app.admin,
                json!({ "line_code": "L1", "product_model_code": "NH-F2X-001",
                "target_quantity": 3, "production_date": date, "shift": shift }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, b) = app.get("/api/v1/lots?page=1&page_size=2", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["data"]["total"], 5);
    assert_eq!(b["data"]["total_pages"], 3);
    let page1: Vec<&str> = b["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lot_number"].as_str().unwrap())
        .collect();
    assert_eq!(page1, ["FN-KR-251110N-001", "FN-KR-251109D-002"]);
    let (_, b) = app.get("/api/v1/lots?page=3&page_size=2", &app.admin).await;
    assert_eq!(b["data"]["items"][0]["lot_number"], "FN-KR-251108D-001");

    let (_, b) = app
        .get(
            "/api/v1/lots?date_from=2025-11-09&date_to=2025-11-09&line=L1&plant=KR&status=CREATED",
            &app.admin,
        )
        .await;
    assert_eq!(b["data"]["total"], 2);
    let (_, b) = app.get("/api/v1/lots?status=COMPLETED", &app.admin).await;
    assert_eq!(b["data"]["total"], 0);
    let (s, b) = app.get("/api/v1/lots?status=FINISHED", &app.admin).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "INVALID_QUERY");
    let (s, b) = app.get("/api/v1/lots?page_size=1000", &app.admin).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "INVALID_QUERY");
}

#[sqlx::test(migrations = false)]
async fn lot_detail_and_serial_genealogy(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(5).await;
    let (s, _) = app
        .post(
            &format!("/api/v1/lots/{lot}/serials"),
            &app.admin,
            json!({ "quantity": 3 }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = app.get(&format!("/api/v1/lots/{lot}"), &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let d = &b["data"];
    assert_eq!(d["lot_number"], lot);
    assert_eq!(d["serial_count"], 3);
    assert_eq!(d["target_quantity"], 5);
    assert_eq!(d["completion_rate"], 0.0);
    assert_eq!(d["product_model_name"], "F2X Wearable Robot Standard");
    assert_eq!(d["serial_counts"]["created"], 3);
    assert_eq!(d["serials"].as_array().unwrap().len(), 3);

    let sn = d["serials"][0]["serial_number"].as_str().unwrap();
    let (s, b) = app.get(&format!("/api/v1/serials/{sn}"), &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["lot_number"], lot);
    assert_eq!(b["data"]["status"], "CREATED");
    assert_eq!(b["data"]["next_process"], "SPRING");
    assert_eq!(b["data"]["process_history"], json!([]));

    let (s, b) = app
        .get("/api/v1/serials/FN-KR-251109D-001-9998", &app.admin)
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "SERIAL_NOT_FOUND");
    let (s, b) = app
        .get("/api/v1/serials/FN-KR-251109D-001-99", &app.admin)
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "INVALID_SERIAL_FORMAT");
    let (s, b) = app.get("/api/v1/lots/FN-KR-251109D-777", &app.admin).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "LOT_NOT_FOUND");
    let (s, b) = app.get("/api/v1/lots/garbage", &app.admin).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "INVALID_LOT_FORMAT");

    // Status history and audit rows were written with the lot and serials.
    let history: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM status_history WHERE entity_type = 'SERIAL' AND changed_by = 'admin'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(history, 3);
}
