//! Kubernetes timestamps (jiff, in k8s-openapi 0.29) as chrono values for our JSON.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

pub fn from_time(t: &Time) -> Option<DateTime<Utc>> {
    from_jiff(t.0)
}

pub fn from_micro(t: &MicroTime) -> Option<DateTime<Utc>> {
    from_jiff(t.0)
}

fn from_jiff(t: k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
}

pub fn now_time() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

pub fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// Whole seconds from `t` to `now` (never negative: clocks of nodes drift).
pub fn seconds_since(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - t).num_seconds().max(0)
}
