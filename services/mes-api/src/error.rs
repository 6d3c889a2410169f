//! The one error type of the API and the success/error envelopes of SPEC §4.
//!
//! Every failure leaves as `{"success":false,"error":{"code","message","details"},"timestamp"}`
//! with a specific, stable `code`; internal errors are logged with the request id and answered
//! with a generic message — never a stack trace or SQL text.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A failed request: HTTP status, a stable machine code and a human message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header (rate limiting).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            message,
        )
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// An unexpected failure: logged in full here, answered without detail.
    pub fn internal(source: impl std::fmt::Display) -> Self {
        tracing::error!(error = %source, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal server error",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::error!(error = %e, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "DATABASE_UNAVAILABLE",
                    "the database is not reachable; retry later",
                )
            }
            // A safety net behind the handlers' own validation: input the database refuses is
            // the client's error, named without SQL text.
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                let constraint = db.constraint().map(str::to_owned);
                match (&*code, code.get(..2)) {
                    ("22P05" | "22021", _) => {
                        Self::validation("text must not contain NUL characters")
                    }
                    (_, Some("22")) => Self::validation("a value is out of range or malformed"),
                    ("23505", _) => Self::conflict(
                        "ALREADY_EXISTS",
                        "a record with this identity already exists",
                    )
                    .with_details(serde_json::json!({ "constraint": constraint })),
                    ("23503" | "23514" | "23502" | "23P01", _) => {
                        Self::validation("the request violates a data rule")
                            .with_details(serde_json::json!({ "constraint": constraint }))
                    }
                    ("40001" | "40P01", _) => Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "RETRY",
                        "the request collided with a concurrent one; retry it",
                    ),
                    _ => Self::internal(e),
                }
            }
            _ => Self::internal(e),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    pub error: ErrorBody,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `SERIAL_NOT_FOUND`.
    pub code: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Option<Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let mut response = (
            self.status,
            Json(ErrorEnvelope {
                success: false,
                error: ErrorBody {
                    code: self.code.to_owned(),
                    message: self.message,
                    details: self.details,
                },
                timestamp: Utc::now(),
            }),
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        // Lets middleware (metrics, access log) see the code without parsing the body.
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

/// The error code of a response, for middleware.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// The body of every success response: `{"success":true,"data":…,"timestamp"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    pub data: T,
    pub timestamp: DateTime<Utc>,
}

/// A success response with its status code.
#[derive(Debug)]
pub struct ApiResponse<T> {
    pub status: StatusCode,
    pub data: T,
}

impl<T> ApiResponse<T> {
    pub fn ok(data: T) -> Self {
        Self {
            status: StatusCode::OK,
            data,
        }
    }

    pub fn created(data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            data,
        }
    }
}

impl<T: Serialize> IntoResponse for ApiResponse<T> {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(Envelope {
                success: true,
                data: self.data,
                timestamp: Utc::now(),
            }),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<ApiResponse<T>, ApiError>;
