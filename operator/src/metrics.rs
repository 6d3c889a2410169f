//! Prometheus metrics: reconciles, errors and reconcile duration per kind; leadership.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub reconciles: IntCounterVec,
    pub errors: IntCounterVec,
    pub duration: HistogramVec,
    /// 1 while this instance holds the leader Lease (or runs without leader election).
    pub leader: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("mes_operator_reconciles_total", "Reconciles run"),
            &["kind"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "mes_operator_reconcile_errors_total",
                "Reconciles that failed",
            ),
            &["kind", "error"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "mes_operator_reconcile_duration_seconds",
                "Time spent in one reconcile",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["kind"],
        )?;
        let leader = IntGauge::new(
            "mes_operator_leader",
            "1 while this instance leads and runs the controllers",
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self {
            registry,
            reconciles,
            errors,
            duration,
            leader,
        })
    }

    /// The text exposition format served at `/metrics`.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}
