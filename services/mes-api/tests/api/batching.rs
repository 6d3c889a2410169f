//! The batched event writer: inline audit rows equal the triggers' rows, every event of a batch
//! is audited with its own request, and a batch whose statement fails is re-run one command at a
//! time so that only the faulty command fails.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::harness::TestApp;
use crate::production::{ROUTE, data_for};

/// A station's request with its own request id and user agent, as the audit rows must show.
async fn event(
    app: &TestApp,
    token: &str,
    path: &str,
    rid: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/process/{path}")))
        .bearer_auth(token)
        .header("x-request-id", rid)
        .header("user-agent", "station-test/1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
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

fn complete_body(sn: &str, process: &str, pass: bool) -> Value {
    let mut body = json!({ "serial_number": sn, "process_code": process, "is_pass": pass,
                           "process_specific_data": data_for(process) });
    if !pass {
        body["defect_code"] = json!("D004");
    }
    body
}

/// Sends an event numbered `ev-<n>` and expects it to succeed.
async fn send(app: &TestApp, n: &mut u32, token: &str, path: &str, body: Value) -> Value {
    *n += 1;
    let (s, b) = event(app, token, path, &format!("ev-{n}"), body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

/// One LOT of two serials through everything the event path writes: the LOT's first START, a
/// COMPLETE by record id, a failure, rework PASS and the repeated process, the serial that
/// finishes, and a scrapped serial that closes the LOT.
async fn scenario(app: &TestApp) {
    app.seed_line().await;
    let op = app.user_token("station1", "OPERATOR").await;
    let lot = app.create_lot(2).await;
    let sns = serials(app, &lot, 2).await;
    let mut n = 0;
    for (i, p) in ROUTE.iter().enumerate() {
        let token = if i % 2 == 0 { &app.admin } else { &op };
        let started = send(
            app,
            &mut n,
            token,
            "start",
            json!({ "serial_number": sns[0], "process_code": p, "operator_id": "W1" }),
        )
        .await;
        if *p == "LASER" {
            let id = started["data"]["process_data_id"].clone();
            send(app, &mut n, token, "complete", json!({ "process_data_id": id, "is_pass": true, "process_specific_data": data_for(p) })).await;
            continue;
        }
        if *p == "EOL" {
            send(
                app,
                &mut n,
                token,
                "complete",
                complete_body(&sns[0], p, false),
            )
            .await;
            let (_, r) = app
                .post(
                    "/api/v1/reworks",
                    &app.admin,
                    json!({ "serial_number": sns[0] }),
                )
                .await;
            let (s, _) = app
                .post(
                    &format!("/api/v1/reworks/{}/complete", r["data"]["id"]),
                    &app.admin,
                    json!({ "result": "PASS" }),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            send(
                app,
                &mut n,
                token,
                "start",
                json!({ "serial_number": sns[0], "process_code": p, "operator_id": "W1" }),
            )
            .await;
        }
        send(
            app,
            &mut n,
            token,
            "complete",
            complete_body(&sns[0], p, true),
        )
        .await;
    }
    send(
        app,
        &mut n,
        &op,
        "start",
        json!({ "serial_number": sns[1], "process_code": "SPRING", "operator_id": "W2" }),
    )
    .await;
    send(
        app,
        &mut n,
        &op,
        "complete",
        complete_body(&sns[1], "SPRING", false),
    )
    .await;
    let (_, r) = app
        .post(
            "/api/v1/reworks",
            &app.admin,
            json!({ "serial_number": sns[1] }),
        )
        .await;
    let (s, _) = app
        .post(
            &format!("/api/v1/reworks/{}/complete", r["data"]["id"]),
            &app.admin,
            json!({ "result": "SCRAP" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, l) = app.get(&format!("/api/v1/lots/{lot}"), &app.admin).await;
    assert_eq!(l["data"]["status"], "COMPLETED", "{l}");
}

/// `jsonb` with every `*_at` value replaced by whether it is set (times differ between runs).
const NORMALIZE: &str = "(SELECT jsonb_object_agg(k, CASE WHEN k LIKE '%\\_at' THEN to_jsonb(v <> 'null'::jsonb) ELSE v END)
                          FROM jsonb_each(COL) AS e(k, v))";

async fn history(db: &PgPool) -> (Vec<Value>, Vec<Value>) {
    let audit = format!(
        "SELECT jsonb_build_array(table_name, record_id, action, {}, {}, changed_by, host(ip_address), user_agent,
                CASE WHEN request_id LIKE 'ev-%' THEN request_id ELSE request_id IS NOT NULL::text END)
         FROM audit_log WHERE table_name IN ('process_data', 'serials', 'lots', 'reworks')
         ORDER BY table_name, record_id, id",
        NORMALIZE.replace("COL", "old_data"),
        NORMALIZE.replace("COL", "new_data"),
    );
    let audit: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(audit))
        .fetch_all(db)
        .await
        .unwrap();
    let status: Vec<Value> = sqlx::query_scalar(
        "SELECT jsonb_build_array(entity_type, entity_id, old_status, new_status, changed_by, reason)
         FROM status_history ORDER BY entity_type, entity_id, id",
    )
    .fetch_all(db)
    .await
    .unwrap();
    (audit, status)
}

#[sqlx::test(migrations = false)]
async fn inline_audit_rows_equal_the_triggers_rows(db: PgPool) {
    // The same scenario on a second, fresh database with the trigger-audited writer.
    let name = db.connect_options().get_database().unwrap().to_owned();
    // Database names are cut at 63 bytes: keep the unique tail of the test database's name.
    let twin = format!("mes_twin_{}", &name[name.len().saturating_sub(40)..]).to_lowercase();
    // A failed earlier run may have left it behind (test database names are stable).
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {twin} WITH (FORCE)"
    )))
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {twin}")))
        .execute(&db)
        .await
        .unwrap();
    let twin_db = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(db.connect_options().as_ref().clone().database(&twin))
        .await
        .unwrap();

    let inline = TestApp::start(db.clone()).await;
    scenario(&inline).await;
    let triggers = TestApp::start_with(twin_db.clone(), &[("MES_EVENT_AUDIT", "triggers")]).await;
    scenario(&triggers).await;

    let (inline_audit, inline_status) = history(&db).await;
    let (trigger_audit, trigger_status) = history(&twin_db).await;
    drop(triggers);
    twin_db.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {twin} WITH (FORCE)"
    )))
    .execute(&db)
    .await
    .unwrap();

    assert!(inline_audit.len() > 40, "{}", inline_audit.len());
    let events = inline_audit
        .iter()
        .filter(|r| r[8].as_str().is_some_and(|s| s.starts_with("ev-")))
        .count();
    assert!(
        events > 30,
        "the event path wrote inline audit rows: {events}"
    );
    for (i, (a, b)) in inline_audit.iter().zip(&trigger_audit).enumerate() {
        assert_eq!(a, b, "audit row {i}: inline vs triggers");
    }
    assert_eq!(inline_audit.len(), trigger_audit.len());
    assert_eq!(inline_status, trigger_status);
}

