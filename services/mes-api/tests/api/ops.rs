//! Health, readiness, metrics, OpenAPI and docs, request ids, unknown routes.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::harness::{TestApp, assert_error};

#[sqlx::test(migrations = false)]
async fn probes_metrics_and_docs_answer(db: PgPool) {
    let app = TestApp::start(db).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let (_, _) = app.get("/api/v1/lines", &app.admin).await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"mes_api_http_requests_total{method="GET",route="/api/v1/lines",status="200"}"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("mes_api_db_pool_connections"));

    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/auth/login",
        "/api/v1/lots",
        "/api/v1/lots/{lot_number}/serials",
        "/api/v1/lines/{line_code}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("unpkg.com") && !html.contains("cdn."),
        "docs must not load assets from a CDN"
    );
    let css = app
        .client
        .get(app.url("/docs/swagger-ui.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        css.status(),
        StatusCode::OK,
        "swagger assets are served by mes-api itself"
    );
}

#[sqlx::test(migrations = false)]
async fn every_response_carries_a_request_id_and_unknown_routes_get_an_envelope(db: PgPool) {
    let app = TestApp::start(db).await;
    let res = app
        .client
        .get(app.url("/api/v1/nope"))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("x-request-id").is_some());
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[sqlx::test(migrations = false)]
async fn readiness_fails_when_the_database_is_gone(db: PgPool) {
    let app = TestApp::start(db).await;
    app.db.close().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "liveness does not depend on the database"
    );
}

#[sqlx::test(migrations = false)]
async fn replicas_starting_together_migrate_once(db: PgPool) {
    let config = crate::harness::config(&[]);
    let (a, b, c) = tokio::join!(
        mes_api::prepare(db.clone(), config.clone()),
        mes_api::prepare(db.clone(), config.clone()),
        mes_api::prepare(db.clone(), config)
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(admins, 1, "one bootstrap admin");
    assert!(mes_api::db::migrations_applied(&db).await.unwrap());
}
