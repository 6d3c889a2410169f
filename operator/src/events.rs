//! Kubernetes Events (`events.k8s.io/v1`) about the objects the operator reconciles, published
//! the way kube's `Recorder` publishes them: an Event named `<object>.<time>`, and a repeat of the
//! same event (same object, type, reason and action) within six minutes counted as a series on
//! the first one rather than a new object.
//!
//! Why not kube's `Recorder`: to recognise repeats it keeps a full copy of every Event it
//! published, and of its key, for those six minutes. At a thousand ProductionLines that was
//! about 5 MiB of an operator whose whole peak is meant to stay under 40. Here a repeat is
//! recognised by a 64-bit hash of its key, and only the Event's name, namespace, count and time
//! are kept.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// How long a published Event takes repeats as a series (kube's `Recorder`: 6 minutes).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Longest note kept; the API server refuses notes over 1 kB.
const MAX_NOTE_CHARS: usize = 1000;

/// `Normal` or `Warning`, the two types the API server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// What happened to an object, as its Event tells it.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    pub type_: EventType,
    /// Why, in one CamelCase word (e.g. `PlantReady`).
    pub reason: &'a str,
    /// What the operator was doing (e.g. `Reconcile`).
    pub action: &'a str,
    /// For people; cut at 1,000 characters.
    pub note: &'a str,
}

/// Publishes Events as `controller` (reportingController), from `instance` (reportingInstance).
pub struct EventPublisher {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<RecentEvents>,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("controller", &self.controller)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl EventPublisher {
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Self {
            client,
            controller: controller.to_owned(),
            instance: instance.unwrap_or_else(|| controller.to_owned()),
            recent: Mutex::default(),
        }
    }

    /// Publishes one Event about `regarding`, or counts it on the same Event published within
    /// the last six minutes.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        what: Occurrence<'_>,
    ) -> Result<(), kube::Error> {
        let key = event_key(regarding, &what);
        let now = Timestamp::now();
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let events: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let repeat = self.lock().repeat(key, Instant::now());
        match repeat {
            Some((name, count)) => {
                let series = EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                };
                events
                    .patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({ "series": series })),
                    )
                    .await?;
            }
            None => {
                let event = self.event(regarding, &what, now);
                let created = events.create(&PostParams::default(), &event).await?;
                let name = created.metadata.name.unwrap_or_default();
                self.lock().record(key, name, Instant::now());
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecentEvents> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn event(&self, regarding: &ObjectReference, what: &Occurrence<'_>, now: Timestamp) -> Event {
        let object = regarding.name.as_deref().unwrap_or(&self.controller);
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(what.action.to_owned()),
            reason: Some(what.reason.to_owned()),
            note: Some(what.note.chars().take(MAX_NOTE_CHARS).collect()),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(what.type_.as_str().to_owned()),
            ..Event::default()
        }
    }
}

/// What makes two Events the same event (kube's `Recorder` keys on these too, minus the note).
fn event_key(regarding: &ObjectReference, what: &Occurrence<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    (
        &regarding.api_version,
        &regarding.kind,
        &regarding.namespace,
        &regarding.name,
        &regarding.uid,
    )
        .hash(&mut h);
    (what.type_, what.reason, what.action).hash(&mut h);
    h.finish()
}

/// The Events published within the series window, by key.
#[derive(Debug, Default)]
struct RecentEvents {
    by_key: HashMap<u64, Recent>,
}

#[derive(Debug)]
struct Recent {
    name: String,
    count: i32,
    last: Instant,
}

impl RecentEvents {
    /// The Event to count a repeat on and its new count, or `None` to create a new Event.
    fn repeat(&mut self, key: u64, now: Instant) -> Option<(String, i32)> {
        self.forget_older_than(now);
        let recent = self.by_key.get_mut(&key)?;
        // A single Event's series starts at 2: the first occurrence plus this one.
        recent.count = recent.count.saturating_add(1);
        recent.last = now;
        Some((recent.name.clone(), recent.count))
    }

    fn record(&mut self, key: u64, name: String, now: Instant) {
        self.by_key.insert(
            key,
            Recent {
                name,
                count: 1,
                last: now,
            },
        );
    }

    fn forget_older_than(&mut self, now: Instant) {
        self.by_key
            .retain(|_, r| now.saturating_duration_since(r.last) < SERIES_WINDOW);
        if self.by_key.capacity() > 64 && self.by_key.len() < self.by_key.capacity() / 4 {
            self.by_key.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("mes.smartfactory.io/v1alpha1".into()),
            kind: Some("MesPlant".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    fn key(name: &str, type_: EventType, reason: &str, action: &str) -> u64 {
        let what = Occurrence {
            type_,
            reason,
            action,
            note: "not part of the key",
        };
        event_key(&reference(name), &what)
    }

    #[test]
    fn a_repeat_within_the_window_is_counted_on_the_first_event() {
        let mut recent = RecentEvents::default();
        let t0 = Instant::now();
        let conflict = key("kr", EventType::Warning, "Conflict", "Reconcile");
        assert_eq!(recent.repeat(conflict, t0), None);
        recent.record(conflict, "kr.1".into(), t0);
        let minute = Duration::from_secs(60);
        assert_eq!(
            recent.repeat(conflict, t0 + minute),
            Some(("kr.1".into(), 2))
        );
        assert_eq!(
            recent.repeat(conflict, t0 + 2 * minute),
            Some(("kr.1".into(), 3))
        );
        // The window runs from the last occurrence.
        assert_eq!(
            recent.repeat(conflict, t0 + 7 * minute),
            Some(("kr.1".into(), 4))
        );
        assert_eq!(
            recent.repeat(conflict, t0 + 14 * minute),
            None,
            "window passed"
        );
        assert!(recent.by_key.is_empty());
    }

    #[test]
    fn events_differ_by_object_type_reason_and_action() {
        let base = key("kr", EventType::Normal, "Synced", "Reconcile");
        for other in [
            key("us", EventType::Normal, "Synced", "Reconcile"),
            key("kr", EventType::Warning, "Synced", "Reconcile"),
            key("kr", EventType::Normal, "PlantReady", "Reconcile"),
            key("kr", EventType::Normal, "Synced", "Delete"),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(base, key("kr", EventType::Normal, "Synced", "Reconcile"));
    }
}
