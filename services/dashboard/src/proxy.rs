//! The reverse proxy to mes-api and infra-api: plain requests, streamed responses (Server-Sent
//! Events pass through frame by frame) and WebSocket upgrades (the upgraded connections are
//! spliced byte for byte, so the proxy never parses WebSocket frames).
//!
//! Nothing here logs headers, bodies or query strings: tokens travel in `Authorization` headers
//! and WebSocket messages, and must not end up in the dashboard's logs.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http_body_util::BodyDataStream;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::watch;

use crate::error::ErrorBody;

/// How long to wait for an upstream to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for an upstream's response head (streams may then run for hours).
const RESPONSE_HEAD_TIMEOUT: Duration = Duration::from_secs(60);

/// One upstream service, e.g. mes-api at `http://mes-api:8080`.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// For error messages and logs: `mes-api`, `infra-api`.
    pub name: &'static str,
    /// Scheme, authority and an optional path prefix.
    pub base: Uri,
}

impl Upstream {
    /// The upstream URI for a request path (and query) received by the dashboard.
    pub fn target(&self, original: &Uri) -> Result<Uri, axum::http::Error> {
        let prefix = self.base.path().trim_end_matches('/');
        let path_and_query = original.path_and_query().map_or("/", |pq| pq.as_str());
        let mut parts = self.base.clone().into_parts();
        parts.path_and_query = Some(format!("{prefix}{path_and_query}").parse()?);
        Ok(Uri::from_parts(parts)?)
    }
}

/// The HTTP client shared by every proxied request, and the server's shutdown signal (streams
/// and spliced WebSockets end when it fires, so a graceful shutdown does not wait for them).
#[derive(Debug, Clone)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    shutdown: watch::Receiver<bool>,
}

impl Proxy {
    pub fn new(shutdown: watch::Receiver<bool>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { client, shutdown }
    }

    /// Forwards `request` to `upstream` and relays the answer.
    pub async fn forward(&self, upstream: &Upstream, mut request: Request) -> Response {
        let upgrade = wants_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let outgoing = match self.outgoing(upstream, request, upgrade) {
            Ok(outgoing) => outgoing,
            Err(error) => {
                tracing::warn!(upstream = upstream.name, error = %error, "cannot build the upstream request");
                return ErrorBody::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "cannot forward this request",
                )
                .into_response();
            }
        };
        let answer =
            tokio::time::timeout(RESPONSE_HEAD_TIMEOUT, self.client.request(outgoing)).await;
        let mut response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                tracing::warn!(upstream = upstream.name, error = %error, "upstream unreachable");
                return unavailable(upstream);
            }
            Err(_) => {
                tracing::warn!(upstream = upstream.name, "upstream did not answer in time");
                return ErrorBody::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "UPSTREAM_TIMEOUT",
                    format!("{} did not answer in time", upstream.name),
                )
                .with_upstream(upstream.name)
                .into_response();
            }
        };
        if let (Some(client_upgrade), StatusCode::SWITCHING_PROTOCOLS) =
            (client_upgrade, response.status())
        {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let (parts, _) = response.into_parts();
            tokio::spawn(splice(
                client_upgrade,
                upstream_upgrade,
                self.shutdown.clone(),
                upstream.name,
            ));
            return Response::from_parts(parts, Body::empty());
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        // Streams (SSE, log follow) end when the server shuts down instead of holding it open.
        let mut shutdown = self.shutdown.clone();
        let stopped = async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        };
        let stream = BodyDataStream::new(body).take_until(Box::pin(stopped));
        Response::from_parts(parts, Body::from_stream(stream))
    }

    fn outgoing(
        &self,
        upstream: &Upstream,
        request: Request,
        upgrade: bool,
    ) -> Result<Request, axum::http::Error> {
        let (mut parts, body) = request.into_parts();
        let target = upstream.target(&parts.uri)?;
        let host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers, upgrade);
        parts.headers.remove(header::HOST);
        if let Some(host) = host {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-host"), host);
        }
        parts.headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("http"),
        );
        if let Some(peer) = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        {
            let forwarded_for = match parts
                .headers
                .get("x-forwarded-for")
                .map(HeaderValue::to_str)
            {
                Some(Ok(earlier)) => format!("{earlier}, {}", peer.0.ip()),
                _ => peer.0.ip().to_string(),
            };
            if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
                parts.headers.insert("x-forwarded-for", value);
            }
        }
        parts.uri = target;
        let mut outgoing = Request::from_parts(parts, body);
        *outgoing.version_mut() = axum::http::Version::HTTP_11;
        Ok(outgoing)
    }
}

/// A 502 in the APIs' envelope, so the UI shows "mes-api is unreachable" rather than a parse error.
pub fn unavailable(upstream: &Upstream) -> Response {
    ErrorBody::new(
        StatusCode::BAD_GATEWAY,
        "UPSTREAM_UNAVAILABLE",
        format!("{} is unreachable", upstream.name),
    )
    .with_upstream(upstream.name)
    .into_response()
}

/// `Connection: upgrade` with an `Upgrade` header (WebSocket handshakes).
fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes the headers that describe one hop (RFC 9110 §7.6.1), including those the
/// `Connection` header names. For a handshake `Connection: upgrade` and `Upgrade` stay.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .filter(|name| !(upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
    ] {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

/// Copies bytes both ways between the browser's and the upstream's upgraded connections until
/// either side closes or the server shuts down.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    mut shutdown: watch::Receiver<bool>,
    name: &'static str,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(error) => {
            tracing::warn!(upstream = name, error = %error, "WebSocket upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(error) = result {
                tracing::debug!(upstream = name, error = %error, "WebSocket connection ended");
            }
        }
        _ = shutdown.wait_for(|stopping| *stopping) => {
            tracing::debug!(upstream = name, "closing a WebSocket connection for shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_path_and_query_under_the_base() -> anyhow::Result<()> {
        let plain = Upstream {
            name: "mes-api",
            base: "http://mes-api:8080".parse()?,
        };
        let original: Uri = "/api/v1/lots?page=2&status=CREATED".parse()?;
        assert_eq!(
            plain.target(&original)?.to_string(),
            "http://mes-api:8080/api/v1/lots?page=2&status=CREATED"
        );
        let prefixed = Upstream {
            name: "mes-api",
            base: "http://gateway/plant-kr/".parse()?,
        };
        assert_eq!(
            prefixed.target(&"/ws/realtime".parse()?)?.to_string(),
            "http://gateway/plant-kr/ws/realtime"
        );
        Ok(())
    }

    #[test]
    fn hop_by_hop_headers_are_dropped_but_end_to_end_ones_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        strip_hop_by_hop(&mut headers, false);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["authorization", "content-type"]);
    }

    #[test]
    fn a_websocket_handshake_keeps_its_upgrade_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&headers));
        strip_hop_by_hop(&mut headers, true);
        assert_eq!(headers[header::CONNECTION], "upgrade");
        assert_eq!(headers[header::UPGRADE], "websocket");

        let mut plain = HeaderMap::new();
        plain.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!wants_upgrade(&plain));
    }
}
