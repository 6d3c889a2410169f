//! Station events through the routing: START/COMPLETE rules, rework, counters, exactly-once.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::harness::{TestApp, assert_error};

pub const ROUTE: [&str; 7] = ["SPRING", "LMA", "LASER", "EOL", "ROBOT", "PRINT", "PACK"];

/// Realistic `process_specific_data` that satisfies the demo line's schemas.
pub fn data_for(process: &str) -> Value {
    match process {
        "SPRING" => {
            json!({ "inspection_result": "OK", "spring_type": "Type-A", "spring_length": 45.2 })
        }
        "LMA" => {
            json!({ "lma_model": "LMA-2024-V2", "assembly_complete": true, "torque_test": 5.2, "alignment_check": "OK" })
        }
        "LASER" => json!({ "marking_quality": 5, "power_level": 80, "marking_duration": 12 }),
        "EOL" => {
            json!({ "temperature_sensor": 25.3, "tof_sensor": 1523, "firmware_version": "v2.5.1",
                         "firmware_upload_status": "success", "battery_voltage": 12.5 })
        }
        "ROBOT" => {
            json!({ "performance_score": 95, "motion_test": "OK", "accuracy_test": 98.5, "speed_test": "PASS" })
        }
        "PRINT" => {
            json!({ "label_path": "/storage/labels/x.png", "printing_status": "completed", "printer_id": "PRINTER-01" })
        }
        _ => {
            json!({ "package_type": "Standard Box", "package_weight": 3.2, "package_id": "PKG-20251110-001" })
        }
    }
}

async fn start(app: &TestApp, sn: &str, process: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/process/start",
        &app.admin,
        json!({ "serial_number": sn, "process_code": process, "operator_id": "W001" }),
    )
    .await
}

async fn complete(app: &TestApp, sn: &str, process: &str, pass: bool) -> (StatusCode, Value) {
    let mut body = json!({ "serial_number": sn, "process_code": process, "operator_id": "W001", "is_pass": pass,
                           "process_specific_data": data_for(process) });
    if !pass {
        body["defect_code"] = json!("D004");
    }
    app.post("/api/v1/process/complete", &app.admin, body).await
}

async fn lot_counts(app: &TestApp, lot: &str) -> (i64, i64, String) {
    let (_, b) = app.get(&format!("/api/v1/lots/{lot}"), &app.admin).await;
    (
        b["data"]["actual_quantity"].as_i64().unwrap(),
        b["data"]["defect_quantity"].as_i64().unwrap(),
        b["data"]["status"].as_str().unwrap().to_owned(),
    )
}

