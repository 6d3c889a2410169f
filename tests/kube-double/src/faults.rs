//! Fault injection per verb and resource: fixed error statuses (500, 409, 429, …) at a rate,
//! added latency, a limited number of times. Randomness comes from a seeded generator so a
//! failing test reproduces. Open watch connections are cut with `KubeDouble::drop_watches`.

use std::sync::Mutex;
use std::time::Duration;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
}

impl Verb {
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete
        )
    }
}

#[derive(Debug, Clone)]
pub struct Fault {
    verb: Option<Verb>,
    resource: Option<String>,
    status: Option<u16>,
    rate: f64,
    latency: Option<std::time::Duration>,
    remaining: Option<u32>,
}

impl Fault {
    /// A fault for one verb (any resource until narrowed with [`Fault::resource`]).
    pub fn on(verb: Verb) -> Self {
        Self {
            verb: Some(verb),
            resource: None,
            status: None,
            rate: 1.0,
            latency: None,
            remaining: None,
        }
    }
    /// A fault for every verb.
    pub fn any() -> Self {
        Self {
            verb: None,
            ..Self::on(Verb::Get)
        }
    }
    /// Only requests to this resource (plural, e.g. `configmaps`; subresources match their parent).
    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.to_string());
        self
    }
    /// Answer with this status code and a matching `Status` body instead of serving the request.
    pub fn status(mut self, code: u16) -> Self {
        self.status = Some(code);
        self
    }
    /// Probability in [0, 1] that a matching request is affected.
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate.clamp(0.0, 1.0);
        self
    }
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }
    /// Affect at most this many requests, then the rule is spent.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }
}

/// What a request hit.
#[derive(Debug, Default)]
pub struct Outcome {
    pub latency: Option<Duration>,
    pub error: Option<ApiError>,
}

#[derive(Debug)]
pub struct Faults {
    rules: Mutex<(Vec<Fault>, u64)>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            rules: Mutex::new((Vec::new(), 0x9E37_79B9_7F4A_7C15)),
        }
    }
}

fn status_error(code: u16) -> ApiError {
    let reason = match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    ApiError::new(code, reason, format!("injected fault: {code} {reason}"))
}

impl Faults {
    pub fn add(&self, fault: Fault) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .push(fault);
    }

    pub fn clear(&self) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clear();
    }

    pub fn check(&self, verb: Verb, resource: &str) -> Outcome {
        let mut guard = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let (rules, seed) = &mut *guard;
        let mut out = Outcome::default();
        for rule in rules.iter_mut() {
            if rule.verb.is_some_and(|v| v != verb)
                || rule.resource.as_deref().is_some_and(|r| r != resource)
                || rule.remaining == Some(0)
            {
                continue;
            }
            // xorshift64: deterministic across runs for the same request sequence.
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            let roll = (*seed >> 11) as f64 / (1u64 << 53) as f64;
            if roll >= rule.rate {
                continue;
            }
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            if let Some(l) = rule.latency {
                out.latency = Some(out.latency.unwrap_or_default() + l);
            }
            if out.error.is_none() {
                out.error = rule.status.map(status_error);
            }
        }
        out
    }
}
