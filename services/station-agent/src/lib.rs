//! Station agent: delivers the JSON files that process apps drop into `input/` to mes-api,
//! exactly once, across network outages, crashes and power loss (SPEC §9, seed 001 §3.5).
//!
//! Pure decisions live in [`validate`] (is this file an event?), [`deliver::decide`] (what does
//! this HTTP result mean?), [`event::idempotency_key`] and [`scan`]'s readiness rule; [`agent`]
//! does the IO around them.

pub mod agent;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod event;
pub mod housekeeping;
pub mod layout;
pub mod logging;
pub mod queue;
pub mod replay;
pub mod scan;
#[cfg(windows)]
pub mod service;
pub mod status;
pub mod validate;
pub mod watch;

use tokio::sync::watch as signal;

/// Runs the agent on a single-threaded runtime (a station PC has little to spare) until
/// `stop` resolves, or until the work is done in once mode.
pub fn run_agent(
    config: &config::Config,
    mode: agent::Mode,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<agent::Summary> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (tx, rx) = signal::channel(false);
        let agent = agent::Agent::new(config, rx)?;
        tokio::spawn(async move {
            stop.await;
            let _ = tx.send(true);
        });
        Ok(agent.run(mode).await?)
    })
}
