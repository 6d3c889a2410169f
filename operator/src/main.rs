//! `mes-operator`: reconciles MesPlant and ProductionLine resources while it holds the leader
//! Lease. Serves `/healthz`, `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;
use futures::FutureExt;
use mes_operator::controller::{self, Scope};
use mes_operator::leader::{self, LeaderElection};
use mes_operator::metrics::Metrics;
use mes_operator::reconcile::{Context, LineSettings};
use tracing::info;

#[derive(Debug, Parser)]
#[command(
    name = "mes-operator",
    version,
    about = "Reconciles MesPlant and ProductionLine resources"
)]
struct Args {
    /// Probe mode: GET this URL, print the answer and exit 0 on a 2xx, 1 otherwise. The
    /// image has no shell or curl; this is how `helm test` and the smoke test check `/readyz`.
    #[arg(long, value_name = "URL")]
    probe_url: Option<String>,
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
    /// Base URL of mes-api used for every plant instead of the plant's Service (for an operator
    /// running outside the cluster, tests and benchmarks), e.g. `http://127.0.0.1:8080`.
    #[arg(long, env = "MES_OPERATOR_MES_API_URL")]
    mes_api_url: Option<String>,
    /// How often a synced ProductionLine re-syncs and refreshes its KPIs (seconds).
    #[arg(long, env = "MES_OPERATOR_LINE_REFRESH_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    line_refresh_seconds: u64,
    /// Run the controllers only while holding the leader Lease (`false`: always; one replica only).
    #[arg(long, env = "MES_OPERATOR_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, env = "MES_OPERATOR_LEASE_NAME", default_value = "mes-operator")]
    leader_election_lease: String,
    /// This instance's holder identity; default: pod name (or host name) plus a random suffix.
    #[arg(long, env = "MES_OPERATOR_LEADER_IDENTITY")]
    leader_election_identity: Option<String>,
    /// Seconds a leader's claim lasts without renewal before a standby may take the Lease.
    #[arg(
        long,
        env = "MES_OPERATOR_LEASE_DURATION_SECONDS",
        default_value_t = 15
    )]
    lease_duration_seconds: u64,
    /// Seconds before expiry at which the leader renews (renew deadline; also the tolerated
    /// clock skew). Must be less than the lease duration.
    #[arg(
        long,
        env = "MES_OPERATOR_LEASE_RENEW_GRACE_SECONDS",
        default_value_t = 5
    )]
    lease_renew_grace_seconds: u64,
}

#[derive(Clone)]
struct Http {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(url) = &args.probe_url {
        std::process::exit(probe(url).await);
    }
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
    // Ready means "able to work": the API server answered. A standby waiting for the Lease is
    // ready too, so rolling updates of a two-replica Deployment never stall on it.
    ready.store(true, Ordering::SeqCst);
    let scope = Scope {
        namespaces: args
            .namespaces
            .iter()
            .filter(|n| !n.is_empty())
            .cloned()
            .collect(),
    };
    let lines = LineSettings {
        mes_api_url: args.mes_api_url.clone(),
        refresh: Duration::from_secs(args.line_refresh_seconds),
    };
    let ctx = Arc::new(Context::with_lines(client.clone(), metrics.clone(), lines));
    let mut controllers = if args.leader_elect {
        let election = LeaderElection {
            namespace: args.leader_election_namespace.clone(),
            lease_name: args.leader_election_lease.clone(),
            identity: args
                .leader_election_identity
                .clone()
                .unwrap_or_else(leader::default_identity),
            lease_duration: Duration::from_secs(args.lease_duration_seconds),
            renew_grace: Duration::from_secs(args.lease_renew_grace_seconds),
        };
        let metrics = metrics.clone();
        let shutdown = stop_rx.clone();
        tokio::spawn(async move {
            leader::run(client, &election, metrics, shutdown, |stop| {
                controller::run(ctx.clone(), scope.clone(), stop).boxed()
            })
            .await
        })
    } else {
        metrics.leader.set(1);
        let stop = leader::on_shutdown(stop_rx.clone());
        tokio::spawn(async move {
            controller::run(ctx, scope, stop).await;
            Ok(())
        })
    };
    tokio::select! {
        _ = shutdown_signal() => {}
        finished = &mut controllers => {
            // Only an election that could not start ends early (e.g. bad lease timing).
            ready.store(false, Ordering::SeqCst);
            let _ = stop_tx.send(true);
            let _ = http.await;
            finished??;
            return Ok(());
        }
    }
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

/// One GET with a deadline; the exit status says whether it answered 2xx.
async fn probe(url: &str) -> i32 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build();
    let answer = match client {
        Ok(c) => c.get(url).send().await,
        Err(e) => {
            eprintln!("probe: {e}");
            return 1;
        }
    };
    match answer {
        Ok(resp) => {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            println!("{status} {}", body.trim());
            i32::from(!status.is_success())
        }
        Err(e) => {
            eprintln!("probe: {url}: {e}");
            1
        }
    }
}
