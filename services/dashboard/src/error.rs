//! Errors the dashboard server answers itself, in the APIs' envelope
//! (`{"success":false,"error":{"code","message","details"},"timestamp"}`), so the UI handles
//! "mes-api is unreachable" like any other API error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ErrorBody {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
}

impl ErrorBody {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn with_upstream(mut self, upstream: &str) -> Self {
        self.details = json!({ "upstream": upstream });
        self
    }
}

impl IntoResponse for ErrorBody {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "error": { "code": self.code, "message": self.message, "details": self.details },
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        response
    }
}
