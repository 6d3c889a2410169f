//! Leader election on a `coordination.k8s.io/v1` Lease (crate `kube-lease-manager`): the
//! controllers run only while this instance holds the Lease, stop when it is lost, and start again
//! when it is won back. On shutdown the Lease is released, so a standby takes over without waiting
//! for it to expire.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// Where the Lease lives and how long a holder's claim lasts.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease_name: String,
    /// Unique per instance (the pod name in a cluster).
    pub identity: String,
    /// A holder that has not renewed for this long loses the Lease.
    pub lease_duration: Duration,
    /// The holder renews this long before its claim would expire (the renew deadline); also the
    /// clock skew between nodes that the election tolerates.
    pub renew_grace: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error(
        "lease duration ({duration}s) must be longer than the renew grace ({grace}s), both > 0"
    )]
    BadTiming { duration: u64, grace: u64 },
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
}

impl LeaderElection {
    fn params(&self) -> Result<LeaseParams, LeaderError> {
        let (duration, grace) = (self.lease_duration.as_secs(), self.renew_grace.as_secs());
        if grace == 0 || grace >= duration {
            return Err(LeaderError::BadTiming { duration, grace });
        }
        Ok(LeaseParams::new(self.identity.clone(), duration, grace)
            .with_field_manager(format!("mes-operator-lease-{}", self.identity)))
    }
}

/// Resolves when the controllers must stop (leadership lost or shutdown).
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// Runs `lead(stop)` each time this instance becomes leader, where `stop` resolves when the
/// leadership is lost or `shutdown` fires, and waits for it to return (the controllers stop
/// gracefully). Returns after `shutdown`, having released the Lease.
pub async fn run<F>(
    client: Client,
    election: &LeaderElection,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    mut lead: F,
) -> Result<(), LeaderError>
where
    F: FnMut(Stop) -> BoxFuture<'static, ()>,
{
    let manager = LeaseManagerBuilder::new(client, &election.lease_name)
        .with_namespace(&election.namespace)
        .with_parameters(election.params()?)
        .build()
        .await?;
    let (leading, task) = manager.watch().await;
    info!(lease = %election.lease_name, identity = %election.identity, "waiting for leadership");
    loop {
        let mut won = leading.clone();
        let mut stopping = shutdown.clone();
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => break,
            r = won.wait_for(|l| *l) => if r.is_err() {
                warn!("the lease manager stopped; no longer a candidate");
                break;
            },
        }
        info!(identity = %election.identity, "leading: starting the controllers");
        metrics.leader.set(1);
        let mut lost = leading.clone();
        let mut stopping = shutdown.clone();
        lead(Box::pin(async move {
            tokio::select! {
                _ = lost.wait_for(|l| !*l) => {}
                _ = stopping.wait_for(|s| *s) => {}
            }
        }))
        .await;
        metrics.leader.set(0);
        if *shutdown.borrow_and_update() {
            break;
        }
        warn!(identity = %election.identity, "lost the lease: controllers stopped");
    }
    // Dropping the last receiver makes the manager release the Lease and finish.
    drop(leading);
    match tokio::time::timeout(Duration::from_secs(5), task).await {
        Ok(Ok(Ok(_))) => info!("lease released"),
        Ok(Ok(Err(e))) => warn!(error = %e, "could not release the lease"),
        Ok(Err(e)) => warn!(error = %e, "lease manager task failed"),
        Err(_) => warn!("timed out releasing the lease"),
    }
    Ok(())
}

/// Resolves when `shutdown` turns true (or its sender is gone).
pub async fn on_shutdown(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// A default identity: the pod name when set, else the host name, plus a random suffix so two
/// processes on one host never share it.
pub fn default_identity() -> String {
    use rand::Rng;
    let base = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "mes-operator".into());
    let suffix: u32 = rand::rng().random();
    format!("{base}-{suffix:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn election(duration: u64, grace: u64) -> LeaderElection {
        LeaderElection {
            namespace: "default".into(),
            lease_name: "mes-operator".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(duration),
            renew_grace: Duration::from_secs(grace),
        }
    }

    #[test]
    fn timing_is_checked_before_the_lease_manager_sees_it() {
        assert!(election(15, 5).params().is_ok());
        assert!(matches!(
            election(5, 5).params(),
            Err(LeaderError::BadTiming { .. })
        ));
        assert!(matches!(
            election(5, 0).params(),
            Err(LeaderError::BadTiming { .. })
        ));
    }
}
