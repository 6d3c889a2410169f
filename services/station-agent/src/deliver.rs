//! One delivery attempt to mes-api, and what its result means for the file.
//!
//! [`decide`] is the whole policy and does no IO; [`ApiClient`] only sends.

use std::time::Duration;

use serde_json::Value;

use crate::event::Kind;

/// What came back from one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Response {
        status: u16,
        body: String,
    },
    /// No HTTP answer: refused, reset, timed out, DNS…
    Network(String),
}

/// What to do with the event after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// 2xx, or a replay of an earlier 2xx: the event is stored.
    Delivered,
    /// The API refused this event for good (4xx): file it in `error/` with the server's reason.
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// The server failed (5xx, 408, 429): worth retrying soon.
    Retry { reason: String },
    /// Cannot deliver now for reasons that are not this event's fault (network down, the
    /// station's token refused): keep it in the offline queue until that is fixed.
    Queue { reason: String },
}

/// `code` and `message` from mes-api's error envelope, or a stand-in for a non-API answer.
fn error_of(status: u16, body: &str) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v["error"][name].as_str())
            .map(str::to_owned)
    };
    match (field("code"), field("message")) {
        (Some(code), Some(message)) => (code, message),
        (code, _) => {
            let mut text: String = body.chars().take(300).collect();
            if text.trim().is_empty() {
                text = "(empty body)".into();
            }
            (code.unwrap_or_else(|| format!("HTTP_{status}")), text)
        }
    }
}

pub fn decide(attempt: &Attempt) -> Decision {
    match attempt {
        Attempt::Network(e) => Decision::Queue {
            reason: format!("network: {e}"),
        },
        Attempt::Response { status, body } => {
            let status = *status;
            let (code, message) = error_of(status, body);
            match status {
                200..=299 => Decision::Delivered,
                // The token is the station's, not the file's: fixing it must deliver the backlog.
                401 | 403 => Decision::Queue {
                    reason: format!("{status} {code}: {message}"),
                },
                408 | 429 => Decision::Retry {
                    reason: format!("{status} {code}: {message}"),
                },
                400..=499 => Decision::Rejected {
                    status,
                    code,
                    message,
                },
                _ => Decision::Retry {
                    reason: format!("{status} {code}: {message}"),
                },
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading CA certificate {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("building the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl ApiClient {
    pub fn new(
        base_url: &str,
        token: &str,
        timeout: Duration,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("station-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|source| ClientError::CaFile {
                path: path.display().to_string(),
                source,
            })?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        Ok(Self {
            http: builder.build()?,
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    pub async fn post(&self, kind: Kind, payload: &str, key: &str) -> Attempt {
        let sent = self
            .http
            .post(format!("{}{}", self.base, kind.endpoint()))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload.to_owned())
            .send()
            .await;
        match sent {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.text().await {
                    Ok(body) => Attempt::Response { status, body },
                    // The server may have stored the event; the key makes a resend safe.
                    Err(e) => Attempt::Network(format!("reading the response: {e}")),
                }
            }
            Err(e) => Attempt::Network(describe(&e)),
        }
    }
}

/// reqwest's top-level message hides the cause ("error sending request"); show the chain.
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Attempt {
        Attempt::Response {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(
            decide(&response(200, r#"{"success":true}"#)),
            Decision::Delivered
        );
        assert_eq!(
            decide(&response(
                409,
                r#"{"success":false,"error":{"code":"PROCESS_NOT_STARTED","message":"no open record"}}"#
            )),
            Decision::Rejected {
                status: 409,
                code: "PROCESS_NOT_STARTED".into(),
                message: "no open record".into()
            }
        );
        assert!(matches!(
            decide(&response(500, "boom")),
            Decision::Retry { reason } if reason.contains("HTTP_500") && reason.contains("boom")
        ));
        assert!(matches!(decide(&response(429, "")), Decision::Retry { .. }));
        assert!(matches!(
            decide(&response(401, r#"{"error":{"code":"INVALID_TOKEN","message":"x"}}"#)),
            Decision::Queue { reason } if reason.contains("INVALID_TOKEN")
        ));
        assert!(matches!(
            decide(&Attempt::Network("connection refused".into())),
            Decision::Queue { .. }
        ));
        assert!(matches!(
            decide(&response(413, "")),
            Decision::Rejected { code, .. } if code == "HTTP_413"
        ));
    }
}
