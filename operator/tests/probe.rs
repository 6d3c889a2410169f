//! `mes-operator --probe-url`: the check `helm test` and the smoke test run with the operator's
//! own image (no shell, no curl there). Exit 0 only on a 2xx answer.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

async fn server() -> std::net::SocketAddr {
    let app = Router::new()
        .route("/readyz", get(|| async { "ready" }))
        .route(
            "/starting",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "starting") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn probe(url: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mes-operator"))
        .args(["--probe-url", url])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_exits_zero_only_on_success() {
    let addr = server().await;
    let url = format!("http://{addr}");
    let ready = tokio::task::spawn_blocking(move || probe(&format!("{url}/readyz")));
    let (code, out) = ready.await.unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("200") && out.contains("ready"), "{out}");

    let url = format!("http://{addr}/starting");
    let (code, out) = tokio::task::spawn_blocking(move || probe(&url))
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{out}");

    // Nothing listens on port 1.
    let (code, _) = tokio::task::spawn_blocking(|| probe("http://127.0.0.1:1/readyz"))
        .await
        .unwrap();
    assert_eq!(code, Some(1));
}
