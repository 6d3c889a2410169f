//! Classifies a file's bytes: a valid event, or a rejection with the reason an operator reads in
//! `<name>.error.txt`. No IO: the caller reads the file.

use std::fmt;

use serde_json::{Map, Value};

use crate::event::{Event, Kind};

/// Files larger than this are rejected unread (a station file is a few hundred bytes).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

const START_SCHEMA: &str = include_str!("../schemas/start.schema.json");
const COMPLETE_SCHEMA: &str = include_str!("../schemas/complete.schema.json");

/// Why a file went to `error/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// A byte-order mark (UTF-8 or UTF-16): the vendor contract is UTF-8 without BOM.
    Bom,
    NotUtf8,
    /// The JSON ends early: typically a file copied or written without an atomic rename.
    Truncated,
    Malformed,
    TooLarge,
    SchemaViolation,
    /// The file's `process_code` is not the process this station runs.
    ProcessMismatch,
    /// mes-api refused the event (4xx); the reason holds its error code and message.
    ApiRejected,
}

impl RejectKind {
    pub fn code(self) -> &'static str {
        match self {
            RejectKind::Bom => "BOM",
            RejectKind::NotUtf8 => "NOT_UTF8",
            RejectKind::Truncated => "TRUNCATED_JSON",
            RejectKind::Malformed => "MALFORMED_JSON",
            RejectKind::TooLarge => "TOO_LARGE",
            RejectKind::SchemaViolation => "SCHEMA_VIOLATION",
            RejectKind::ProcessMismatch => "PROCESS_CODE_MISMATCH",
            RejectKind::ApiRejected => "API_REJECTED",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectKind,
    pub reason: String,
}

impl Rejection {
    pub fn new(kind: RejectKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("built-in {kind} schema does not compile: {message}")]
pub struct SchemaError {
    kind: Kind,
    message: String,
}

/// Station-fixed values a START file may leave out (seed 001 §3.5.3: equipment and workstation
/// are the station PC's own).
#[derive(Debug, Clone, Default)]
pub struct StationDefaults {
    pub equipment_id: Option<String>,
    pub workstation: Option<String>,
}

#[derive(Debug)]
pub struct Validator {
    start: jsonschema::Validator,
    complete: jsonschema::Validator,
    process_code: String,
    defaults: StationDefaults,
}

/// Draft 2019-09 has everything these schemas use (if/then, const, formats). With jsonschema
/// 0.30, draft 2020-12 costs ~20 MB of resident memory for its meta-schema validator against
/// ~3 MB for 2019-09, and a station PC's agent must stay small.
fn compile(kind: Kind, text: &str) -> Result<jsonschema::Validator, SchemaError> {
    let err = |message: String| SchemaError { kind, message };
    let schema: Value = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft201909)
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| err(e.to_string()))
}

impl Validator {
    pub fn new(process_code: &str, defaults: StationDefaults) -> Result<Self, SchemaError> {
        Ok(Self {
            start: compile(Kind::Start, START_SCHEMA)?,
            complete: compile(Kind::Complete, COMPLETE_SCHEMA)?,
            process_code: process_code.to_owned(),
            defaults,
        })
    }

