//! The HTTP surface: one module per resource, assembled here with the permission each route
//! needs, so the whole access matrix reads top to bottom in [`router`].

pub mod api_tokens;
pub mod auth;
pub mod dashboard;
pub mod defect_codes;
pub mod history;
pub mod lines;
pub mod lots;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod process;
pub mod product_models;
pub mod reworks;
pub mod serials;
pub mod users;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{self as authz, Action, Permission, Resource};
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `route` so it runs only for a principal holding `permission` (`None`: any principal).
fn guard(
    state: &AppState,
    permission: Option<Permission>,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    route.route_layer(from_fn_with_state(
        (state.clone(), permission),
        authz::require,
    ))
}

fn can(resource: Resource, action: Action) -> Option<Permission> {
    Some(Permission(resource, action))
}

/// The `/api/v1` routes and the permission each one requires.
pub fn api_routes(state: &AppState) -> Router<AppState> {
    use Action::*;
    use Resource::*;
    let g = |p, r| guard(state, p, r);
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/me", g(None, get(auth::me)))
        .route(
            "/users",
            g(can(User, Read), get(users::list)).merge(g(can(User, Create), post(users::create))),
        )
        .route(
            "/users/{id}",
            g(can(User, Read), get(users::get_one))
                .merge(g(can(User, Update), patch(users::update)))
                .merge(g(can(User, Delete), delete(users::deactivate))),
        )
        .route(
            "/api-tokens",
            g(can(User, Read), get(api_tokens::list))
                .merge(g(can(User, Create), post(api_tokens::create))),
        )
        .route(
            "/api-tokens/{id}",
            g(can(User, Delete), delete(api_tokens::revoke)),
        )
        .route("/lines", g(can(Master, Read), get(lines::list)))
        .route(
            "/lines/{line_code}",
            g(can(Master, Read), get(lines::get_one))
                .merge(g(can(Master, Update), put(lines::upsert)))
                .merge(g(can(Master, Delete), delete(lines::deactivate))),
        )
        .route(
            "/product-models",
            g(can(Master, Read), get(product_models::list))
                .merge(g(can(Master, Create), post(product_models::create))),
        )
        .route(
            "/product-models/{model_code}",
            g(can(Master, Read), get(product_models::get_one)),
        )
        .route(
            "/defect-codes",
            g(can(Master, Read), get(defect_codes::list))
                .merge(g(can(Master, Create), post(defect_codes::create))),
        )
        .route(
            "/lots",
            g(can(Lot, Read), get(lots::list)).merge(g(can(Lot, Create), post(lots::create))),
        )
        .route("/lots/{lot_number}", g(can(Lot, Read), get(lots::get_one)))
        .route(
            "/lots/{lot_number}/serials",
            g(can(Serial, Create), post(serials::create)),
        )
        .route(
            "/serials/{serial_number}",
            g(can(Serial, Read), get(serials::get_one)),
        )
        .route(
            "/serials/{serial_number}/history",
            g(can(Audit, Read), get(history::serial_history)),
        )
        .route(
            "/process/start",
            g(can(Process, Create), post(process::start)),
        )
        .route(
            "/process/complete",
            g(can(Process, Create), post(process::complete)),
        )
        .route(
            "/process/records",
            g(can(Process, Read), get(process::records)),
        )
        .route(
            "/reworks",
            g(can(Process, Read), get(reworks::list))
                .merge(g(can(Process, Update), post(reworks::create))),
        )
        .route(
            "/reworks/{id}/complete",
            g(can(Process, Update), post(reworks::complete)),
        )
        .route("/audit", g(can(Audit, Read), get(history::audit)))
        .route(
            "/dashboard/summary",
            g(can(Report, Read), get(dashboard::summary)),
        )
        .route(
            "/dashboard/lines/{line_code}/kpis",
            g(can(Report, Read), get(dashboard::line_kpis)),
        )
}

/// The whole application: ops endpoints, `/api/v1`, the OpenAPI document and its browsable docs.
pub fn router(state: AppState) -> Router {
    let api = api_routes(&state).fallback(not_found);
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/api/v1", api)
        .route("/ws/realtime", get(crate::realtime::ws))
        .merge(openapi::docs())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(from_fn_with_state(state.clone(), observe))
        .layer(from_fn_with_state(state.clone(), client_ip))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND", "no such endpoint")
}

/// Attributes the request to its client (see `crate::client_ip`) for audit and rate limits.
async fn client_ip(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip())
    {
        let forwarded_for = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let ip = state.config.trusted_proxies.client_ip(peer, forwarded_for);
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// Records request count and latency per route template (never per raw path: bounded labels),
/// and logs each request once.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    let elapsed = start.elapsed();
    let status = response.status();
    state
        .metrics
        .http_requests
        .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
        .inc();
    state
        .metrics
        .http_duration
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(elapsed.as_secs_f64());
    log_request(&method, &route, status, elapsed, &response);
    response
}

fn log_request(
    method: &str,
    route: &str,
    status: StatusCode,
    elapsed: Duration,
    response: &Response,
) {
    let code = response
        .extensions()
        .get::<crate::error::ErrorCode>()
        .map(|c| c.0)
        .unwrap_or("");
    let ms = elapsed.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(
            method,
            route,
            status = status.as_u16(),
            code,
            ms,
            "request failed"
        );
    } else if route != "/healthz" && route != "/readyz" && route != "/metrics" {
        tracing::info!(method, route, status = status.as_u16(), code, ms, "request");
    }
}
