//! `/api/infra/pods` served from a precomputed snapshot instead of the reflector store.
//!
//! Building 5,000 rows from typed `Pod`s, sorting and serializing them costs milliseconds; doing
//! it per request put the p99 over target. So a task rebuilds the sorted rows — and the
//! serialized JSON of the unfiltered answer — only when the pod watch delivers a change
//! (coalesced: at most one rebuild per [`THROTTLE`]), plus every [`AGE_REFRESH`] while someone
//! reads, so that `age_seconds` and `seconds_since_last_restart` (computed at `snapshot_at`)
//! stay within a few seconds of the truth. A request then clones an `Arc` and, unfiltered,
//! copies no row at all. Rebuilding — and freeing the previous snapshot's thousands of strings —
//! happens on the blocking pool, never on the async workers that serve requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::Store;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::http::pods::PodRow;

/// Changes arriving closer together than this are folded into one rebuild.
pub const THROTTLE: Duration = Duration::from_millis(100);
/// Ages are refreshed this often while the endpoint is being read. Each refresh is a full
/// rebuild (10–25 ms of CPU for 5,000 pods), which on a 2-core node shows in other requests'
/// tail latency; a few seconds of staleness in an age is invisible on a dashboard, and
/// `snapshot_at` + `created_at` give the exact figure to anyone who needs it.
pub const AGE_REFRESH: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct PodSnapshot {
    pub taken_at: DateTime<Utc>,
    /// Sorted by name (unique in a namespace, so the order is total and stable).
    pub rows: Vec<PodRow>,
    /// `data` of the unfiltered answer (`{namespace,total,snapshot_at,items}`), serialized once.
    pub all_json: Bytes,
}

/// The `data` object of `/api/infra/pods`.
#[derive(Debug, Serialize)]
pub struct PodList<'a> {
    pub namespace: &'a str,
    pub total: usize,
    /// When the rows were computed; ages are as of this time.
    pub snapshot_at: DateTime<Utc>,
    pub items: &'a [&'a PodRow],
}

impl PodSnapshot {
    /// Pure: rows of `pods` at `now`, sorted, and the serialized unfiltered answer.
    pub fn build(pods: &[Arc<Pod>], namespace: &str, now: DateTime<Utc>) -> Self {
        let mut rows: Vec<PodRow> = pods.iter().map(|p| PodRow::from_pod(p, now)).collect();
        rows.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let refs: Vec<&PodRow> = rows.iter().collect();
        let data = PodList {
            namespace,
            total: rows.len(),
            snapshot_at: now,
            items: &refs,
        };
        // Serializing plain structs of strings and numbers cannot fail.
        let all_json = serde_json::to_vec(&data)
            .map(Bytes::from)
            .unwrap_or_default();
        drop(refs);
        Self {
            taken_at: now,
            rows,
            all_json,
        }
    }
}

/// The current snapshot, for handlers.
#[derive(Debug, Clone)]
pub struct PodSnapshots {
    current: watch::Receiver<Arc<PodSnapshot>>,
    /// Set by readers; tells the task that ages are worth refreshing.
    read: Arc<AtomicBool>,
}

impl PodSnapshots {
    pub fn current(&self) -> Arc<PodSnapshot> {
        self.read.store(true, Ordering::Relaxed);
        self.current.borrow().clone()
    }
}

/// Starts the rebuild task. `changed` is notified by the pod watcher on every event;
/// `listed()` says whether the watcher has completed its initial list; `synced()` is called
/// after the first snapshot built from a complete list is published.
pub fn spawn(
    store: Store<Pod>,
    namespace: String,
    changed: Arc<Notify>,
    listed: impl Fn() -> bool + Send + 'static,
    synced: impl Fn() + Send + 'static,
) -> (PodSnapshots, JoinHandle<()>) {
    let empty = PodSnapshot::build(&[], &namespace, Utc::now());
    let (tx, rx) = watch::channel(Arc::new(empty));
    let read = Arc::new(AtomicBool::new(false));
    let handle = PodSnapshots {
        current: rx,
        read: read.clone(),
    };
    let task = tokio::spawn(async move {
        // Checks every second; rebuilds only when the snapshot is AGE_REFRESH old and was read.
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut built = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = changed.notified() => tokio::time::sleep(THROTTLE).await,
                _ = ticker.tick() => {
                    if !(built.elapsed() >= AGE_REFRESH && read.swap(false, Ordering::Relaxed)) {
                        continue;
                    }
                }
            }
            built = tokio::time::Instant::now();
            let complete = listed();
            let pods = store.state();
            let ns = namespace.clone();
            // Thousands of rows: keep the CPU work off the async workers.
            let Ok(snapshot) =
                tokio::task::spawn_blocking(move || PodSnapshot::build(&pods, &ns, Utc::now()))
                    .await
            else {
                continue;
            };
            let previous = tx.send_replace(Arc::new(snapshot));
            tokio::task::spawn_blocking(move || drop(previous));
            if complete {
                synced();
            }
        }
    });
    (handle, task)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn pod(name: &str, component: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "creationTimestamp": "2026-11-25T09:00:00Z",
                             "labels": {"app.kubernetes.io/component": component}},
                "spec": {"containers": [{"name": "app"}]},
                "status": {"phase": "Running"}
            }))
            .unwrap(),
        )
    }

    /// Waits (in paused, virtual time) until `count` reaches `want`.
    async fn builds_reach(count: &AtomicUsize, want: usize) {
        for _ in 0..600 {
            if count.load(Ordering::SeqCst) >= want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} builds, wanted {want}", count.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn rebuilt_on_change_and_for_ages_only_while_read() {
        let (store, _writer) = kube::runtime::reflector::store::<Pod>();
        let changed = Arc::new(Notify::new());
        let builds = Arc::new(AtomicUsize::new(0));
        let counter = builds.clone();
        let (snapshots, task) = spawn(
            store,
            "plant".into(),
            changed.clone(),
            || true,
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
            },
        );
        // A burst of changes is one rebuild.
        for _ in 0..50 {
            changed.notify_one();
        }
        builds_reach(&builds, 1).await;
        tokio::time::sleep(THROTTLE * 3).await;
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        // Nobody reads: ages are not refreshed, however much time passes.
        tokio::time::sleep(AGE_REFRESH * 4).await;
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        // Read: refreshed once it is AGE_REFRESH old, then quiet again.
        let first = snapshots.current().taken_at;
        builds_reach(&builds, 2).await;
        tokio::time::sleep(AGE_REFRESH * 4).await;
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        assert!(snapshots.current().taken_at >= first);
        task.abort();
    }

    #[test]
    fn rows_are_sorted_and_the_unfiltered_json_matches_them() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .to_utc();
        let s = PodSnapshot::build(
            &[pod("b", "api"), pod("a", "db"), pod("c", "api")],
            "plant",
            now,
        );
        let names: Vec<&str> = s.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let v: serde_json::Value = serde_json::from_slice(&s.all_json).unwrap();
        assert_eq!(v["namespace"], "plant");
        assert_eq!(v["total"], 3);
        assert_eq!(v["snapshot_at"], "2026-11-25T10:00:00Z");
        assert_eq!(v["items"][0]["name"], "a");
        assert_eq!(v["items"][0]["age_seconds"], 3600);
        assert_eq!(v["items"][2]["component"], "api");
        let empty = PodSnapshot::build(&[], "plant", now);
        let v: serde_json::Value = serde_json::from_slice(&empty.all_json).unwrap();
        assert_eq!(v["items"], serde_json::json!([]));
    }
}
