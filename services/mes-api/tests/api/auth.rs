//! Login, the bootstrap admin, rate limiting, and what the audit log records about users.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::harness::{ADMIN_PASSWORD, TestApp, assert_error};

#[sqlx::test(migrations = false)]
async fn login_returns_a_bearer_token_with_the_user(db: PgPool) {
    let app = TestApp::start(db).await;
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "admin", "password": ADMIN_PASSWORD })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["success"], true);
    assert_eq!(b["data"]["token_type"], "bearer");
    assert_eq!(b["data"]["expires_in"], 3600);
    assert_eq!(b["data"]["user"]["role"], "ADMIN");
    assert_eq!(b["data"]["user"]["username"], "admin");
    let token = b["data"]["access_token"].as_str().unwrap();
    let (s, me) = app.get("/api/v1/auth/me", token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["data"]["name"], "admin");
}

#[sqlx::test(migrations = false)]
async fn wrong_password_and_unknown_user_look_the_same(db: PgPool) {
    let app = TestApp::start(db).await;
    for (u, p) in [("admin", "wrong-password"), ("nobody", "whatever-pw")] {
        let (s, b) = app
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({ "username": u, "password": p })),
            )
            .await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    }
}

#[sqlx::test(migrations = false)]
async fn login_attempts_are_rate_limited_per_user_and_address(db: PgPool) {
    let app = TestApp::start_with(db, &[("MES_LOGIN_ATTEMPTS_PER_MINUTE", "3")]).await; // start() used 1
    let attempt = |u: &'static str| {
        app.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": u, "password": "wrong-password" })),
        )
    };
    for _ in 0..2 {
        let (s, _) = attempt("admin").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(res.headers().get("retry-after").is_some());
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    let (s, _) = attempt("someone-else").await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "other user names are not blocked"
    );
}

/// Behind a trusted proxy (the dashboard) each browser is its own client: one user's wrong
/// passwords do not lock out the others, and the audit trail names the browser's address.
/// A client that is not a trusted proxy cannot pick its address by sending the header.
#[sqlx::test(migrations = false)]
async fn behind_a_trusted_proxy_the_forwarded_client_is_rate_limited_and_audited(db: PgPool) {
    let app = TestApp::start_with(
        db.clone(),
        &[
            ("MES_LOGIN_ATTEMPTS_PER_MINUTE", "2"),
            ("MES_TRUSTED_PROXIES", "127.0.0.0/8"),
        ],
    )
    .await;
    let login = |from: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", from)
            .json(&json!({ "username": "admin", "password": password }))
            .send()
    };
    for _ in 0..2 {
        let r = login("198.51.100.7", "wrong-password").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let blocked = login("198.51.100.7", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = login("203.0.113.5", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK, "another browser logs in");

    // Audited under the forwarded address (the login writes no row: a user change does).
    let token: serde_json::Value = other.json().await.unwrap();
    let token = token["data"]["access_token"].as_str().unwrap().to_owned();
    let r = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .header("X-Forwarded-For", "203.0.113.5")
        .json(&json!({ "username": "audited", "password": "audited-pw-1", "role": "OPERATOR" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let ip: Option<String> = sqlx::query_scalar(
        "SELECT host(ip_address) FROM audit_log WHERE table_name = 'users' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(ip.as_deref(), Some("203.0.113.5"));
}

#[sqlx::test(migrations = false)]
async fn an_untrusted_client_cannot_choose_its_address(db: PgPool) {
    let app = TestApp::start_with(db, &[("MES_LOGIN_ATTEMPTS_PER_MINUTE", "3")]).await; // start() used 1
    for from in ["198.51.100.7", "198.51.100.8"] {
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", from)
            .json(&json!({ "username": "admin", "password": "wrong-password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", "198.51.100.9")
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a forged header does not reset the limit"
    );
}

#[sqlx::test(migrations = false)]
async fn bootstrap_admin_is_created_once_and_never_reset(db: PgPool) {
    let app = TestApp::start(db.clone()).await;
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v1/users/1",
            Some(&app.admin),
            Some(json!({ "password": "changed-by-admin" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // A restart with the bootstrap variables still set must not reset the password.
    mes_api::prepare(db, crate::harness::config(&[]))
        .await
        .unwrap();
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 1);
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "admin", "password": ADMIN_PASSWORD })),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    app.login("admin", "changed-by-admin").await;
}

#[sqlx::test(migrations = false)]
async fn user_writes_are_audited_with_the_acting_user_and_without_the_hash(db: PgPool) {
    let app = TestApp::start(db).await;
    let (s, b) = app
        .post("/api/v1/users", &app.admin, json!({ "username": "kim", "password": "kim-password", "full_name": "Kim", "role": "OPERATOR" }))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = b["data"]["id"].as_i64().unwrap();
    assert!(b["data"].get("hashed_password").is_none());
    let rows: Vec<(String, String, serde_json::Value, Option<String>)> = sqlx::query_as(
        "SELECT action, changed_by, new_data, request_id FROM audit_log WHERE table_name = 'users' AND record_id = $1",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    let (action, by, data, request_id) = &rows[0];
    assert_eq!((action.as_str(), by.as_str()), ("INSERT", "admin"));
    assert_eq!(data["username"], "kim");
    assert!(
        data.get("hashed_password").is_none(),
        "password hashes never reach the audit log"
    );
    assert!(request_id.as_deref().is_some_and(|r| !r.is_empty()));

    let (s, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(&app.admin),
            Some(json!({ "role": "ROOT" })),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
    let (s, b) = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({ "username": "kim", "password": "other-password", "role": "OPERATOR" }),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "USER_EXISTS");
    let (s, b) = app
        .call(Method::DELETE, "/api/v1/users/1", Some(&app.admin), None)
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "SELF_LOCKOUT");
}
