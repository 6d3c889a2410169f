//! The dashboard server over real HTTP: static assets with their caching headers and the SPA
//! fallback, and the reverse proxy (plain requests, SSE streaming, WebSocket upgrades, an
//! unreachable upstream, graceful shutdown) against small upstream servers started here.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use axum::routing::{any, get};
use dashboard_server::config::{Config, LogFormat};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

const DEADLINE: Duration = Duration::from_secs(10);

/// A built web UI in a fresh temporary directory.
fn assets() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dashboard-assets-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>MES</title><div id=root></div><script type=module src=/assets/app-3f9a.js></script>",
    )
    .unwrap();
    std::fs::write(
        dir.join("assets/app-3f9a.js"),
        "console.log('app');".repeat(200),
    )
    .unwrap();
    // What the build writes beside each asset (here: a marker instead of real brotli).
    std::fs::write(dir.join("assets/app-3f9a.js.br"), "precompressed").unwrap();
    std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn serve_upstream(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

struct Dashboard {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _assets: PathBuf,
}

impl Dashboard {
    async fn start(mes_api: SocketAddr, infra_api: Option<SocketAddr>) -> Self {
        let assets = assets();
        let config = Config {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            assets_dir: assets.clone(),
            mes_api: format!("http://{mes_api}").parse().unwrap(),
            infra_api: infra_api.map(|addr| format!("http://{addr}").parse().unwrap()),
            log_format: LogFormat::Text,
        };
        let listener = TcpListener::bind(config.listen_addr).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            dashboard_server::serve(listener, &config, async move {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            base,
            stop: Some(stop),
            task,
            _assets: assets,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// An upstream that answers every request with what it received.
fn echo() -> Router {
    Router::new().fallback(any(|request: Request| async move {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let headers: serde_json::Map<String, Value> = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    Value::String(value.to_str().unwrap_or("?").to_owned()),
                )
            })
            .collect();
        axum::Json(json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        }))
    }))
}

