//! ProductionLine rules checked by the operator before anything is synced: the processes form a
//! valid `mes_core::Route` (unique codes, sequence contiguous from 1) and every station names one
//! of them. The CRD's CEL rules say the same for the API server; this is the operator's own check.

use mes_core::{Route, RouteStep};

use crate::crd::ProductionLineSpec;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LineError {
    #[error("invalid routing: {0}")]
    Route(String),
    #[error("process {code}: sequence {sequence} is not a positive number")]
    BadSequence { code: String, sequence: i32 },
    #[error("station {station} names unknown process {process}")]
    UnknownStationProcess { station: String, process: String },
}

/// The line's route, or why it is invalid.
pub fn validate(spec: &ProductionLineSpec) -> Result<Route, LineError> {
    let steps = spec
        .processes
        .iter()
        .map(|p| match u32::try_from(p.sequence) {
            Ok(seq) if seq > 0 => Ok(RouteStep::new(p.code.clone(), seq)),
            _ => Err(LineError::BadSequence {
                code: p.code.clone(),
                sequence: p.sequence,
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let route = Route::new(steps).map_err(|e| LineError::Route(e.to_string()))?;
    for station in &spec.stations {
        if !spec
            .processes
            .iter()
            .any(|p| p.code == station.process_code)
        {
            return Err(LineError::UnknownStationProcess {
                station: station.name.clone(),
                process: station.process_code.clone(),
            });
        }
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn spec(processes: serde_json::Value, stations: serde_json::Value) -> ProductionLineSpec {
        serde_json::from_value(json!({
            "plantRef": "kr", "lineCode": "L1", "displayName": "Line 1",
            "processes": processes, "stations": stations,
        }))
        .unwrap()
    }

    fn p(code: &str, sequence: i32) -> serde_json::Value {
        json!({"code": code, "name": code, "sequence": sequence, "standardCycleTimeSeconds": 60})
    }

    #[test]
    fn valid_line_gives_its_route() {
        let s = spec(
            json!([p("A", 1), p("B", 2)]),
            json!([{"name": "S1", "processCode": "B"}]),
        );
        assert!(validate(&s).is_ok());
    }

    #[test]
    fn duplicates_gaps_and_unknown_stations_are_rejected() {
        assert!(matches!(
            validate(&spec(json!([p("A", 1), p("A", 2)]), json!([]))),
            Err(LineError::Route(_))
        ));
        assert!(matches!(
            validate(&spec(json!([p("A", 1), p("B", 3)]), json!([]))),
            Err(LineError::Route(_))
        ));
        assert!(matches!(
            validate(&spec(json!([p("A", 0)]), json!([]))),
            Err(LineError::BadSequence { .. })
        ));
        assert_eq!(
            validate(&spec(
                json!([p("A", 1)]),
                json!([{"name": "S1", "processCode": "Z"}])
            )),
            Err(LineError::UnknownStationProcess {
                station: "S1".into(),
                process: "Z".into()
            })
        );
    }
}
