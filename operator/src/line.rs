//! ProductionLine domain logic, free of IO: the rules checked before anything is synced (the
//! processes form a valid `mes_core::Route` — unique codes, sequence contiguous from 1 — and every
//! station names one of them; the CRD's CEL rules say the same for the API server, this is the
//! operator's own check) and the body of mes-api's `PUT /api/v1/lines/{code}`.

use mes_core::{Route, RouteStep};
use serde_json::{Value, json};

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

/// The line definition in mes-api's `LineDefinition` shape (snake_case; processes in sequence
/// order, as mes-api stores them, so the body is stable whatever order the spec lists them in).
pub fn definition(spec: &ProductionLineSpec) -> Value {
    let mut processes: Vec<_> = spec.processes.iter().collect();
    processes.sort_by_key(|p| p.sequence);
    json!({
        "display_name": spec.display_name,
        "active": true,
        "processes": processes.iter().map(|p| json!({
            "code": p.code,
            "name": p.name,
            "sequence": p.sequence,
            "standard_cycle_time_seconds": p.standard_cycle_time_seconds,
            "data_schema": p.data_schema.as_ref().map(|s| s.to_value()),
        })).collect::<Vec<_>>(),
        "stations": spec.stations.iter().map(|s| json!({
            "name": s.name,
            "process_code": s.process_code,
            "equipment_ids": s.equipment_ids,
        })).collect::<Vec<_>>(),
        "product_models": spec.product_models,
    })
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
    fn definition_is_mes_apis_shape_in_sequence_order() {
        let s = spec(
            json!([p("B", 2), p("A", 1)]),
            json!([{"name": "S1", "processCode": "B", "equipmentIds": ["EQ-1"]}]),
        );
        assert_eq!(
            definition(&s),
            json!({
                "display_name": "Line 1",
                "active": true,
                "processes": [
                    {"code": "A", "name": "A", "sequence": 1, "standard_cycle_time_seconds": 60, "data_schema": null},
                    {"code": "B", "name": "B", "sequence": 2, "standard_cycle_time_seconds": 60, "data_schema": null},
                ],
                "stations": [{"name": "S1", "process_code": "B", "equipment_ids": ["EQ-1"]}],
                "product_models": [],
            })
        );
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