async fn serials(app: &TestApp, lot: &str, n: i32) -> Vec<String> {
    let (s, b) = app
        .post(
            &format!("/api/v1/lots/{lot}/serials"),
            &app.admin,
            json!({ "quantity": n }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["data"]["serials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = false)]
async fn a_serial_walks_the_routing_with_a_rework_loop(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(2).await;
    let sns = serials(&app, &lot, 2).await;
    let sn = &sns[0];

    for (i, process) in ROUTE.iter().enumerate() {
        let (s, b) = start(&app, sn, process).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["data"]["process_code"], *process);
        if *process == "EOL" {
            let (s, b) = complete(&app, sn, process, false).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(b["data"]["serial_status"], "DEFECTIVE");
            assert_eq!(b["data"]["next_process"], Value::Null);
            assert_eq!(lot_counts(&app, &lot).await, (0, 1, "IN_PROGRESS".into()));
            let (s, b) = start(&app, sn, "ROBOT").await;
            assert_error(s, &b, StatusCode::CONFLICT, "SERIAL_DEFECTIVE");

            let (s, r) = app
                .post(
                    "/api/v1/reworks",
                    &app.admin,
                    json!({ "serial_number": sn, "rework_reason": "reflash" }),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
            assert_eq!(r["data"]["original_process"], "EOL");
            assert_eq!(r["data"]["defect_code"], "D004");
            let path = format!("/api/v1/reworks/{}/complete", r["data"]["id"]);
            let (s, b) = app
                .post(&path, &app.admin, json!({ "result": "PASS" }))
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(
                lot_counts(&app, &lot).await,
                (0, 0, "IN_PROGRESS".into()),
                "rework PASS corrects the defect count"
            );
            let (s, b) = app
                .post(&path, &app.admin, json!({ "result": "PASS" }))
                .await;
            assert_error(s, &b, StatusCode::CONFLICT, "REWORK_ALREADY_COMPLETED");

            let (s, b) = start(&app, sn, "EOL").await;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(
                b["data"]["work_order"], 2,
                "the failed process re-opens with the next work order"
            );
        }
        let (s, b) = complete(&app, sn, process, true).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let next = ROUTE.get(i + 1).map(|p| json!(p)).unwrap_or(Value::Null);
        assert_eq!(
            b["data"]["next_process"]["code"].clone(),
            if next.is_null() { Value::Null } else { next }
        );
        let expected_actual = i64::from(i == ROUTE.len() - 1);
        assert_eq!(
            lot_counts(&app, &lot).await,
            (expected_actual, 0, "IN_PROGRESS".into())
        );
    }
    let (_, b) = app.get(&format!("/api/v1/serials/{sn}"), &app.admin).await;
    assert_eq!(b["data"]["status"], "COMPLETED");
    let history = b["data"]["process_history"].as_array().unwrap();
    assert_eq!(history.len(), 8, "7 processes + the repeated EOL");
    let eol: Vec<(i64, &str)> = history
        .iter()
        .filter(|r| r["process_code"] == "EOL")
        .map(|r| {
            (
                r["work_order"].as_i64().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(eol, [(1, "FAILED"), (2, "COMPLETED")]);
    assert_eq!(b["data"]["reworks"].as_array().unwrap().len(), 1);

    // A finished serial takes no more events.
    let (s, b) = start(&app, sn, "PACK").await;
    assert_error(s, &b, StatusCode::CONFLICT, "SERIAL_COMPLETED");

    // The second serial: scrapped after a failure; the LOT is then complete.
    let other = &sns[1];
    start(&app, other, "SPRING").await;
    let (s, _) = complete(&app, other, "SPRING", false).await;
    assert_eq!(s, StatusCode::OK);
    let (_, r) = app
        .post(
            "/api/v1/reworks",
            &app.admin,
            json!({ "serial_number": other }),
        )
        .await;
    let (s, b) = app
        .post(
            &format!("/api/v1/reworks/{}/complete", r["data"]["id"]),
            &app.admin,
            json!({ "result": "SCRAP" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(lot_counts(&app, &lot).await, (1, 1, "COMPLETED".into()));
    let (s, b) = start(&app, other, "SPRING").await;
    assert_error(s, &b, StatusCode::CONFLICT, "SERIAL_SCRAPPED");

    // History is queryable, with the acting user.
    let (s, h) = app
        .get(&format!("/api/v1/serials/{sn}/history"), &app.admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    let serial_changes: Vec<&str> = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity_type"] == "SERIAL")
        .map(|c| c["new_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        serial_changes,
        [
            "CREATED",
            "IN_PROGRESS",
            "DEFECTIVE",
            "IN_PROGRESS",
            "COMPLETED"
        ]
    );
    assert!(
        h["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["changed_by"] == "admin")
    );
    let lot_id = sqlx::query_scalar::<_, i64>("SELECT id FROM lots")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (s, a) = app
        .get(
            &format!("/api/v1/audit?entity=lots&id={lot_id}"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(a["data"]["total"].as_i64().unwrap() >= 4, "{a}");
}

#[sqlx::test(migrations = false)]
async fn concurrent_starts_of_one_serial_admit_exactly_one(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(1).await;
    let sn = serials(&app, &lot, 1).await.remove(0);
    let results = join_all((0..64).map(|_| start(&app, &sn, "SPRING"))).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    for (s, b) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error(*s, b, StatusCode::CONFLICT, "ALREADY_STARTED");
    }
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM process_data")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(records, 1);
}

#[sqlx::test(migrations = false)]
async fn rule_violations_are_named_and_change_nothing(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(3).await;
    let sns = serials(&app, &lot, 3).await;
    let sn = &sns[0];
    start(&app, sn, "SPRING").await;
    complete(&app, sn, "SPRING", true).await;

    let before = app.fingerprint().await;
    let (s, b) = start(&app, sn, "LASER").await;
    assert_error(s, &b, StatusCode::CONFLICT, "PREVIOUS_PROCESS_INCOMPLETE");
    assert_eq!(b["error"]["details"]["missing_process"], "LMA");
    let (s, b) = start(&app, sn, "SPRING").await;
    assert_error(s, &b, StatusCode::CONFLICT, "ALREADY_COMPLETED");
    let (s, b) = complete(&app, sn, "LMA", true).await;
    assert_error(s, &b, StatusCode::CONFLICT, "PROCESS_NOT_STARTED");
    let (s, b) = start(&app, sn, "WELD").await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PROCESS");
    let (s, b) = start(&app, "FN-KR-251109D-001-0999", "SPRING").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "SERIAL_NOT_FOUND");
    let (s, b) = start(&app, "FN-KR-251109D-001-99X", "SPRING").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "INVALID_SERIAL_FORMAT");
    assert_eq!(app.fingerprint().await, before);

    start(&app, sn, "LMA").await;
    let before = app.fingerprint().await;
    let mut bad = json!({ "serial_number": sn, "process_code": "LMA", "is_pass": true,
                          "process_specific_data": { "lma_model": "X", "assembly_complete": "yes", "torque_test": 5.2 } });
    let (s, b) = app
        .post("/api/v1/process/complete", &app.admin, bad.clone())
        .await;
    assert_error(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_PROCESS_DATA",
    );
    assert_eq!(
        b["error"]["details"]["field"],
        "process_specific_data/assembly_complete"
    );
    bad["is_pass"] = json!(false);
    bad["process_specific_data"] = data_for("LMA");
    let (s, b) = app
        .post("/api/v1/process/complete", &app.admin, bad.clone())
        .await;
    assert_error(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DEFECT_CODE_REQUIRED",
    );
    bad["defect_code"] = json!("D999");
    let (s, b) = app
        .post("/api/v1/process/complete", &app.admin, bad.clone())
        .await;
    assert_error(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_DEFECT_CODE",
    );
    let (s, b) = app
        .post(
            "/api/v1/process/complete",
            &app.admin,
            json!({ "process_data_id": 1, "serial_number": sn, "is_pass": true }),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
    let (s, b) = app
        .post(
            "/api/v1/reworks",
            &app.admin,
            json!({ "serial_number": sn }),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "NOT_DEFECTIVE");
    assert_eq!(app.fingerprint().await, before);

    // COMPLETE by record id works and names the next process.
    let id: i64 = sqlx::query_scalar("SELECT id FROM process_data WHERE status = 'IN_PROGRESS'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (s, b) = app
        .post(
            "/api/v1/process/complete",
            &app.admin,
            json!({ "process_data_id": id, "is_pass": true, "cycle_time": 185,
              "process_specific_data": data_for("LMA") }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["cycle_time"], 185);
    assert_eq!(b["data"]["next_process"]["code"], "LASER");
}

#[sqlx::test(migrations = false)]
async fn idempotency_keys_make_retries_exactly_once(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(1).await;
    let sn = serials(&app, &lot, 1).await.remove(0);
    let body = json!({ "serial_number": sn, "process_code": "SPRING", "operator_id": "W001" });
    let send = |key: &'static str, body: Value| {
        app.client
            .post(app.url("/api/v1/process/start"))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send("k-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let before = app.fingerprint().await;
    let replays = join_all((0..16).map(|_| send("k-1", body.clone()))).await;
    for r in replays {
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["idempotent-replayed"], "true");
        let b: Value = r.json().await.unwrap();
        assert_eq!(
            b["data"], first["data"],
            "a replay returns the original response"
        );
    }
    assert_eq!(app.fingerprint().await, before, "replays change nothing");
    let mut other = body.clone();
    other["operator_id"] = json!("W002");
    let r = send("k-1", other).await.unwrap();
    let status = r.status();
    let b: Value = r.json().await.unwrap();
    assert_error(
        status,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    );

    // Concurrent first attempts with one key: one effect, every caller gets the same answer.
    let complete = json!({ "serial_number": sn, "process_code": "SPRING", "is_pass": true, "process_specific_data": data_for("SPRING") });
    let answers = join_all((0..16).map(|_| {
        app.client
            .post(app.url("/api/v1/process/complete"))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", "k-2")
            .json(&complete)
            .send()
    }))
    .await;
    let mut bodies = Vec::new();
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), StatusCode::OK);
        let b: Value = a.json().await.unwrap();
        bodies.push(b["data"].clone());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let done: i64 =
        sqlx::query_scalar("SELECT count(*) FROM process_data WHERE status = 'COMPLETED'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(done, 1);
}

#[sqlx::test(migrations = false)]
async fn dashboards_reflect_the_events(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let (s, b) = app
        .post(
            "/api/v1/lots",
            &app.admin,
            json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 3 }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let lot = b["data"]["lot_number"].as_str().unwrap().to_owned();
    let sns = serials(&app, &lot, 3).await;
    for p in ROUTE {
        start(&app, &sns[0], p).await;
        complete(&app, &sns[0], p, true).await;
    }
    start(&app, &sns[1], "SPRING").await;
    complete(&app, &sns[1], "SPRING", false).await;
    start(&app, &sns[2], "SPRING").await;

    // The LOT detail says where each serial is and whether it is open there.
    let (s, b) = app.get(&format!("/api/v1/lots/{lot}"), &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let at: Vec<(&str, &str, bool)> = b["data"]["serials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["status"].as_str().unwrap(),
                s["current_process"].as_str().unwrap(),
                s["open"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        at,
        [
            ("COMPLETED", "PACK", false),
            ("DEFECTIVE", "SPRING", false),
            ("IN_PROGRESS", "SPRING", true)
        ]
    );

    let (s, b) = app.get("/api/v1/dashboard/summary", &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let d = &b["data"];
    assert_eq!(
        (d["total_lots"].as_i64(), d["active_lots"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            d["total_serials"].as_i64(),
            d["completed_serials"].as_i64(),
            d["defective_serials"].as_i64()
        ),
        (Some(3), Some(1), Some(1))
    );
    let spring = &d["lines"][0]["processes"][0];
    assert_eq!(spring["process_code"], "SPRING");
    assert_eq!(
        (
            spring["total"].as_i64(),
            spring["completed"].as_i64(),
            spring["failed"].as_i64(),
            spring["in_progress"].as_i64()
        ),
        (Some(3), Some(1), Some(1), Some(1))
    );
    assert_eq!(spring["standard_cycle_time"], 120);
    assert!(spring["avg_cycle_time"].is_number());

    let (s, k) = app.get("/api/v1/dashboard/lines/L1/kpis", &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{k}");
    assert_eq!(k["data"]["wip"], 2);
    assert_eq!(k["data"]["completed_today"], 1);
    assert_eq!(k["data"]["yield_percent"], 87.5, "7 passes, 1 failure");
    assert!(k["data"]["throughput_per_hour"].as_f64().unwrap() > 0.0);

    let (s, r) = app
        .get(
            "/api/v1/process/records?process=SPRING&status=FAILED",
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["data"]["total"], 1);
    let failed = &r["data"]["items"][0];
    assert_eq!(failed["serial_number"], sns[1].as_str(), "{failed}");
    assert_eq!(failed["lot_number"], lot.as_str());
    assert_eq!(failed["process_code"], "SPRING");
    assert_eq!(failed["is_pass"], false);
    let (s, r) = app.get("/api/v1/reworks?status=open", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["data"]["total"], 0);
    let op = app.user_token("op", "OPERATOR").await;
    let (s, b) = app
        .call(Method::GET, "/api/v1/dashboard/summary", Some(&op), None)
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
}
