//! The operator's side of the mes-api contract (SPEC §4): a short-lived ADMIN token minted from
//! the plant's JWT key, `PUT /api/v1/lines/{code}`, `GET /api/v1/dashboard/lines/{code}/kpis` and
//! `DELETE /api/v1/lines/{code}` (deactivation). Spoken over HTTP only — the operator never links
//! mes-api; the claims below mirror `services/mes-api/src/auth/jwt.rs`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lifetime of a minted token: long enough for one reconcile, short enough to be worthless soon.
pub const TOKEN_TTL_SECONDS: i64 = 300;
/// The `sub` of minted tokens; mes-api writes it to `audit_log.changed_by`.
pub const TOKEN_SUBJECT: &str = "mes-operator";
/// No user row stands behind the operator's tokens; mes-api only refuses ids of deactivated
/// users, and ids start at 1.
const TOKEN_USER_ID: i32 = 0;

/// The claims mes-api verifies (HS256; `sub`, `iat`, `exp` required, no leeway).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub user_id: i32,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
}

/// An ADMIN token for mes-api, valid from `now` (Unix seconds) for [`TOKEN_TTL_SECONDS`].
pub fn mint_admin_token(key: &[u8], now: i64) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = Claims {
        sub: TOKEN_SUBJECT.into(),
        user_id: TOKEN_USER_ID,
        role: "ADMIN".into(),
        iat: now,
        exp: now + TOKEN_TTL_SECONDS,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
}

/// The HS256 key as mes-api reads it from `MES_JWT_SECRET_FILE` (trailing newlines dropped).
pub fn signing_key(secret_value: &[u8]) -> &[u8] {
    let mut end = secret_value.len();
    while end > 0 && matches!(secret_value[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &secret_value[..end]
}

/// What `GET /dashboard/lines/{code}/kpis` answers (the fields the operator copies).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LineKpis {
    pub wip: i64,
    pub completed_today: i64,
    #[serde(default)]
    pub yield_percent: Option<f64>,
    pub throughput_per_hour: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum MesApiError {
    #[error("mes-api at {url} unreachable: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("mes-api {method} {path} answered {status} {code}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("mes-api {path}: unexpected body: {detail}")]
    Body { path: String, detail: String },
}

impl MesApiError {
    /// A short label for metrics, event reasons and condition reasons.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "MesApiUnreachable",
            Self::Status { status, .. }
                if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN =>
            {
                "MesApiUnauthorized"
            }
            Self::Status { status, .. } if status.is_server_error() => "MesApiError",
            Self::Status { .. } => "MesApiRejected",
            Self::Body { .. } => "MesApiError",
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// A pooled HTTP client for every plant's mes-api.
#[derive(Debug, Clone)]
pub struct MesApiClient {
    http: reqwest::Client,
}

impl Default for MesApiClient {
    fn default() -> Self {
        Self::new()
    }
}

impl MesApiClient {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(15))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(4)
            .build()
            // Only fails when the TLS backend cannot start; the defaults then fail the same way.
            .unwrap_or_default();
        Self { http }
    }

    /// `PUT /api/v1/lines/{code}`: mes-api writes nothing when the definition is unchanged.
    pub async fn put_line(
        &self,
        base: &str,
        token: &str,
        code: &str,
        definition: &Value,
    ) -> Result<(), MesApiError> {
        let path = format!("/api/v1/lines/{code}");
        self.call(Method::PUT, base, &path, token, Some(definition))
            .await
            .map(drop)
    }

    pub async fn line_kpis(
        &self,
        base: &str,
        token: &str,
        code: &str,
    ) -> Result<LineKpis, MesApiError> {
        let path = format!("/api/v1/dashboard/lines/{code}/kpis");
        let data = self.call(Method::GET, base, &path, token, None).await?;
        serde_json::from_value(data).map_err(|e| MesApiError::Body {
            path,
            detail: e.to_string(),
        })
    }

    /// `DELETE /api/v1/lines/{code}` deactivates the line (history stays); a line mes-api never
    /// had counts as done.
    pub async fn deactivate_line(
        &self,
        base: &str,
        token: &str,
        code: &str,
    ) -> Result<(), MesApiError> {
        let path = format!("/api/v1/lines/{code}");
        match self.call(Method::DELETE, base, &path, token, None).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }

    /// One request; the `data` of a success envelope, or the error envelope as an error.
    async fn call(
        &self,
        method: Method,
        base: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Value, MesApiError> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let mut request = self.http.request(method.clone(), &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |source| MesApiError::Unreachable {
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        let envelope: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(envelope.get("data").cloned().unwrap_or(Value::Null));
        }
        let field = |name: &str| {
            envelope
                .pointer(&format!("/error/{name}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Err(MesApiError::Status {
            method,
            path: path.to_string(),
            status,
            code: field("code").unwrap_or_default(),
            message: field("message").unwrap_or_else(|| text.chars().take(200).collect::<String>()),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    #[test]
    fn minted_token_carries_the_claims_mes_api_verifies() {
        let key = b"0123456789abcdef0123456789abcdef";
        let token = mint_admin_token(key, 1_000).unwrap();
        // Validated the way mes-api does: HS256 only, exp/iat/sub required.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        let claims =
            jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_secret(key), &validation)
                .unwrap()
                .claims;
        assert_eq!(
            claims,
            Claims {
                sub: "mes-operator".into(),
                user_id: 0,
                role: "ADMIN".into(),
                iat: 1_000,
                exp: 1_300
            }
        );
        let wrong = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_secret(b"another key entirely............"),
            &validation,
        );
        assert!(wrong.is_err());
    }

    #[test]
    fn signing_key_drops_trailing_newlines_like_mes_api() {
        assert_eq!(signing_key(b"abc\r\n\n"), b"abc");
        assert_eq!(signing_key(b"a\nb"), b"a\nb");
        assert_eq!(signing_key(b""), b"");
    }
}
