//! Ctrl-C and SIGTERM as an awaitable event, so that what we started gets stopped in order
//! instead of the default action killing xtask and leaving children and the cluster behind.

use anyhow::{Context, Result};
use tokio::signal::unix::{Signal, SignalKind, signal};

#[derive(Debug)]
pub struct Shutdown {
    interrupt: Signal,
    terminate: Signal,
}

impl Shutdown {
    /// Call before starting anything: from here on the signals no longer end the process.
    pub fn listen() -> Result<Self> {
        Ok(Shutdown {
            interrupt: signal(SignalKind::interrupt()).context("could not handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("could not handle SIGTERM")?,
        })
    }

    /// Resolves with the signal's name when one arrives.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "Ctrl-C",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
