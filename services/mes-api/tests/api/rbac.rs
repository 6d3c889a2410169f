//! The permission matrix, table-driven: every endpoint × every role (and a station token) ×
//! (no token, expired, wrong signature, `alg: none`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mes_api::auth::Role;
use mes_api::auth::jwt::JwtKeys;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::harness::{JWT_SECRET, LINE_L1, TestApp, assert_error};

/// Seed 001 §7.2 plus the documented extensions (docs/decisions.md), written out independently
/// of the migration so that a wrong permission row fails this test.
fn allowed(role: &str, resource: &str, action: &str) -> bool {
    match role {
        "ADMIN" => true,
        "SUPERVISOR" => matches!(
            (resource, action),
            ("PROCESS", "CREATE" | "READ" | "UPDATE")
                | ("LOT", "CREATE" | "READ")
                | ("SERIAL", "CREATE" | "READ")
                | ("REPORT" | "MASTER" | "AUDIT", "READ")
        ),
        "OPERATOR" => matches!(
            (resource, action),
            ("PROCESS", "CREATE" | "READ") | ("MASTER", "READ")
        ),
        _ => false,
    }
}

struct Endpoint {
    method: Method,
    path: String,
    body: Option<Value>,
    /// None: any authenticated principal.
    needs: Option<(&'static str, &'static str)>,
}

fn ep(
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
    needs: Option<(&'static str, &'static str)>,
) -> Endpoint {
    Endpoint {
        method,
        path: path.into(),
        body,
        needs,
    }
}

