//! Prometheus metrics: HTTP requests by route and status, Kubernetes API calls made by this
//! process (reads are served from caches, so these are watches, re-lists, logs and restarts),
//! open log streams and restarts requested; Hubble Relay reachability and live flow streams.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub kube_api_requests: IntCounterVec,
    pub log_streams: IntGauge,
    pub restarts: IntCounter,
    pub hubble_up: IntGauge,
    pub flow_streams: IntGauge,
    pub flow_streams_dropped: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "infra_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "infra_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let kube_api_requests = IntCounterVec::new(
            Opts::new(
                "infra_kube_api_requests_total",
                "Requests this process sent to the Kubernetes API, by verb",
            ),
            &["verb"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let log_streams = IntGauge::new("infra_log_streams_open", "Log follow streams open now")
            .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let restarts = IntCounter::new(
            "infra_rollout_restarts_total",
            "Rollout restarts requested through infra-api",
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let hubble_up = IntGauge::new(
            "infra_hubble_up",
            "1 when the last ServerStatus probe reached Hubble Relay",
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let flow_streams = IntGauge::new(
            "infra_flow_streams_open",
            "Live network flow streams open now",
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let flow_streams_dropped = IntCounter::new(
            "infra_flow_streams_dropped_total",
            "Live flow streams ended because the client did not keep up",
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(kube_api_requests.clone()),
            Box::new(log_streams.clone()),
            Box::new(restarts.clone()),
            Box::new(hubble_up.clone()),
            Box::new(flow_streams.clone()),
            Box::new(flow_streams_dropped.clone()),
        ] {
            let _ = registry.register(c);
        }
        Self {
            registry,
            http_requests,
            http_duration,
            kube_api_requests,
            log_streams,
            restarts,
            hubble_up,
            flow_streams,
            flow_streams_dropped,
        }
    }

    /// Kubernetes API requests sent so far, all verbs.
    pub fn kube_api_calls(&self) -> u64 {
        [
            "get", "list", "watch", "create", "update", "patch", "delete", "other",
        ]
        .iter()
        .map(|v| self.kube_api_requests.with_label_values(&[v]).get())
        .sum()
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}
