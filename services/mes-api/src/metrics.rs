//! Prometheus metrics: requests by route and status, latency, database pool.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub process_events: IntCounterVec,
    /// Commands per event-writer batch.
    pub event_batch_size: Histogram,
    /// Batches that failed and were re-run one command at a time.
    pub event_batches_split: IntCounter,
    pub db_pool_size: IntGauge,
    pub db_pool_idle: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("mes_api".into()), None).unwrap_or_default();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["method", "route", "status"],
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["method", "route"],
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let process_events = IntCounterVec::new(
            Opts::new(
                "process_events_total",
                "process events by line, process and result",
            ),
            &["line", "process", "result"],
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let event_batch_size = Histogram::with_opts(
            HistogramOpts::new("event_batch_size", "commands per event-writer batch")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let event_batches_split = IntCounter::new(
            "event_batches_split_total",
            "event batches re-run one command at a time after a failed statement",
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let db_pool_size = IntGauge::new("db_pool_connections", "open database connections")
            .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let db_pool_idle = IntGauge::new("db_pool_idle_connections", "idle database connections")
            .unwrap_or_else(|e| panic!("metric definition: {e}"));
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(process_events.clone()),
            Box::new(event_batch_size.clone()),
            Box::new(event_batches_split.clone()),
            Box::new(db_pool_size.clone()),
            Box::new(db_pool_idle.clone()),
        ] {
            registry
                .register(c)
                .unwrap_or_else(|e| panic!("metric registration: {e}"));
        }
        Self {
            registry,
            http_requests,
            http_duration,
            process_events,
            event_batch_size,
            event_batches_split,
            db_pool_size,
            db_pool_idle,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
