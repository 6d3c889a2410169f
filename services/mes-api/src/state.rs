//! The shared state handed to every handler.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::AccessControl;
use crate::auth::jwt::JwtKeys;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::station_token::StationTokens;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::production::route_cache::RouteCache;
use crate::production::writer::Writer;
use crate::realtime::Hub;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub jwt: Arc<JwtKeys>,
    pub access: Arc<AccessControl>,
    pub station_tokens: Arc<StationTokens>,
    pub login_limiter: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    pub routes: Arc<RouteCache>,
    pub realtime: Hub,
    /// START/COMPLETE go through this replica's batched event writer.
    pub writer: Writer,
}