#[sqlx::test(migrations = false)]
async fn permission_matrix_holds_for_every_endpoint(db: PgPool) {
    let app = TestApp::start(db).await;
    app.seed_line().await;
    let lot = app.create_lot(100).await;
    let (_, b) = app
        .post(
            &format!("/api/v1/lots/{lot}/serials"),
            &app.admin,
            json!({ "quantity": 1 }),
        )
        .await;
    let serial = b["data"]["serials"][0].as_str().unwrap().to_owned();
    let (_, victim) = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({ "username": "victim", "password": "victim-password", "role": "OPERATOR" }),
        )
        .await;
    let victim_id = victim["data"]["id"].as_i64().unwrap();
    let (_, tok) = app
        .post(
            "/api/v1/api-tokens",
            &app.admin,
            json!({ "name": "STATION-01" }),
        )
        .await;
    let station = tok["data"]["token"].as_str().unwrap().to_owned();
    let (_, doomed) = app
        .post(
            "/api/v1/api-tokens",
            &app.admin,
            json!({ "name": "STATION-99" }),
        )
        .await;
    let doomed_id = doomed["data"]["id"].as_i64().unwrap();
    let mut l2: Value = serde_json::from_str(LINE_L1).unwrap();
    l2["display_name"] = json!("Line 2");
    let (s, _) = app.put("/api/v1/lines/L2", &app.admin, l2).await;
    assert_eq!(s, StatusCode::CREATED);

    let line: Value = serde_json::from_str(LINE_L1).unwrap();
    let lot_body = json!({ "line_code": "L1", "product_model_code": "NH-F2X-001", "target_quantity": 5,
                           "production_date": "2025-11-09", "shift": "D" });
    use Method as M;
    let endpoints = vec![
        ep(M::GET, "/api/v1/auth/me", None, None),
        ep(M::GET, "/api/v1/users", None, Some(("USER", "READ"))),
        ep(
            M::POST,
            "/api/v1/users",
            Some(
                json!({ "username": "newbie", "password": "newbie-password", "role": "OPERATOR" }),
            ),
            Some(("USER", "CREATE")),
        ),
        ep(
            M::GET,
            format!("/api/v1/users/{victim_id}"),
            None,
            Some(("USER", "READ")),
        ),
        ep(
            M::PATCH,
            format!("/api/v1/users/{victim_id}"),
            Some(json!({ "full_name": "V" })),
            Some(("USER", "UPDATE")),
        ),
        ep(
            M::DELETE,
            format!("/api/v1/users/{victim_id}"),
            None,
            Some(("USER", "DELETE")),
        ),
        ep(M::GET, "/api/v1/api-tokens", None, Some(("USER", "READ"))),
        ep(
            M::POST,
            "/api/v1/api-tokens",
            Some(json!({ "name": "STATION-02" })),
            Some(("USER", "CREATE")),
        ),
        ep(
            M::DELETE,
            format!("/api/v1/api-tokens/{doomed_id}"),
            None,
            Some(("USER", "DELETE")),
        ),
        ep(M::GET, "/api/v1/lines", None, Some(("MASTER", "READ"))),
        ep(M::GET, "/api/v1/lines/L1", None, Some(("MASTER", "READ"))),
        ep(
            M::PUT,
            "/api/v1/lines/L1",
            Some(line),
            Some(("MASTER", "UPDATE")),
        ),
        ep(
            M::DELETE,
            "/api/v1/lines/L2",
            None,
            Some(("MASTER", "DELETE")),
        ),
        ep(
            M::GET,
            "/api/v1/product-models",
            None,
            Some(("MASTER", "READ")),
        ),
        ep(
            M::POST,
            "/api/v1/product-models",
            Some(json!({ "model_code": "NH-F2X-002", "model_name": "Two" })),
            Some(("MASTER", "CREATE")),
        ),
        ep(
            M::GET,
            "/api/v1/product-models/NH-F2X-001",
            None,
            Some(("MASTER", "READ")),
        ),
        ep(
            M::GET,
            "/api/v1/defect-codes",
            None,
            Some(("MASTER", "READ")),
        ),
        ep(
            M::POST,
            "/api/v1/defect-codes",
            Some(json!({ "defect_code": "D999", "defect_name": "Other", "severity": "MINOR" })),
            Some(("MASTER", "CREATE")),
        ),
        ep(M::GET, "/api/v1/lots", None, Some(("LOT", "READ"))),
        ep(
            M::POST,
            "/api/v1/lots",
            Some(lot_body),
            Some(("LOT", "CREATE")),
        ),
        ep(
            M::GET,
            format!("/api/v1/lots/{lot}"),
            None,
            Some(("LOT", "READ")),
        ),
        ep(
            M::POST,
            format!("/api/v1/lots/{lot}/serials"),
            Some(json!({ "quantity": 1 })),
            Some(("SERIAL", "CREATE")),
        ),
        ep(
            M::GET,
            format!("/api/v1/serials/{serial}"),
            None,
            Some(("SERIAL", "READ")),
        ),
        ep(
            M::GET,
            format!("/api/v1/serials/{serial}/history"),
            None,
            Some(("AUDIT", "READ")),
        ),
        ep(
            M::GET,
            "/api/v1/audit?entity=lots",
            None,
            Some(("AUDIT", "READ")),
        ),
        ep(
            M::POST,
            "/api/v1/process/start",
            Some(json!({ "serial_number": serial, "process_code": "SPRING", "operator_id": "W1" })),
            Some(("PROCESS", "CREATE")),
        ),
        ep(
            M::POST,
            "/api/v1/process/complete",
            Some(
                json!({ "serial_number": serial, "process_code": "SPRING", "is_pass": false, "defect_code": "D001" }),
            ),
            Some(("PROCESS", "CREATE")),
        ),
        ep(
            M::GET,
            "/api/v1/process/records",
            None,
            Some(("PROCESS", "READ")),
        ),
        ep(
            M::POST,
            "/api/v1/reworks",
            Some(json!({ "serial_number": serial })),
            Some(("PROCESS", "UPDATE")),
        ),
        ep(
            M::POST,
            "/api/v1/reworks/1/complete",
            Some(json!({ "result": "PASS" })),
            Some(("PROCESS", "UPDATE")),
        ),
        ep(M::GET, "/api/v1/reworks", None, Some(("PROCESS", "READ"))),
        ep(
            M::GET,
            "/api/v1/dashboard/summary",
            None,
            Some(("REPORT", "READ")),
        ),
        ep(
            M::GET,
            "/api/v1/dashboard/lines/L1/kpis",
            None,
            Some(("REPORT", "READ")),
        ),
    ];

    let supervisor = app.user_token("sup", "SUPERVISOR").await;
    let operator = app.user_token("op", "OPERATOR").await;
    let principals = [
        ("ADMIN", app.admin.clone()),
        ("SUPERVISOR", supervisor),
        ("OPERATOR", operator),
        ("OPERATOR", station),
    ];

    let now = chrono::Utc::now().timestamp();
    let keys = JwtKeys::new(JWT_SECRET.as_bytes(), Duration::from_secs(3600));
    let expired = keys.issue(1, "admin", Role::Admin, now - 7200).unwrap();
    let forged = JwtKeys::new(
        b"another-secret-another-secret-another",
        Duration::from_secs(3600),
    )
    .issue(1, "admin", Role::Admin, now)
    .unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"sub":"admin","user_id":1,"role":"ADMIN","iat":{now},"exp":{}}}"#,
        now + 600
    ));
    let alg_none = format!("{header}.{claims}.");

    for e in &endpoints {
        for (role, token) in &principals {
            let (status, body) = app
                .call(e.method.clone(), &e.path, Some(token), e.body.clone())
                .await;
            let ok = e.needs.is_none_or(|(r, a)| allowed(role, r, a));
            if ok {
                assert!(
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN
                        && !status.is_server_error(),
                    "{role} {} {} should be allowed, got {status}: {body}",
                    e.method,
                    e.path
                );
            } else {
                assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
            }
        }
        let (s, b) = app
            .call(e.method.clone(), &e.path, None, e.body.clone())
            .await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "AUTH_REQUIRED");
        let (s, b) = app
            .call(e.method.clone(), &e.path, Some(&expired), e.body.clone())
            .await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED");
        for bad in [&forged, &alg_none, &"mest_not-a-real-token".to_owned()] {
            let (s, b) = app
                .call(e.method.clone(), &e.path, Some(bad), e.body.clone())
                .await;
            assert_error(s, &b, StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
        }
    }
}

#[sqlx::test(migrations = false)]
async fn deactivated_users_and_revoked_tokens_lose_access(db: PgPool) {
    let app = TestApp::start(db).await;
    let sup = app.user_token("sup", "SUPERVISOR").await;
    let (s, _) = app.get("/api/v1/auth/me", &sup).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app.get("/api/v1/users?role=SUPERVISOR", &app.admin).await;
    let id = list["data"]["items"][0]["id"].as_i64().unwrap();
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.get("/api/v1/auth/me", &sup).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "USER_INACTIVE");

    let (_, tok) = app
        .post(
            "/api/v1/api-tokens",
            &app.admin,
            json!({ "name": "STATION-03" }),
        )
        .await;
    let secret = tok["data"]["token"].as_str().unwrap().to_owned();
    let (s, me) = app.get("/api/v1/auth/me", &secret).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["data"]["role"], "OPERATOR");
    assert_eq!(me["data"]["kind"], "station");
    let path = format!("/api/v1/api-tokens/{}", tok["data"]["id"]);
    let (s, _) = app
        .call(Method::DELETE, &path, Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.get("/api/v1/auth/me", &secret).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
}
