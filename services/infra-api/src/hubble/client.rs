//! The connection to Hubble Relay: one lazily connecting tonic channel (it reconnects by itself
//! on the next call after a failure) and a probe task that calls `ServerStatus` — every
//! `probe_interval` while the relay answers, with capped exponential back-off while it does not.
//! Requests look at the probe's last result instead of calling the relay to find out, so a dead
//! relay costs them nothing and they answer 503 `HUBBLE_UNAVAILABLE` at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::IntGauge;
use serde::Serialize;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::HubbleTls;
use crate::hubble::proto::observer::observer_client::ObserverClient;
use crate::hubble::proto::observer::{ServerStatusRequest, ServerStatusResponse};

#[derive(Debug, Clone)]
pub struct HubbleOptions {
    /// Between two `ServerStatus` probes while the relay answers.
    pub probe_interval: Duration,
    /// First and longest delay between probes while it does not.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    /// For `ServerStatus` and for a whole (non-follow) `GetFlows` answer.
    pub request_timeout: Duration,
    /// Flows buffered per live stream; a client that falls this far behind is dropped.
    pub stream_buffer: usize,
    /// Live streams open at once (each is a relay call and a task); more answer 429.
    pub max_live_streams: usize,
}

impl Default for HubbleOptions {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_secs(10),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            stream_buffer: 1024,
            max_live_streams: 64,
        }
    }
}

/// Doubling, capped.
pub fn next_backoff(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

/// What the last probe found (served in `/api/infra/status` and `/readyz`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HubbleStatus {
    pub configured: bool,
    pub address: Option<String>,
    pub tls: bool,
    pub reachable: bool,
    /// When the last probe finished (null before the first).
    pub checked_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The relay's own figures from its last `ServerStatus`.
    pub server: Option<ServerInfo>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: String,
    pub num_flows: u64,
    pub max_flows: u64,
    pub seen_flows: u64,
    pub uptime_seconds: u64,
    pub connected_nodes: Option<u32>,
    pub unavailable_nodes: Option<u32>,
}

