//! A simulated station: who it is (its API token, operator, equipment, workstation) and the two
//! events it sends, each under an `Idempotency-Key` that names the logical event, so a retry of
//! the same event can never be stored twice.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::api::{CallError, Reply, Session};

#[derive(Debug, Clone, Deserialize)]
pub struct NextProcess {
    pub code: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Completed {
    pub serial_status: String,
    pub next_process: Option<NextProcess>,
}

/// The station's equipment report of a finished unit.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub cycle_time: u32,
    pub data: Value,
    /// The defect of a failed unit; none when it passed.
    pub defect: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct Station {
    session: Session,
    /// Unique per run and station; prefixes every idempotency key.
    key_prefix: String,
    pub workstation: String,
    pub operator_id: String,
    pub equipment_id: Option<String>,
}

impl Station {
    pub fn new(
        session: Session,
        key_prefix: String,
        workstation: String,
        operator_id: String,
        equipment_id: Option<String>,
    ) -> Self {
        Self {
            session,
            key_prefix,
            workstation,
            operator_id,
            equipment_id,
        }
    }

    /// One key per logical event: the same START or COMPLETE, however often retried, has one key.
    pub fn event_key(&self, serial: &str, process: &str, work_order: u32, kind: &str) -> String {
        format!("{}:{serial}:{process}:{work_order}:{kind}", self.key_prefix)
    }

    pub async fn start(
        &self,
        serial: &str,
        process: &str,
        work_order: u32,
    ) -> Result<Reply<IgnoredAny>, CallError> {
        let mut body = json!({
            "serial_number": serial,
            "process_code": process,
            "operator_id": self.operator_id,
            "workstation": self.workstation,
        });
        if let Some(eq) = &self.equipment_id {
            body["equipment_id"] = json!(eq);
        }
        let key = self.event_key(serial, process, work_order, "start");
        self.session.post("/process/start", &body, Some(&key)).await
    }

    pub async fn complete(
        &self,
        serial: &str,
        process: &str,
        work_order: u32,
        report: &Report<'_>,
    ) -> Result<Reply<Completed>, CallError> {
        let mut body = json!({
            "serial_number": serial,
            "process_code": process,
            "operator_id": self.operator_id,
            "is_pass": report.defect.is_none(),
            "cycle_time": report.cycle_time,
            "process_specific_data": report.data,
        });
        if let Some(defect) = report.defect {
            body["defect_code"] = json!(defect);
            body["defect_description"] = json!(format!("{defect} found at {process}"));
        }
        let key = self.event_key(serial, process, work_order, "complete");
        self.session
            .post("/process/complete", &body, Some(&key))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Api, RetryPolicy};

    #[test]
    fn keys_name_the_logical_event() {
        let api = Api::new("http://127.0.0.1:1", RetryPolicy::default()).expect("client");
        let s = Station::new(
            api.station("mest_x".into()),
            "run1-S001".into(),
            "STATION-01".into(),
            "W001".into(),
            None,
        );
        let a = s.event_key("FN-KR-251110D-001-0001", "EOL", 1, "start");
        assert_eq!(a, "run1-S001:FN-KR-251110D-001-0001:EOL:1:start");
        assert_ne!(a, s.event_key("FN-KR-251110D-001-0001", "EOL", 2, "start"));
        assert_ne!(
            a,
            s.event_key("FN-KR-251110D-001-0001", "EOL", 1, "complete")
        );
        assert!(a.len() <= 255 && a.chars().all(|c| c.is_ascii_graphic()));
    }
}
