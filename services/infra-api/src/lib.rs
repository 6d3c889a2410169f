//! infra-api: the `/api/infra` service of SPEC §7 — pods, workloads, events, logs and rollout
//! restarts of the plant namespace, served from kube-runtime watch caches.
//!
//! `main.rs` only reads configuration and calls [`run`]. Reads never call the Kubernetes API:
//! handlers look at the reflector stores of [`cache::Cache`]. Logs and restarts are the only
//! requests that reach the API server (there is no cache of container logs, and a restart is a
//! write). Network flows come from Hubble Relay's gRPC Observer API ([`hubble`]), independent of
//! the Kubernetes side: either can be down while the other keeps working.

pub mod auth;
pub mod cache;
pub mod config;
pub mod http;
pub mod hubble;
pub mod kube_client;
pub mod metrics;
pub mod pod_snapshot;
pub mod state;
pub mod telemetry;
pub mod time;

use axum::serve::ListenerExt;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use mes_api::auth::jwt::JwtKeys;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::hubble::{Hubble, HubbleOptions};
use crate::metrics::Metrics;
use crate::state::{AppState, Cluster};

/// JWTs are only verified here, never issued; the lifetime is mes-api's business.
const UNUSED_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Builds the shared state: the JWT keys, the metrics, the Hubble Relay client and — when a
/// cluster configuration is found — a Kubernetes client and the watch caches. Without any
/// cluster, or without a reachable relay, the service still starts.
pub async fn prepare(config: Config) -> anyhow::Result<AppState> {
    let metrics = Arc::new(Metrics::new());
    let cluster = match kube_client::infer(&metrics).await {
        Ok(client) => Some(Cluster::start(client, &config.namespace)),
        Err(e) => {
            tracing::warn!(error = %e, "no Kubernetes configuration; infra endpoints answer 503 CLUSTER_UNAVAILABLE");
            None
        }
    };
    let hubble = match &config.hubble_relay_addr {
        None => {
            tracing::info!(
                "Hubble Relay switched off; network endpoints answer 503 HUBBLE_UNAVAILABLE"
            );
            Hubble::disabled()
        }
        Some(addr) => Hubble::start(
            addr,
            config.hubble_tls.as_ref(),
            HubbleOptions::default(),
            metrics.hubble_up.clone(),
        )
        .with_context(|| format!("Hubble Relay client for {addr}"))?,
    };
    Ok(AppState::new(
        Arc::new(JwtKeys::new(&config.jwt_secret, UNUSED_TTL)),
        cluster,
        metrics,
        config,
    )
    .with_hubble(hubble))
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let flag = state.shutting_down.clone();
    // No Nagle: a large answer's last segment would otherwise wait for the client's delayed ACK
    // (~40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ends open log follow streams; everything else drains normally.
            flag.send_replace(true);
        })
        .await
}

/// Everything `main` does after reading the configuration.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listen = config.listen_addr;
    let namespace = config.namespace.clone();
    let state = prepare(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listen, namespace, "infra-api listening");
    serve(listener, state.clone(), mes_api::shutdown_signal()).await?;
    state.stop();
    tracing::info!("infra-api stopped");
    Ok(())
}
