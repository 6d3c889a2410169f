//! Kubernetes `Condition`s: building them and keeping `lastTransitionTime` stable when the status
//! of a condition did not change (so that an unchanged object yields an unchanged status).

use crate::crd::Condition;

/// A condition as the reconciler computes it (no timestamps yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub type_: &'static str,
    pub ok: bool,
    pub reason: String,
    pub message: String,
}

impl Observed {
    pub fn ok(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_,
            ok: true,
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn not_ok(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_,
            ok: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The new condition list: a condition whose status is unchanged keeps its old transition time.
pub fn merge(
    previous: &[Condition],
    observed: &[Observed],
    generation: Option<i64>,
    now: &str,
) -> Vec<Condition> {
    observed
        .iter()
        .map(|o| {
            let status = if o.ok { "True" } else { "False" };
            let since = previous
                .iter()
                .find(|c| c.type_ == o.type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.to_string());
            Condition {
                type_: o.type_.to_string(),
                status: status.to_string(),
                reason: o.reason.clone(),
                message: o.message.clone(),
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect()
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_only_moves_when_status_flips() {
        let first = merge(
            &[],
            &[Observed::not_ok("Ready", "Provisioning", "")],
            Some(1),
            "t1",
        );
        let same = merge(
            &first,
            &[Observed::not_ok("Ready", "Provisioning", "")],
            Some(1),
            "t2",
        );
        assert_eq!(first, same);
        let flipped = merge(
            &same,
            &[Observed::ok("Ready", "AllReady", "")],
            Some(1),
            "t3",
        );
        assert_eq!(flipped[0].last_transition_time, "t3");
        assert_eq!(flipped[0].status, "True");
    }
}
