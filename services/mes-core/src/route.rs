//! A production line's route: the ordered processes every serial passes through.
//!
//! Validated once on construction, so the routing state machine can address steps by index
//! without re-checking order or uniqueness.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Why a list of steps is not a usable route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("a route needs at least one process")]
    EmptyRoute,
    #[error("process code {code:?} appears more than once in the route")]
    DuplicateProcessCode { code: String },
    /// Sequences must be exactly `1..=n`; reports the first position that breaks this.
    #[error("route sequences must be exactly 1..={len}: expected {expected}, found {found}")]
    NonContiguousSequence {
        len: usize,
        expected: u32,
        found: u32,
    },
}

impl RouteError {
    /// Stable machine-readable code, used in API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyRoute => "EMPTY_ROUTE",
            Self::DuplicateProcessCode { .. } => "DUPLICATE_PROCESS_CODE",
            Self::NonContiguousSequence { .. } => "NON_CONTIGUOUS_SEQUENCE",
        }
    }
}

/// One process of a route, e.g. `LASER` at sequence 3.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteStep {
    pub code: String,
    /// 1-based position in the route.
    pub sequence: u32,
}

impl RouteStep {
    pub fn new(code: impl Into<String>, sequence: u32) -> Self {
        Self {
            code: code.into(),
            sequence,
        }
    }
}

/// A validated route: non-empty, unique codes, steps stored in sequence order `1..=n`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<RouteStep>", into = "Vec<RouteStep>")]
pub struct Route {
    steps: Vec<RouteStep>,
}

impl Route {
    /// Accepts the steps in any order and stores them sorted by sequence.
    pub fn new(mut steps: Vec<RouteStep>) -> Result<Self, RouteError> {
        if steps.is_empty() {
            return Err(RouteError::EmptyRoute);
        }
        let mut seen = HashSet::with_capacity(steps.len());
        if let Some(dup) = steps.iter().find(|s| !seen.insert(s.code.as_str())) {
            return Err(RouteError::DuplicateProcessCode {
                code: dup.code.clone(),
            });
        }
        steps.sort_by_key(|s| s.sequence);
        for (expected, step) in (1u32..).zip(&steps) {
            if step.sequence != expected {
                return Err(RouteError::NonContiguousSequence {
                    len: steps.len(),
                    expected,
                    found: step.sequence,
                });
            }
        }
        Ok(Self { steps })
    }

    /// The 0-based index of a process code.
    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.code == code)
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Always false: a route has at least one step.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Steps in sequence order.
    pub fn steps(&self) -> &[RouteStep] {
        &self.steps
    }

    pub fn step(&self, index: usize) -> Option<&RouteStep> {
        self.steps.get(index)
    }

    /// The step after `index`, or `None` after the last one.
    pub fn next_after(&self, index: usize) -> Option<&RouteStep> {
        self.steps.get(index.checked_add(1)?)
    }
}

impl TryFrom<Vec<RouteStep>> for Route {
    type Error = RouteError;

    fn try_from(steps: Vec<RouteStep>) -> Result<Self, Self::Error> {
        Self::new(steps)
    }
}

impl From<Route> for Vec<RouteStep> {
    fn from(route: Route) -> Self {
        route.steps
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn steps(spec: &[(&str, u32)]) -> Vec<RouteStep> {
        spec.iter().map(|&(c, s)| RouteStep::new(c, s)).collect()
    }

    #[test]
    fn sorts_steps_by_sequence() {
        let route = Route::new(steps(&[("EOL", 3), ("SPRING", 1), ("LMA", 2)])).unwrap();
        let codes: Vec<_> = route.steps().iter().map(|s| s.code.as_str()).collect();
        assert_eq!(codes, ["SPRING", "LMA", "EOL"]);
        assert_eq!(route.len(), 3);
        assert!(!route.is_empty());
        assert_eq!(route.index_of("LMA"), Some(1));
        assert_eq!(route.index_of("PACK"), None);
        assert_eq!(route.step(2).unwrap().code, "EOL");
        assert_eq!(route.next_after(0).unwrap().code, "LMA");
        assert_eq!(route.next_after(2), None);
        assert_eq!(route.next_after(usize::MAX), None);
    }

    #[test]
    fn rejects_bad_routes() {
        let cases: [(&[(&str, u32)], RouteError); 6] = [
            (&[], RouteError::EmptyRoute),
            (
                &[("A", 1), ("B", 2), ("A", 3)],
                RouteError::DuplicateProcessCode { code: "A".into() },
            ),
            (
                &[("A", 0), ("B", 1)],
                RouteError::NonContiguousSequence {
                    len: 2,
                    expected: 1,
                    found: 0,
                },
            ),
            (
                &[("A", 1), ("B", 3)],
                RouteError::NonContiguousSequence {
                    len: 2,
                    expected: 2,
                    found: 3,
                },
            ),
            (
                &[("A", 1), ("B", 1)],
                RouteError::NonContiguousSequence {
                    len: 2,
                    expected: 2,
                    found: 1,
                },
            ),
            (
                &[("A", 2)],
                RouteError::NonContiguousSequence {
                    len: 1,
                    expected: 1,
                    found: 2,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Route::new(steps(input)).unwrap_err(), want, "{input:?}");
        }
        assert_eq!(RouteError::EmptyRoute.code(), "EMPTY_ROUTE");
        assert_eq!(
            RouteError::DuplicateProcessCode { code: "A".into() }.code(),
            "DUPLICATE_PROCESS_CODE"
        );
        let gap = Route::new(steps(&[("A", 1), ("B", 3)])).unwrap_err();
        assert_eq!(gap.code(), "NON_CONTIGUOUS_SEQUENCE");
        assert_eq!(
            gap.to_string(),
            "route sequences must be exactly 1..=2: expected 2, found 3"
        );
    }

    #[test]
    fn serde_is_a_validated_list() {
        let route: Route =
            serde_json::from_str(r#"[{"code":"B","sequence":2},{"code":"A","sequence":1}]"#)
                .unwrap();
        assert_eq!(route.steps()[0].code, "A");
        assert_eq!(
            serde_json::to_string(&route).unwrap(),
            r#"[{"code":"A","sequence":1},{"code":"B","sequence":2}]"#
        );
        assert!(serde_json::from_str::<Route>("[]").is_err());
    }
}
