//! Exactly-once writes: a request carrying `Idempotency-Key` is recorded with its response in the
//! same transaction as its effect. A replay (same principal, key and body) returns the stored
//! response and changes nothing; the same key with a different body is refused.
//!
//! Only successful responses are stored: a refused request may succeed later once its cause is
//! gone (e.g. the previous process completed), and retrying it with the same key must be allowed.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::error::{ApiError, Envelope};

pub const HEADER: &str = "idempotency-key";

#[derive(Debug, Clone)]
pub struct Idempotency {
    principal: String,
    key: String,
    method: &'static str,
    path: String,
    hash: Vec<u8>,
}

impl Idempotency {
    /// `None` when the request has no key.
    pub fn from_request(
        headers: &HeaderMap,
        principal: &str,
        method: &'static str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Option<Self>, ApiError> {
        let Some(raw) = headers.get(HEADER) else {
            return Ok(None);
        };
        let key = raw
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_IDEMPOTENCY_KEY",
                    "Idempotency-Key must be 1-255 visible ASCII characters",
                )
            })?;
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update(b" ");
        hasher.update(path.as_bytes());
        hasher.update(b"\n");
        // serde_json maps are ordered by key, so equal bodies serialise identically.
        hasher.update(serde_json::to_vec(body).map_err(ApiError::internal)?);
        Ok(Some(Self {
            principal: principal.to_owned(),
            key: key.to_owned(),
            method,
            path: path.to_owned(),
            hash: hasher.finalize().to_vec(),
        }))
    }

    pub fn principal(&self) -> &str {
        &self.principal
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn method(&self) -> &'static str {
        self.method
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// The stored response of an earlier request with this key, if there is one.
    pub async fn replay(&self, db: &PgPool) -> Result<Option<Response>, ApiError> {
        let stored: Option<Stored> = sqlx::query_as(
            "SELECT request_hash, response_status, response_body, method, path FROM idempotency_keys
             WHERE principal = $1 AND idempotency_key = $2",
        )
        .bind(&self.principal)
        .bind(&self.key)
        .fetch_optional(db)
        .await?;
        stored.map(|s| self.answer(s)).transpose()
    }

    /// The response for a stored record of this key: the original one, or a refusal when the
    /// key was used for a different request.
    pub fn answer(&self, stored: Stored) -> Result<Response, ApiError> {
        let Stored {
            request_hash: hash,
            response_status: status,
            response_body: body,
            method,
            path,
        } = stored;
        if hash != self.hash || method != self.method || path != self.path {
            return Err(ApiError::unprocessable(
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was already used for a different request",
            )
            .with_details(json!({ "idempotency_key": self.key })));
        }
        let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
        let mut response = (status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        Ok(response)
    }

    /// The body stored for a successful response.
    pub fn envelope<T: Serialize>(data: &T) -> Result<Value, ApiError> {
        serde_json::to_value(Envelope {
            success: true,
            data,
            timestamp: Utc::now(),
        })
        .map_err(ApiError::internal)
    }

    /// Records the response inside the transaction that makes the change.
    pub async fn record<T: Serialize>(
        &self,
        tx: &mut PgConnection,
        status: StatusCode,
        data: &T,
    ) -> Result<(), ApiError> {
        let body = Self::envelope(data)?;
        sqlx::query(
            "INSERT INTO idempotency_keys (principal, idempotency_key, method, path, request_hash, response_status, response_body)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&self.principal)
        .bind(&self.key)
        .bind(self.method)
        .bind(&self.path)
        .bind(&self.hash)
        .bind(status.as_u16() as i16)
        .bind(body)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// A stored idempotency record, as read by [`Idempotency::replay`] or joined into an event's
/// locking query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    pub request_hash: Vec<u8>,
    pub response_status: i16,
    pub response_body: Value,
    pub method: String,
    pub path: String,
}

/// What a keyed write did: its work, or found its key already answered.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    Replayed(Response),
}

/// Like [`once`] for writes that look their key up themselves, in the statement that locks
/// their row (one round trip fewer on the hot path).
pub async fn once_inline<T, F>(
    db: &PgPool,
    idem: Option<&Idempotency>,
    status: StatusCode,
    work: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: std::future::Future<Output = Result<Outcome<T>, ApiError>>,
{
    match work.await {
        Ok(Outcome::Done(data)) => Ok(crate::error::ApiResponse { status, data }.into_response()),
        Ok(Outcome::Replayed(response)) => Ok(response),
        Err(e) => {
            if let Some(i) = idem
                && let Some(stored) = i.replay(db).await?
            {
                return Ok(stored);
            }
            Err(e)
        }
    }
}

/// Runs a keyed write exactly once: replays a stored response, otherwise runs `work`; when
/// `work` fails because a concurrent twin with the same key won, answers with the twin's response.
pub async fn once<T, F>(
    db: &PgPool,
    idem: Option<&Idempotency>,
    status: StatusCode,
    work: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    if let Some(i) = idem
        && let Some(stored) = i.replay(db).await?
    {
        return Ok(stored);
    }
    match work.await {
        Ok(data) => Ok(crate::error::ApiResponse { status, data }.into_response()),
        Err(e) => {
            if let Some(i) = idem
                && let Some(stored) = i.replay(db).await?
            {
                return Ok(stored);
            }
            Err(e)
        }
    }
}

/// Deletes keys older than the retention, so the table stays small.
pub fn spawn_purge(db: PgPool, retention_days: i32) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let result = sqlx::query(
                "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1)",
            )
            .bind(retention_days)
            .execute(&db)
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not purge old idempotency keys");
            }
        }
    });
}