impl From<&ServerStatusResponse> for ServerInfo {
    fn from(r: &ServerStatusResponse) -> Self {
        Self {
            version: r.version.clone(),
            num_flows: r.num_flows,
            max_flows: r.max_flows,
            seen_flows: r.seen_flows,
            uptime_seconds: r.uptime_ns / 1_000_000_000,
            connected_nodes: r.num_connected_nodes,
            unavailable_nodes: r.num_unavailable_nodes,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HubbleError {
    #[error("Hubble Relay is not configured (HUBBLE_RELAY_ADDR=off)")]
    NotConfigured,
    #[error("Hubble Relay at {address} is not reachable: {reason}")]
    Unreachable { address: String, reason: String },
    /// The relay answered, with an error of its own (bad filter, internal error…).
    #[error("Hubble Relay refused the request: {0}")]
    Refused(tonic::Status),
    #[error("{limit} live flow streams are open already")]
    TooManyStreams { limit: usize },
}

struct Conn {
    address: String,
    client: ObserverClient<Channel>,
    wake: Notify,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Cheap to clone; shared by every handler.
#[derive(Clone)]
pub struct Hubble {
    conn: Option<Arc<Conn>>,
    status: Arc<watch::Sender<HubbleStatus>>,
    /// One permit per open live stream, `options.max_live_streams` in all.
    live_streams: Arc<Semaphore>,
    options: HubbleOptions,
}

impl std::fmt::Debug for Hubble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hubble")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

fn endpoint(address: &str, tls: Option<&HubbleTls>, o: &HubbleOptions) -> anyhow::Result<Endpoint> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut ep = Endpoint::from_shared(format!("{scheme}://{address}"))?
        .connect_timeout(o.connect_timeout)
        .tcp_nodelay(true)
        // Finds a relay that vanished without closing the connection (node loss).
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if let Some(t) = tls {
        let mut c = ClientTlsConfig::new();
        c = match &t.ca_pem {
            Some(ca) => c.ca_certificate(Certificate::from_pem(ca)),
            None => c.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&t.client_cert_pem, &t.client_key_pem) {
            c = c.identity(Identity::from_pem(cert, key));
        }
        if let Some(name) = &t.server_name {
            c = c.domain_name(name.clone());
        }
        ep = ep.tls_config(c)?;
    }
    Ok(ep)
}

impl Hubble {
    /// No relay configured: every flow request answers 503 `HUBBLE_UNAVAILABLE`.
    pub fn disabled() -> Self {
        Self {
            conn: None,
            status: Arc::new(watch::Sender::new(HubbleStatus::default())),
            live_streams: Arc::new(Semaphore::new(0)),
            options: HubbleOptions::default(),
        }
    }

    /// Connects lazily to `address` (`host:port`) and starts the probe task; never fails for
    /// an unreachable relay, only for an unusable address or TLS material.
    pub fn start(
        address: &str,
        tls: Option<&HubbleTls>,
        options: HubbleOptions,
        up: IntGauge,
    ) -> anyhow::Result<Self> {
        let channel = endpoint(address, tls, &options)?.connect_lazy();
        let conn = Arc::new(Conn {
            address: address.to_owned(),
            client: ObserverClient::new(channel),
            wake: Notify::new(),
            task: Mutex::new(None),
        });
        let status = Arc::new(watch::Sender::new(HubbleStatus {
            configured: true,
            address: Some(address.to_owned()),
            tls: tls.is_some(),
            ..HubbleStatus::default()
        }));
        let task = tokio::spawn(probe(conn.clone(), status.clone(), options.clone(), up));
        if let Ok(mut slot) = conn.task.lock() {
            *slot = Some(task);
        }
        Ok(Self {
            conn: Some(conn),
            status,
            live_streams: Arc::new(Semaphore::new(options.max_live_streams)),
            options,
        })
    }

    /// A place for one more live stream, held until the stream ends.
    pub fn live_stream_permit(&self) -> Result<OwnedSemaphorePermit, HubbleError> {
        self.live_streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| HubbleError::TooManyStreams {
                limit: self.options.max_live_streams,
            })
    }

    pub fn options(&self) -> &HubbleOptions {
        &self.options
    }

    pub fn status(&self) -> HubbleStatus {
        self.status.borrow().clone()
    }

    /// A client, when the last probe reached the relay.
    pub fn client(&self) -> Result<ObserverClient<Channel>, HubbleError> {
        let conn = self.conn.as_ref().ok_or(HubbleError::NotConfigured)?;
        let status = self.status.borrow();
        if status.reachable {
            Ok(conn.client.clone())
        } else {
            Err(HubbleError::Unreachable {
                address: conn.address.clone(),
                reason: status
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not connected yet".into()),
            })
        }
    }

    /// Classifies a failed call. Transport-level failures mark the relay unreachable and wake
    /// the probe, so that the next requests answer 503 until a probe succeeds again.
    pub fn failed(&self, s: tonic::Status) -> HubbleError {
        let Some(conn) = &self.conn else {
            return HubbleError::NotConfigured;
        };
        use tonic::Code;
        if matches!(
            s.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled
        ) {
            let reason = format!("{:?}: {}", s.code(), s.message());
            self.status.send_modify(|st| {
                st.reachable = false;
                st.last_error = Some(reason.clone());
            });
            conn.wake.notify_one();
            HubbleError::Unreachable {
                address: conn.address.clone(),
                reason,
            }
        } else {
            HubbleError::Refused(s)
        }
    }

    /// A timeout of a whole call, treated like a transport failure.
    pub fn timed_out(&self) -> HubbleError {
        self.failed(tonic::Status::deadline_exceeded("no answer in time"))
    }

    /// Stops the probe task (on shutdown).
    pub fn stop(&self) {
        if let Some(conn) = &self.conn
            && let Ok(mut slot) = conn.task.lock()
            && let Some(task) = slot.take()
        {
            task.abort();
        }
    }
}

async fn probe(
    conn: Arc<Conn>,
    status: Arc<watch::Sender<HubbleStatus>>,
    o: HubbleOptions,
    up: IntGauge,
) {
    let mut delay = o.backoff_min;
    loop {
        let mut client = conn.client.clone();
        let answer = tokio::time::timeout(
            o.request_timeout,
            client.server_status(ServerStatusRequest {}),
        )
        .await;
        let now = Utc::now();
        // Cloned in its own statement: a `borrow()` guard alive during `send_replace` deadlocks.
        let previous = status.borrow().clone();
        let error = match answer {
            Ok(Ok(resp)) => {
                let info = ServerInfo::from(resp.get_ref());
                let was = status.send_replace(HubbleStatus {
                    reachable: true,
                    checked_at: Some(now),
                    last_error: None,
                    server: Some(info),
                    ..previous
                });
                if !was.reachable {
                    tracing::info!(address = conn.address, "Hubble Relay reachable");
                }
                up.set(1);
                delay = o.backoff_min;
                tokio::select! {
                    () = tokio::time::sleep(o.probe_interval) => {}
                    () = conn.wake.notified() => {}
                }
                continue;
            }
            Ok(Err(s)) => format!("{:?}: {}", s.code(), s.message()),
            Err(_) => format!("no ServerStatus answer in {:?}", o.request_timeout),
        };
        let was = status.send_replace(HubbleStatus {
            reachable: false,
            checked_at: Some(now),
            last_error: Some(error.clone()),
            ..previous
        });
        up.set(0);
        if was.reachable || was.checked_at.is_none() {
            tracing::warn!(
                address = conn.address,
                error,
                "Hubble Relay unreachable; retrying with back-off"
            );
        } else {
            tracing::debug!(
                address = conn.address,
                error,
                "Hubble Relay still unreachable"
            );
        }
        tokio::time::sleep(delay).await;
        delay = next_backoff(delay, o.backoff_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let max = Duration::from_secs(30);
        let mut d = HubbleOptions::default().backoff_min;
        let mut seen = vec![d];
        for _ in 0..10 {
            d = next_backoff(d, max);
            seen.push(d);
        }
        assert_eq!(seen[1], Duration::from_millis(500));
        assert_eq!(seen[2], Duration::from_secs(1));
        assert_eq!(*seen.last().unwrap_or(&Duration::ZERO), max);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn server_info_from_status() {
        let r = ServerStatusResponse {
            num_flows: 10,
            max_flows: 4095,
            seen_flows: 99,
            uptime_ns: 61_500_000_000,
            num_connected_nodes: Some(3),
            num_unavailable_nodes: Some(0),
            unavailable_nodes: vec![],
            version: "1.18.0".into(),
        };
        let i = ServerInfo::from(&r);
        assert_eq!(i.uptime_seconds, 61);
        assert_eq!(i.connected_nodes, Some(3));
        assert_eq!(i.version, "1.18.0");
    }

    #[tokio::test]
    async fn disabled_client_says_not_configured() {
        let h = Hubble::disabled();
        assert!(matches!(h.client(), Err(HubbleError::NotConfigured)));
        assert!(!h.status().configured);
    }
}
