//! mes-api: the MES backend (SPEC §4). `main.rs` only reads configuration and calls [`run`].

/// SQL assembled with `format!` from this crate's own constants (column lists, filters) — never
/// from input, which is always bound as a parameter.
macro_rules! sql {
    ($($arg:tt)*) => { sqlx::AssertSqlSafe(format!($($arg)*)) };
}

pub mod auth;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod http;
pub mod metrics;
pub mod production;
pub mod realtime;
pub mod state;
pub mod telemetry;

use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::auth::AccessControl;
use crate::auth::jwt::JwtKeys;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::station_token::StationTokens;
use crate::config::Config;
use crate::extract::RequestContext;
use crate::metrics::Metrics;
use crate::state::AppState;

/// Migrates the database, creates the bootstrap admin if there is no user yet, and builds the
/// state every handler shares.
pub async fn prepare(db: PgPool, config: Config) -> anyhow::Result<AppState> {
    db::migrate(&db).await.context("applying migrations")?;
    if let Some((user, password)) = &config.bootstrap_admin {
        bootstrap_admin(&db, user, password).await?;
    }
    let access = AccessControl::load(&db)
        .await
        .context("loading permissions")?;
    let metrics = Arc::new(Metrics::new());
    let routes: Arc<production::route_cache::RouteCache> = Arc::default();
    let realtime = realtime::Hub::default();
    let writer = production::writer::Writer::spawn(production::writer::WriterDeps {
        db: db.clone(),
        routes: routes.clone(),
        realtime: realtime.clone(),
        metrics: metrics.clone(),
        audit: config.event_audit,
    });
    Ok(AppState {
        jwt: Arc::new(JwtKeys::new(&config.jwt_secret, config.token_ttl)),
        login_limiter: Arc::new(LoginLimiter::per_minute(config.login_attempts_per_minute)),
        access: Arc::new(access),
        station_tokens: Arc::new(StationTokens::default()),
        metrics,
        routes,
        realtime,
        writer,
        config: Arc::new(config),
        db,
    })
}

/// Creates the first ADMIN only when the users table is empty; later starts change nothing, so
/// the bootstrap password can't silently reset a real admin's password.
async fn bootstrap_admin(db: &PgPool, username: &str, password: &str) -> anyhow::Result<()> {
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(db)
        .await?;
    if any {
        return Ok(());
    }
    auth::password::check_policy(password)
        .map_err(|e| anyhow::anyhow!("bootstrap admin password: {}", e.message))?;
    let owned = password.to_owned();
    let hashed = tokio::task::spawn_blocking(move || auth::password::hash(&owned))
        .await?
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let ctx = RequestContext {
        principal: None,
        actor: "bootstrap".into(),
        ip: None,
        user_agent: None,
        request_id: None,
    };
    let mut tx = db::begin_write(db, &ctx)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let inserted = sqlx::query(
        "INSERT INTO users (username, hashed_password, full_name, role)
         SELECT $1, $2, 'Bootstrap administrator', 'ADMIN' WHERE NOT EXISTS (SELECT 1 FROM users)
         ON CONFLICT (username) DO NOTHING",
    )
    .bind(username)
    .bind(hashed)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if inserted == 1 {
        tracing::info!(user = username, "created the bootstrap admin");
    }
    Ok(())
}

/// How long an Idempotency-Key is remembered: longer than any station's offline queue.
pub const IDEMPOTENCY_RETENTION_DAYS: i32 = 30;

/// Serves `state` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    auth::spawn_access_refresh(state.access.clone(), state.db.clone());
    state.realtime.spawn_listener(state.db.clone());
    state.realtime.spawn_publisher(state.db.clone());
    production::idempotency::spawn_purge(state.db.clone(), IDEMPOTENCY_RETENTION_DAYS);
    let app = http::router(state);
    // No Nagle: a response's last segment would otherwise wait for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Everything `main` does after reading the configuration.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let db = db::connect(&config.database_url, config.db_max_connections)
        .await
        .context("connecting to the database")?;
    let listen = config.listen_addr;
    let state = prepare(db, config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listen, "mes-api listening");
    serve(listener, state, shutdown_signal()).await?;
    tracing::info!("mes-api stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (Kubernetes sends SIGTERM before killing a pod).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}