#[tokio::test]
async fn index_is_revalidated_hashed_assets_are_immutable_and_routes_fall_back_to_the_app() {
    let upstream = serve_upstream(echo()).await;
    let dashboard = Dashboard::start(upstream, None).await;
    let http = reqwest::Client::new();

    for path in ["/", "/lots/FN-KR-251109D-001", "/infra/pods"] {
        let response = http.get(dashboard.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "no-cache",
            "{path}"
        );
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(
            response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
        assert!(response.text().await.unwrap().contains("<div id=root>"));
    }

    let asset = http
        .get(dashboard.url("/assets/app-3f9a.js"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(asset.headers()[header::CONTENT_ENCODING], "gzip");

    let precompressed = http
        .get(dashboard.url("/assets/app-3f9a.js"))
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(precompressed.headers()[header::CONTENT_ENCODING], "br");
    assert_eq!(
        precompressed.bytes().await.unwrap().as_ref(),
        b"precompressed"
    );

    // A missing chunk is a 404, never the HTML page (which the browser would run as script).
    let missing = http
        .get(dashboard.url("/assets/gone-1234.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()[header::CACHE_CONTROL], "no-cache");

    let favicon = http
        .get(dashboard.url("/favicon.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(favicon.status(), 200);
    assert_eq!(favicon.headers()[header::CACHE_CONTROL], "no-cache");

    // An unknown API path is a JSON 404 in the APIs' envelope.
    let api = http
        .get(dashboard.url("/api/v2/lots"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn health_and_readiness() {
    let upstream = serve_upstream(echo()).await;
    let dashboard = Dashboard::start(upstream, None).await;
    let http = reqwest::Client::new();
    let health = http.get(dashboard.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http.get(dashboard.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    std::fs::remove_file(dashboard._assets.join("index.html")).unwrap();
    let ready = http.get(dashboard.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn api_requests_reach_their_upstream_with_path_query_body_and_auth_but_not_hop_headers() {
    let mes_api = serve_upstream(echo()).await;
    let infra_api = serve_upstream(echo()).await;
    let dashboard = Dashboard::start(mes_api, Some(infra_api)).await;
    let http = reqwest::Client::new();

    let response = http
        .post(dashboard.url("/api/v1/lots?page=2&status=CREATED"))
        .bearer_auth("the-token")
        .header("idempotency-key", "k-1")
        .header(header::CONNECTION, "keep-alive, x-hop")
        .header("x-hop", "must not pass")
        .json(&json!({ "target_quantity": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/api/v1/lots?page=2&status=CREATED");
    assert_eq!(seen["body"], r#"{"target_quantity":5}"#);
    let headers = &seen["headers"];
    assert_eq!(headers["authorization"], "Bearer the-token");
    assert_eq!(headers["idempotency-key"], "k-1");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert!(headers.get("x-hop").is_none(), "{headers}");
    assert!(headers["x-request-id"].is_string());
    assert_eq!(headers["host"], mes_api.to_string());

    let infra: Value = http
        .get(dashboard.url("/api/infra/pods?phase=Running"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(infra["uri"], "/api/infra/pods?phase=Running");
    assert_eq!(infra["headers"]["host"], infra_api.to_string());
}

#[tokio::test]
async fn an_unreachable_upstream_or_a_missing_infra_api_answers_in_the_api_envelope() {
    // A port that was free a moment ago: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dashboard = Dashboard::start(closed, None).await;
    let http = reqwest::Client::new();

    let response = http
        .get(dashboard.url("/api/v1/lots"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "UPSTREAM_UNAVAILABLE");
    assert_eq!(body["error"]["details"]["upstream"], "mes-api");

    let response = http
        .get(dashboard.url("/api/infra/pods"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INFRA_API_NOT_CONFIGURED");
}

/// An upstream SSE endpoint that sends one event, then the next only when told to.
fn sse_upstream(next: mpsc::Receiver<&'static str>) -> Router {
    let next = std::sync::Arc::new(tokio::sync::Mutex::new(Some(next)));
    Router::new().route(
        "/api/infra/pods/{name}/logs",
        get(move || {
            let next = next.clone();
            async move {
                let mut receiver = next.lock().await.take().unwrap();
                let first = futures_util::stream::once(async { "data: line 1\n\n" });
                let rest = async_stream(move |tx: mpsc::Sender<&'static str>| async move {
                    while let Some(line) = receiver.recv().await {
                        if tx.send(line).await.is_err() {
                            return;
                        }
                    }
                });
                let body = first
                    .chain(rest)
                    .map(|chunk| Ok::<_, std::convert::Infallible>(chunk.to_owned()));
                Response::builder()
                    .header(header::CONTENT_TYPE, "text/event-stream")
                    .header(header::CACHE_CONTROL, "no-cache")
                    .body(Body::from_stream(body))
                    .unwrap()
            }
        }),
    )
}

/// A stream fed by a task (without pulling in a stream macro crate).
fn async_stream<F, Fut>(producer: F) -> impl futures_util::Stream<Item = &'static str>
where
    F: FnOnce(mpsc::Sender<&'static str>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(producer(tx));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}

async fn next_chunk(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
) -> String {
    let chunk = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("a chunk in time")
        .expect("the stream goes on")
        .unwrap();
    String::from_utf8(chunk.to_vec()).unwrap()
}

#[tokio::test]
async fn server_sent_events_stream_through_frame_by_frame() {
    let (send, next) = mpsc::channel(4);
    let infra_api = serve_upstream(sse_upstream(next)).await;
    let mes_api = serve_upstream(echo()).await;
    let dashboard = Dashboard::start(mes_api, Some(infra_api)).await;

    let response = reqwest::get(dashboard.url("/api/infra/pods/p-1/logs?follow=true"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.bytes_stream();
    // The first event arrives while the upstream still holds the stream open: nothing buffers.
    assert_eq!(next_chunk(&mut body).await, "data: line 1\n\n");
    send.send("data: line 2\n\n").await.unwrap();
    assert_eq!(next_chunk(&mut body).await, "data: line 2\n\n");
    drop(send);
    let end = tokio::time::timeout(DEADLINE, body.next()).await.unwrap();
    assert!(end.is_none(), "the stream ends when the upstream's ends");
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_the_server_stops() {
    let (_send, next) = mpsc::channel(4);
    let infra_api = serve_upstream(sse_upstream(next)).await;
    let mes_api = serve_upstream(echo()).await;
    let mut dashboard = Dashboard::start(mes_api, Some(infra_api)).await;

    let response = reqwest::get(dashboard.url("/api/infra/pods/p-1/logs?follow=true"))
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    assert_eq!(next_chunk(&mut body).await, "data: line 1\n\n");
    dashboard.stop.take().unwrap().send(()).unwrap();
    let ended = tokio::time::timeout(DEADLINE, async {
        while let Some(Ok(_)) = body.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the open stream ended at shutdown");
    let stopped = tokio::time::timeout(DEADLINE, &mut dashboard.task).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the server stopped: {stopped:?}"
    );
}

/// A WebSocket upstream at `/ws/realtime` that answers each text message with `echo: <text>`
/// and reports the request's path and headers first.
// The handshake callback's error type is tungstenite's, not ours.
#[allow(clippy::result_large_err)]
async fn websocket_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = String::new();
                let callback =
                    |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                     response| {
                        seen = format!(
                            "{} auth={}",
                            request.uri(),
                            request
                                .headers()
                                .get("authorization")
                                .map_or("none", |v| v.to_str().unwrap_or("?"))
                        );
                        Ok(response)
                    };
                let mut socket = tokio_tungstenite::accept_hdr_async(stream, callback)
                    .await
                    .unwrap();
                socket.send(Message::text(seen)).await.unwrap();
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        socket
                            .send(Message::text(format!("echo: {text}")))
                            .await
                            .unwrap();
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn websockets_are_upgraded_and_spliced_both_ways() {
    let mes_api = websocket_upstream().await;
    let dashboard = Dashboard::start(mes_api, None).await;
    let url = dashboard.url("/ws/realtime").replace("http://", "ws://");
    let (mut socket, response) =
        tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(response.status(), 101);

    let first = tokio::time::timeout(DEADLINE, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        first.into_text().unwrap().as_str(),
        "/ws/realtime auth=none"
    );
    for text in ["token-as-first-message", "second"] {
        socket.send(Message::text(text)).await.unwrap();
        let answer = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            answer.into_text().unwrap().as_str(),
            format!("echo: {text}")
        );
    }
    socket.close(None).await.unwrap();
}

#[test]
fn the_binary_prints_its_version_and_refuses_a_bad_configuration() {
    let binary = Path::new(env!("CARGO_BIN_EXE_dashboard"));
    let version = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("dashboard {}", env!("CARGO_PKG_VERSION"))
    );

    let refused = std::process::Command::new(binary)
        .env_clear()
        .env("DASHBOARD_ASSETS_DIR", "/nonexistent")
        .env("MES_API_URL", "https://mes-api:8080")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("MES_API_URL"));
}
