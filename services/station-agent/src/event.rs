//! What a station file is about: its kind (START or COMPLETE), the API request it becomes, and
//! the Idempotency-Key that makes every delivery of it the same event.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Which `input/` folder a file came from; also the API endpoint it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Start,
    Complete,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Start, Kind::Complete];

    /// Folder name under `input/`, `processed/` and `error/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Complete => "complete",
        }
    }

    /// Path of the mes-api endpoint, relative to the API base URL.
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::Start => "/api/v1/process/start",
            Kind::Complete => "/api/v1/process/complete",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "start" => Ok(Kind::Start),
            "complete" => Ok(Kind::Complete),
            other => Err(format!("unknown kind {other:?} (start or complete)")),
        }
    }
}

/// A validated file, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: Kind,
    /// The request body for [`Kind::endpoint`].
    pub payload: Value,
    pub serial_number: String,
}

/// The Idempotency-Key of a file: the same bytes dropped at the same station are the same event,
/// however often the agent restarts or retries. The kind is included so that a START and a
/// COMPLETE can never share a key.
pub fn idempotency_key(station_id: &str, kind: Kind, content: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"station-agent/v1\n");
    h.update(station_id.as_bytes());
    h.update(b"\n");
    h.update(kind.as_str().as_bytes());
    h.update(b"\n");
    h.update(content);
    hex::encode(h.finalize())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_station_kind_and_content() {
        let k = idempotency_key("ST-1", Kind::Complete, b"{}");
        assert_eq!(k, idempotency_key("ST-1", Kind::Complete, b"{}"));
        assert_eq!(k.len(), 64);
        assert!(k.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(k, idempotency_key("ST-2", Kind::Complete, b"{}"));
        assert_ne!(k, idempotency_key("ST-1", Kind::Start, b"{}"));
        assert_ne!(k, idempotency_key("ST-1", Kind::Complete, b"{ }"));
    }

    #[test]
    fn kind_round_trips() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        }
        assert!("other".parse::<Kind>().is_err());
    }
}