/// Both writers wait on serial locks held by the test, so the commands sent meanwhile queue
/// up and the next batch takes all of them at once.
async fn hold_writers(
    app: &TestApp,
    blockers: &[String],
) -> (
    sqlx::Transaction<'static, sqlx::Postgres>,
    Vec<tokio::task::JoinHandle<StatusCode>>,
) {
    let mut tx = app.db.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM serials WHERE serial_number = ANY($1) FOR UPDATE")
        .bind(blockers)
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut waiting = Vec::new();
    for sn in blockers {
        let req = app
            .client
            .post(app.url("/api/v1/process/start"))
            .bearer_auth(&app.admin)
            .json(&json!({ "serial_number": sn, "process_code": "SPRING", "operator_id": "W9" }));
        waiting.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (tx, waiting)
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[sqlx::test(migrations = false)]
async fn a_batch_audits_each_event_with_its_own_request(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let op = app.user_token("station1", "OPERATOR").await;
    let lot = app.create_lot(34).await;
    let sns = serials(&app, &lot, 34).await;
    let (blockers, sns) = sns.split_at(2);

    let (tx, waiting) = hold_writers(&app, blockers).await;
    let sent = sns.iter().enumerate().map(|(i, sn)| {
        let token = if i % 2 == 0 { app.admin.clone() } else { op.clone() };
        let app = &app;
        async move {
            event(app, &token, "start", &format!("ev-s{i}"),
                  json!({ "serial_number": sn, "process_code": "SPRING", "operator_id": format!("W{i}") })).await
        }
    });
    let started = join_all(sent);
    let release = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        tx.rollback().await.unwrap();
    };
    let (started, ()) = tokio::join!(started, release);
    for w in waiting {
        assert_eq!(w.await.unwrap(), StatusCode::OK);
    }
    assert!(
        metric(&app, "mes_api_event_batch_size_sum").await
            > metric(&app, "mes_api_event_batch_size_count").await,
        "some batch held more than one command"
    );
    let mut record_of = Vec::new();
    for (i, (s, b)) in started.iter().enumerate() {
        assert_eq!(*s, StatusCode::OK, "{b}");
        record_of.push((i, b["data"]["process_data_id"].as_i64().unwrap()));
    }
    // Fail every fourth serial (the LOT counts each), pass the rest, all at once.
    let done = join_all(sns.iter().enumerate().map(|(i, sn)| {
        let token = if i % 2 == 0 {
            app.admin.clone()
        } else {
            op.clone()
        };
        let app = &app;
        async move {
            event(
                app,
                &token,
                "complete",
                &format!("ev-c{i}"),
                complete_body(sn, "SPRING", i % 4 != 0),
            )
            .await
        }
    }))
    .await;
    assert!(done.iter().all(|(s, _)| *s == StatusCode::OK), "{done:?}");

    for (i, record) in record_of {
        let actor = if i % 2 == 0 { "admin" } else { "station1" };
        let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT action, changed_by, request_id, user_agent FROM audit_log
             WHERE table_name = 'process_data' AND record_id = $1 ORDER BY id",
        )
        .bind(record)
        .fetch_all(&app.db)
        .await
        .unwrap();
        let expect = |action: &str, rid: String| {
            (
                action.to_owned(),
                actor.to_owned(),
                Some(rid),
                Some("station-test/1".to_owned()),
            )
        };
        assert_eq!(
            rows,
            [
                expect("INSERT", format!("ev-s{i}")),
                expect("UPDATE", format!("ev-c{i}"))
            ]
        );
        let serial_rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT a.changed_by, a.request_id FROM audit_log a JOIN serials s ON s.id = a.record_id
             WHERE a.table_name = 'serials' AND s.serial_number = $1 AND a.action = 'UPDATE' ORDER BY a.id",
        )
        .bind(&sns[i])
        .fetch_all(&app.db)
        .await
        .unwrap();
        assert_eq!(
            serial_rows,
            [
                (actor.to_owned(), Some(format!("ev-s{i}"))),
                (actor.to_owned(), Some(format!("ev-c{i}")))
            ]
        );
    }
    // The LOT's audit rows chain: each starts where the previous ended, the last is the row.
    let lot_rows: Vec<(Option<Value>, Value)> = sqlx::query_as(
        "SELECT old_data, new_data FROM audit_log a JOIN lots l ON l.id = a.record_id
         WHERE a.table_name = 'lots' AND l.lot_number = $1 ORDER BY a.id",
    )
    .bind(&lot)
    .fetch_all(&app.db)
    .await
    .unwrap();
    for w in lot_rows.windows(2) {
        assert_eq!(w[1].0.as_ref(), Some(&w[0].1));
    }
    let current: Value = sqlx::query_scalar("SELECT to_jsonb(l) FROM lots l WHERE lot_number = $1")
        .bind(&lot)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(lot_rows.last().map(|r| &r.1), Some(&current));
    assert_eq!(current["defect_quantity"], 8, "one count per failure");
    assert_eq!(current["status"], "IN_PROGRESS");
    let failures_audited = lot_rows
        .iter()
        .filter(|(o, n)| {
            o.as_ref()
                .is_some_and(|o| o["defect_quantity"] != n["defect_quantity"])
        })
        .count();
    assert_eq!(failures_audited, 8, "one LOT audit row per failure");
    let lot_status: Vec<(Option<String>, String)> = sqlx::query_as(
        "SELECT old_status, new_status FROM status_history h JOIN lots l ON l.id = h.entity_id
         WHERE h.entity_type = 'LOT' AND l.lot_number = $1 ORDER BY h.id",
    )
    .bind(&lot)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        lot_status,
        [
            (None, "CREATED".to_owned()),
            (Some("CREATED".to_owned()), "IN_PROGRESS".to_owned())
        ]
    );
}

