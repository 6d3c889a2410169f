//! The dashboard's server: serves the built web UI (`web/dist`, see [`assets`]) and proxies
//! `/api/v1` and `/ws` to mes-api and `/api/infra` to infra-api (see [`proxy`]), so the browser
//! talks to one origin.
//!
//! `main.rs` only reads the configuration and calls [`run`]; tests call [`serve`].

pub mod assets;
pub mod config;
pub mod error;
pub mod ops;
pub mod proxy;
pub mod telemetry;

use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::config::Config;
use crate::error::ErrorBody;
use crate::proxy::{Proxy, Upstream};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the proxy routes share.
#[derive(Debug)]
struct Upstreams {
    proxy: Proxy,
    mes_api: Upstream,
    infra_api: Option<Upstream>,
}

/// The whole application. `shutdown` flips to `true` when the server begins to stop; open
/// streams and WebSockets end then.
pub fn router(config: &Config, shutdown: watch::Receiver<bool>) -> Router {
    let upstreams = Arc::new(Upstreams {
        proxy: Proxy::new(shutdown),
        mes_api: Upstream {
            name: "mes-api",
            base: config.mes_api.clone(),
        },
        infra_api: config.infra_api.clone().map(|base| Upstream {
            name: "infra-api",
            base,
        }),
    });
    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(config.assets_dir.join("index.html"));
    let proxied = Router::new()
        .route("/api/v1", any(to_mes_api))
        .route("/api/v1/{*rest}", any(to_mes_api))
        .route("/ws/{*rest}", any(to_mes_api))
        .route("/api/infra", any(to_infra_api))
        .route("/api/infra/{*rest}", any(to_infra_api))
        // Any other API path is a JSON 404, never the HTML page.
        .route("/api/{*rest}", any(unknown_api))
        .with_state(upstreams);
    ops.merge(proxied)
        .fallback_service(assets::router(&config.assets_dir))
        .layer(middleware::from_fn(access_log))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn to_mes_api(State(up): State<Arc<Upstreams>>, request: Request) -> Response {
    up.proxy.forward(&up.mes_api, request).await
}

async fn to_infra_api(State(up): State<Arc<Upstreams>>, request: Request) -> Response {
    match &up.infra_api {
        Some(infra) => up.proxy.forward(infra, request).await,
        None => ErrorBody::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "INFRA_API_NOT_CONFIGURED",
            "this plant runs without infra-api (INFRA_API_URL is not set)",
        )
        .into_response(),
    }
}

async fn unknown_api() -> Response {
    ErrorBody::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint").into_response()
}

/// One log line per request: method, path (never the query, which could carry secrets),
/// status, duration and request id.
async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    if path != "/healthz" && path != "/readyz" {
        let status = response.status().as_u16();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if response.status().is_server_error() {
            tracing::warn!(method = %method, path, status, ms, request_id, "request");
        } else {
            tracing::info!(method = %method, path, status, ms, request_id, "request");
        }
    }
    response
}

/// Serves on `listener` until `shutdown` resolves; then open streams and WebSockets are closed
/// and in-flight requests drain.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping, stop_seen) = watch::channel(false);
    let app = router(config, stop_seen);
    // No Nagle: a response's last segment would otherwise wait for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        stopping.send_replace(true);
    })
    .await
}

/// Everything `main` does after reading the configuration.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let index = config.assets_dir.join("index.html");
    if !index.is_file() {
        anyhow::bail!(
            "{} does not exist: DASHBOARD_ASSETS_DIR must point at the built web UI \
             (npm ci && npm run build in services/dashboard/web, then its dist/)",
            index.display()
        );
    }
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.listen_addr))?;
    tracing::info!(
        addr = %config.listen_addr,
        assets = %config.assets_dir.display(),
        mes_api = %config.mes_api,
        infra_api = config.infra_api.as_ref().map(ToString::to_string),
        "dashboard listening"
    );
    serve(listener, &config, shutdown_signal()).await?;
    tracing::info!("dashboard stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (Kubernetes sends SIGTERM before it kills a pod).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; closing streams and draining requests");
}