    /// `content` is what was read (at most `MAX_FILE_BYTES + 1` bytes); `size` the file's length.
    pub fn classify(&self, kind: Kind, content: &[u8], size: u64) -> Result<Event, Rejection> {
        if size > MAX_FILE_BYTES || content.len() as u64 > MAX_FILE_BYTES {
            return Err(Rejection::new(
                RejectKind::TooLarge,
                format!(
                    "file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                    size.max(content.len() as u64)
                ),
            ));
        }
        if content.starts_with(&[0xEF, 0xBB, 0xBF]) {
            return Err(Rejection::new(
                RejectKind::Bom,
                "file starts with a UTF-8 byte-order mark; write UTF-8 without BOM",
            ));
        }
        if content.starts_with(&[0xFF, 0xFE]) || content.starts_with(&[0xFE, 0xFF]) {
            return Err(Rejection::new(
                RejectKind::Bom,
                "file starts with a UTF-16 byte-order mark; write UTF-8 without BOM",
            ));
        }
        let text = std::str::from_utf8(content).map_err(|e| {
            Rejection::new(
                RejectKind::NotUtf8,
                format!("not valid UTF-8 at byte {}", e.valid_up_to()),
            )
        })?;
        let value: Value = serde_json::from_str(text).map_err(|e| {
            if e.classify() == serde_json::error::Category::Eof {
                let what = if text.trim().is_empty() {
                    "file is empty".to_owned()
                } else {
                    format!("JSON ends early (line {}, column {})", e.line(), e.column())
                };
                Rejection::new(RejectKind::Truncated, what)
            } else {
                Rejection::new(RejectKind::Malformed, format!("JSON syntax error: {e}"))
            }
        })?;
        let schema = match kind {
            Kind::Start => &self.start,
            Kind::Complete => &self.complete,
        };
        let problems: Vec<String> = schema
            .iter_errors(&value)
            .take(5)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(Rejection::new(
                RejectKind::SchemaViolation,
                format!(
                    "does not match the {kind} file schema: {}",
                    problems.join("; ")
                ),
            ));
        }
        // The schema guarantees an object with string serial_number and process_code.
        let Value::Object(mut fields) = value else {
            return Err(Rejection::new(
                RejectKind::SchemaViolation,
                "not a JSON object",
            ));
        };
        let text_of = |m: &Map<String, Value>, k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let process_code = text_of(&fields, "process_code");
        if process_code != self.process_code {
            return Err(Rejection::new(
                RejectKind::ProcessMismatch,
                format!(
                    "process_code {process_code:?} is not this station's process {:?}",
                    self.process_code
                ),
            ));
        }
        let serial_number = text_of(&fields, "serial_number");
        if kind == Kind::Start {
            // mes-api stamps the start time itself; StartRequest has no timestamp field.
            fields.remove("timestamp");
            for (key, default) in [
                ("equipment_id", &self.defaults.equipment_id),
                ("workstation", &self.defaults.workstation),
            ] {
                let missing = fields.get(key).is_none_or(Value::is_null);
                if missing && let Some(v) = default {
                    fields.insert(key.to_owned(), Value::String(v.clone()));
                }
            }
        }
        Ok(Event {
            kind,
            payload: Value::Object(fields),
            serial_number,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn validator() -> Validator {
        Validator::new(
            "LMA",
            StationDefaults {
                equipment_id: Some("EQ-LMA-01".into()),
                workstation: Some("STATION-02".into()),
            },
        )
        .unwrap()
    }

    fn complete() -> Value {
        json!({
            "serial_number": "FN-KR-251110D-001-0001",
            "process_code": "LMA",
            "operator_id": "W002",
            "is_pass": true,
            "cycle_time": 185,
            "process_specific_data": {"lma_model": "LMA-2024-V2", "assembly_complete": true, "torque_test": 5.2},
            "inspection_result": {"visual_check": "OK"},
            "defect_code": null,
            "defect_description": null,
            "timestamp": "2025-11-10T09:33:20+09:00"
        })
    }

    fn classify(kind: Kind, bytes: &[u8]) -> Result<Event, Rejection> {
        validator().classify(kind, bytes, bytes.len() as u64)
    }

    fn rejected(kind: Kind, bytes: &[u8]) -> Rejection {
        classify(kind, bytes).unwrap_err()
    }

    #[test]
    fn seed_example_is_valid_and_sent_unchanged() {
        let body = serde_json::to_vec(&complete()).unwrap();
        let event = classify(Kind::Complete, &body).unwrap();
        assert_eq!(event.payload, complete());
        assert_eq!(event.serial_number, "FN-KR-251110D-001-0001");
    }

    #[test]
    fn start_drops_timestamp_and_fills_station_defaults() {
        let body = json!({"serial_number": "FN-KR-251110D-001-0001", "process_code": "LMA",
                          "operator_id": "W002", "timestamp": "2025-11-10T09:30:00+09:00"});
        let event = classify(Kind::Start, body.to_string().as_bytes()).unwrap();
        assert_eq!(
            event.payload,
            json!({"serial_number": "FN-KR-251110D-001-0001", "process_code": "LMA", "operator_id": "W002",
                   "equipment_id": "EQ-LMA-01", "workstation": "STATION-02"})
        );
    }

    #[test]
    fn each_bad_kind_is_named() {
        let good = serde_json::to_vec(&complete()).unwrap();
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(&good);
        assert_eq!(rejected(Kind::Complete, &bom).kind, RejectKind::Bom);
        assert_eq!(
            rejected(Kind::Complete, &[0xFF, 0xFE, b'{', 0]).kind,
            RejectKind::Bom
        );

        let mut latin1 = good.clone();
        latin1.splice(20..20, [0xE9u8]);
        let r = rejected(Kind::Complete, &latin1);
        assert_eq!(r.kind, RejectKind::NotUtf8);
        assert!(r.reason.contains("byte 20"), "{}", r.reason);

        assert_eq!(
            rejected(Kind::Complete, &good[..good.len() / 2]).kind,
            RejectKind::Truncated
        );
        assert_eq!(rejected(Kind::Complete, b"").kind, RejectKind::Truncated);
        assert_eq!(
            rejected(Kind::Complete, b"{\"a\": nope}").kind,
            RejectKind::Malformed
        );

        let r = validator()
            .classify(Kind::Complete, &good, MAX_FILE_BYTES + 1)
            .unwrap_err();
        assert_eq!(r.kind, RejectKind::TooLarge);

        let mut wrong = complete();
        wrong["cycle_time"] = json!("185");
        let r = rejected(Kind::Complete, wrong.to_string().as_bytes());
        assert_eq!(r.kind, RejectKind::SchemaViolation);
        assert!(r.reason.contains("/cycle_time"), "{}", r.reason);

        let mut other = complete();
        other["process_code"] = json!("EOL");
        assert_eq!(
            rejected(Kind::Complete, other.to_string().as_bytes()).kind,
            RejectKind::ProcessMismatch
        );
    }

    #[test]
    fn schema_rules_of_the_seed() {
        let check = |mutate: &dyn Fn(&mut Value)| {
            let mut v = complete();
            mutate(&mut v);
            classify(Kind::Complete, v.to_string().as_bytes()).map(|_| ())
        };
        for field in [
            "serial_number",
            "process_code",
            "operator_id",
            "is_pass",
            "cycle_time",
            "process_specific_data",
            "timestamp",
        ] {
            let r = check(&|v| {
                v.as_object_mut().unwrap().remove(field);
            });
            let r = r.unwrap_err();
            assert_eq!(r.kind, RejectKind::SchemaViolation);
            assert!(r.reason.contains(field), "{field}: {}", r.reason);
        }
        assert!(check(&|v| v["timestamp"] = json!("yesterday")).is_err());
        assert!(check(&|v| v["extra"] = json!(1)).is_err());
        assert!(check(&|v| v["cycle_time"] = json!(-1)).is_err());
        // A failed unit needs its defect code.
        assert!(check(&|v| v["is_pass"] = json!(false)).is_err());
        assert!(
            check(&|v| {
                v["is_pass"] = json!(false);
                v["defect_code"] = json!("D002");
            })
            .is_ok()
        );
        assert!(classify(Kind::Complete, b"[]").is_err());
    }
}