#[sqlx::test(migrations = false)]
async fn a_failing_statement_fails_only_its_own_command(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(18).await;
    let sns = serials(&app, &lot, 18).await;
    let (blockers, sns) = sns.split_at(2);
    for sn in sns {
        let (s, b) = event(
            &app,
            &app.admin,
            "start",
            "ev-x",
            json!({ "serial_number": sn, "process_code": "SPRING", "operator_id": "W1" }),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let before = app.fingerprint().await;

    let (tx, waiting) = hold_writers(&app, blockers).await;
    // PostgreSQL refuses NUL in jsonb text, which no validation before the write checks: the
    // batch statement fails, and only this command should.
    let sent = sns.iter().enumerate().map(|(i, sn)| {
        let mut body = complete_body(sn, "SPRING", true);
        if i == 5 {
            body["inspection_result"] = json!({ "note": "a\u{0}b" });
        }
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/process/complete"))
                .bearer_auth(&app.admin)
                .header("Idempotency-Key", format!("c-{i}"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    });
    let release = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        tx.rollback().await.unwrap();
    };
    let (answers, ()) = tokio::join!(join_all(sent), release);
    for w in waiting {
        assert_eq!(w.await.unwrap(), StatusCode::OK);
    }
    assert!(
        metric(&app, "mes_api_event_batches_split_total").await >= 1.0,
        "the batch was split"
    );
    for (i, a) in answers.into_iter().enumerate() {
        let status = a.status();
        let b: Value = a.json().await.unwrap();
        if i == 5 {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        } else {
            assert_eq!(status, StatusCode::OK, "{b}");
        }
    }
    let open: Vec<String> = sqlx::query_scalar(
        "SELECT s.serial_number FROM process_data d JOIN serials s ON s.id = d.serial_id
         WHERE d.status = 'IN_PROGRESS' ORDER BY s.serial_number",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut expected = vec![sns[5].clone()];
    expected.extend(blockers.iter().cloned());
    expected.sort();
    assert_eq!(
        open, expected,
        "only the faulty command (and the blockers' STARTs) left records open"
    );
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM idempotency_keys WHERE idempotency_key LIKE 'c-%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(keys, 15);
    let after = app.fingerprint().await;
    let audit = |f: &Vec<(String, i64)>| {
        f.iter()
            .find(|(t, _)| t == "audit_log")
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    // 15 COMPLETEs × (record + serial) and the blockers' 2 STARTs × (record insert + serial).
    assert_eq!(audit(&after) - audit(&before), 15 * 2 + 2 * 2);
}
