//! The mes-api client: envelopes, credentials, and retries that keep the same `Idempotency-Key`.
//!
//! Exactly-once rests on the retry rule here: a connection error, a timeout, a 5xx, a 408 or a 429
//! is retried with the *same* key and body (bounded exponential backoff with jitter), so a request
//! whose effect committed but whose answer was lost comes back as the stored original
//! (`idempotent-replayed: true`) and changes nothing. Any other refusal (4xx) is final.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// How long and how often a retryable request is tried again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Give up when the next attempt would start later than this after the first one.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            give_up_after: Duration::from_secs(120),
        }
    }
}

/// A request that did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// mes-api answered with a final (non-retryable) error.
    #[error("{status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// Retries were exhausted (mes-api down, or answering 5xx, for longer than the policy allows).
    #[error("no answer after {attempts} attempts: {last}")]
    Unreachable { attempts: u32, last: String },
    /// A 2xx answer whose body is not the expected envelope.
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl CallError {
    /// The error code used in reports: mes-api's own code, or UNREACHABLE / BAD_RESPONSE.
    pub fn code(&self) -> &str {
        match self {
            CallError::Refused { code, .. } => code,
            CallError::Unreachable { .. } => "UNREACHABLE",
            CallError::Protocol(_) => "BAD_RESPONSE",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply<T> {
    pub data: T,
    /// The answer is the stored response of an earlier request with the same key.
    pub replayed: bool,
    pub attempts: u32,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// The code and message of an error answer; the raw status when the body is not an envelope.
pub fn error_of(status: StatusCode, body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(e) => (e.error.code, e.error.message),
        Err(_) => (
            format!("HTTP_{}", status.as_u16()),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        ),
    }
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// Connection pool and base URL shared by every session.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
}

impl Api {
    pub fn new(base: &str, retry: RetryPolicy) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .user_agent(concat!("mes-sim/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: format!("{}/api/v1", base.trim_end_matches('/')),
            retry,
        })
    }

    /// A session that logs in as a user (and logs in again when the JWT expires).
    pub async fn login(&self, username: &str, password: &str) -> Result<Session, CallError> {
        let token = self.fetch_jwt(username, password).await?;
        Ok(Session {
            api: self.clone(),
            cred: Arc::new(Credential::User {
                username: username.to_owned(),
                password: password.to_owned(),
                token: RwLock::new(token),
            }),
        })
    }

    /// A session with a station API token (`mest_…`).
    pub fn station(&self, token: String) -> Session {
        Session {
            api: self.clone(),
            cred: Arc::new(Credential::Station(token)),
        }
    }

    async fn fetch_jwt(&self, username: &str, password: &str) -> Result<String, CallError> {
        #[derive(Deserialize)]
        struct Login {
            access_token: String,
        }
        let anonymous = Session {
            api: self.clone(),
            cred: Arc::new(Credential::None),
        };
        let reply: Reply<Login> = anonymous
            .call(
                Method::POST,
                "/auth/login",
                Some(&json!({ "username": username, "password": password })),
                None,
            )
            .await?;
        Ok(reply.data.access_token)
    }
}

#[derive(Debug)]
enum Credential {
    None,
    Station(String),
    User {
        username: String,
        password: String,
        token: RwLock<String>,
    },
}

/// An authenticated caller of mes-api. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Session {
    api: Api,
    cred: Arc<Credential>,
}

impl Session {
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        Ok(self.call(Method::GET, path, None, None).await?.data)
    }

    pub async fn put<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, CallError> {
        Ok(self.call(Method::PUT, path, Some(body), None).await?.data)
    }

    /// POST; with a key, retries are exactly-once on the server side.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Reply<T>, CallError> {
        self.call(Method::POST, path, Some(body), idempotency_key)
            .await
    }

    async fn bearer(&self) -> Option<String> {
        match &*self.cred {
            Credential::None => None,
            Credential::Station(t) => Some(t.clone()),
            Credential::User { token, .. } => Some(token.read().await.clone()),
        }
    }

    async fn relogin(&self) -> Result<(), CallError> {
        if let Credential::User {
            username,
            password,
            token,
        } = &*self.cred
        {
            let fresh = self.api.fetch_jwt(username, password).await?;
            *token.write().await = fresh;
        }
        Ok(())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply<T>, CallError> {
        let url = format!("{}{path}", self.api.base);
        let policy = &self.api.retry;
        let first = Instant::now();
        let mut backoff = policy.first_backoff;
        let mut attempts = 0;
        let mut relogged = false;
        loop {
            attempts += 1;
            let mut request = self.api.http.request(method.clone(), &url);
            if let Some(token) = self.bearer().await {
                request = request.bearer_auth(token);
            }
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let replayed = response
                        .headers()
                        .get("idempotent-replayed")
                        .is_some_and(|v| v.as_bytes() == b"true");
                    match response.bytes().await {
                        Ok(bytes) => Ok((status, replayed, bytes)),
                        Err(e) => Err(transport_error(&e)),
                    }
                }
                Err(e) => Err(transport_error(&e)),
            };
            let last = match outcome {
                Ok((status, replayed, bytes)) if status.is_success() => {
                    let envelope: Envelope<T> = serde_json::from_slice(&bytes)
                        .map_err(|e| CallError::Protocol(format!("{method} {path}: {e}")))?;
                    return Ok(Reply {
                        data: envelope.data,
                        replayed,
                        attempts,
                    });
                }
                Ok((status, _, bytes)) => {
                    let (code, message) = error_of(status, &bytes);
                    let is_user = matches!(*self.cred, Credential::User { .. });
                    if status == StatusCode::UNAUTHORIZED && is_user && !relogged {
                        relogged = true;
                        // Boxed: logging in goes through `call` again.
                        Box::pin(self.relogin()).await?;
                        continue;
                    }
                    if !retryable(status) {
                        return Err(CallError::Refused {
                            status: status.as_u16(),
                            code,
                            message,
                        });
                    }
                    format!("{} {code}", status.as_u16())
                }
                Err(transport) => transport,
            };
            if first.elapsed() + backoff > policy.give_up_after {
                return Err(CallError::Unreachable { attempts, last });
            }
            tracing::debug!(%method, path, attempts, error = %last, "retrying with the same key");
            let jitter = rand::thread_rng().gen_range(0.5..1.0);
            tokio::time::sleep(backoff.mul_f64(jitter)).await;
            backoff = (backoff * 2).min(policy.max_backoff);
        }
    }
}

/// A transport error with its cause chain (reqwest's own message is terse).
fn transport_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelopes_give_code_and_message() {
        let body = br#"{"success":false,"error":{"code":"ALREADY_STARTED","message":"open","details":null}}"#;
        let (code, message) = error_of(StatusCode::CONFLICT, body);
        assert_eq!(code, "ALREADY_STARTED");
        assert_eq!(message, "open");
        let (code, _) = error_of(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(code, "HTTP_502");
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        assert!(retryable(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable(StatusCode::CONFLICT));
        assert!(!retryable(StatusCode::UNPROCESSABLE_ENTITY));
        assert!(!retryable(StatusCode::UNAUTHORIZED));
    }
}
