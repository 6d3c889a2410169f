//! Production execution (SPEC §3): station events moving serials through a line's routing,
//! rework, and the counters dashboards read. Decisions come from `mes_core::apply`; this module
//! loads the state it needs and persists what comes back; station events are written in batches
//! by each replica's event writer (`writer.rs`), everything else in one transaction per request.

pub mod batch_sql;
pub mod decide;
pub mod events;
pub mod idempotency;
pub mod rework;
pub mod route_cache;
pub mod writer;

use axum::http::StatusCode;
use mes_core::RoutingError;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::RequestContext;

/// Which shard of a rollup row an event counts in; spreading by serial keeps concurrent
/// stations at one process off a single counter row.
pub const ROLLUP_SHARDS: i64 = 16;

pub fn routing_error(e: RoutingError) -> ApiError {
    let status = match e {
        RoutingError::InvalidProcess { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CONFLICT,
    };
    let details = match &e {
        RoutingError::PreviousProcessIncomplete { missing, .. } => {
            json!({ "missing_process": missing })
        }
        RoutingError::OtherProcessInProgress { open_process, .. } => {
            json!({ "open_process": open_process })
        }
        _ => serde_json::Value::Null,
    };
    let mut err = ApiError::new(status, e.code(), e.to_string());
    if !details.is_null() {
        err = err.with_details(details);
    }
    err
}

/// The statement that starts every event transaction: sets the audit context (same settings as
/// `db::begin_write`) in the same round trip as the row lock.
pub(crate) fn audit_context_binds(ctx: &RequestContext) -> (String, String, String, String) {
    (
        ctx.actor.clone(),
        ctx.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        ctx.user_agent.clone().unwrap_or_default(),
        ctx.request_id.clone().unwrap_or_default(),
    )
}
