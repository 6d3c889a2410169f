//! `mes-operator`: reconciles MesPlant resources. Serves `/healthz`, `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;
use mes_operator::controller::{self, Scope};
use mes_operator::metrics::Metrics;
use tracing::info;

#[derive(Debug, Parser)]
#[command(
    name = "mes-operator",
    version,
    about = "Reconciles MesPlant resources"
)]
struct Args {
    /// Namespaces to reconcile (comma separated); all namespaces when empty.
    #[arg(
        long = "namespace",
        env = "MES_OPERATOR_NAMESPACES",
        value_delimiter = ','
    )]
    namespaces: Vec<String>,
    /// Address of the health and metrics server.
    #[arg(long, env = "MES_OPERATOR_LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    listen_addr: SocketAddr,
    /// `json` or `text`.
    #[arg(long, env = "MES_LOG_FORMAT", default_value = "json")]
    log_format: String,
}

#[derive(Clone)]
struct Http {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    mes_operator::telemetry::init(&args.log_format);
    let metrics = Arc::new(Metrics::new()?);
    let ready = Arc::new(AtomicBool::new(false));

    let listener = tokio::net::TcpListener::bind(args.listen_addr).await?;
    info!(addr = %listener.local_addr()?, "serving /healthz /readyz /metrics");
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(s): State<Http>| async move { s.metrics.render() }),
        )
        .with_state(Http {
            metrics: metrics.clone(),
            ready: ready.clone(),
        });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
    });

    let client = kube::Client::try_default().await?;
    client.apiserver_version().await?;
    ready.store(true, Ordering::SeqCst);
    let mut controller_stop = stop_rx;
    let scope = Scope {
        namespaces: args
            .namespaces
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect(),
    };
    let controllers = tokio::spawn(controller::run(client, scope, metrics, async move {
        let _ = controller_stop.wait_for(|s| *s).await;
    }));
    shutdown_signal().await;
    info!("shutting down");
    ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    let _ = controllers.await;
    let _ = http.await;
    Ok(())
}

async fn readyz(State(s): State<Http>) -> (StatusCode, &'static str) {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
