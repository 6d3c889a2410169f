//! schemathesis (PyPI) fuzzes every operation of the OpenAPI document, authenticated, against a
//! seeded database: no request may produce a 5xx. Ignored by default (it needs the tool);
//! `cargo xtask test` installs it and runs this as its own stage with `SCHEMATHESIS` set.

use std::process::Stdio;

use serde_json::json;
use sqlx::PgPool;

use crate::harness::TestApp;

#[sqlx::test(migrations = false)]
#[ignore = "needs the schemathesis CLI; run by `cargo xtask test` (stage api-fuzz)"]
async fn schemathesis_finds_no_server_errors(db: PgPool) {
    let tool = std::env::var("SCHEMATHESIS")
        .expect("SCHEMATHESIS must name the schemathesis CLI (cargo xtask test sets it)");
    let app = TestApp::start_with(db, &[("MES_LOGIN_ATTEMPTS_PER_MINUTE", "100000")]).await;
    app.seed_line().await;
    let lot = app.create_lot(20).await;
    let (_, b) = app
        .post(
            &format!("/api/v1/lots/{lot}/serials"),
            &app.admin,
            json!({ "quantity": 5 }),
        )
        .await;
    assert_eq!(b["success"], true);

    let output = tokio::process::Command::new(tool)
        .args(["run", &app.url("/api/v1/openapi.json"), "--url", &app.base])
        .args(["-H", &format!("Authorization: Bearer {}", app.admin)])
        .args([
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--workers",
            "2",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("generated"),
        "schemathesis ran no test cases:\n{report}"
    );
}
