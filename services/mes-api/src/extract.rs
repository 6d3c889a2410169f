//! Request extractors whose rejections use the API's error envelope, and the request context
//! (who, from where, which request) that write transactions hand to the audit triggers.

use std::net::IpAddr;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::json;

use crate::auth::Principal;
use crate::client_ip::ClientIp;
use crate::error::ApiError;

/// JSON body; malformed JSON → 400 `MALFORMED_JSON`, wrong shape → 422 `VALIDATION_ERROR`,
/// too large → 413 `PAYLOAD_TOO_LARGE`, wrong content type → 415.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Query string; bad values → 400 `INVALID_QUERY`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path parameters; bad values → 400 `INVALID_PATH`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let detail = rejection.body_text();
        match rejection {
            JsonRejection::JsonDataError(_) => {
                ApiError::validation("the request body does not match the expected shape")
                    .with_details(json!({ "reason": detail }))
            }
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("MALFORMED_JSON", "the request body is not valid JSON")
                    .with_details(json!({ "reason": detail }))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "expected `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "the request body is too large",
            ),
            other => ApiError::bad_request("INVALID_BODY", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("INVALID_QUERY", "invalid query parameters")
            .with_details(json!({ "reason": rejection.body_text() }))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("INVALID_PATH", "invalid path parameter")
            .with_details(json!({ "reason": rejection.body_text() }))
    }
}

/// Who made the request and from where, for audit rows and idempotency scoping.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: Option<Principal>,
    pub actor: String,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl RequestContext {
    /// The authenticated principal; routes behind `auth::require` always have one.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal
            .as_ref()
            .ok_or_else(|| ApiError::unauthorized("AUTH_REQUIRED", "authentication required"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = parts.extensions.get::<Principal>().cloned();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(255).collect::<String>())
        };
        Ok(Self {
            actor: principal
                .as_ref()
                .map(Principal::actor)
                .unwrap_or_else(|| "anonymous".into()),
            principal,
            // Set by the router's `client_ip` layer from the connection and trusted proxies.
            ip: parts.extensions.get::<ClientIp>().map(|c| c.0),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        })
    }
}
