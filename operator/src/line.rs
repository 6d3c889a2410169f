//! ProductionLine domain logic, free of IO: the rules checked before anything is synced (the
//! processes form a valid `mes_core::Route` — unique codes, sequence contiguous from 1 — and every
//! station names one of them; the CRD's CEL rules say the same for the API server, this is the
//! operator's own check), the body of mes-api's `PUT /api/v1/lines/{code}`, and which lines a
//! plant lists as synced into it (`MesPlant.status.lines`).

use std::collections::BTreeSet;

use mes_core::{Route, RouteStep};
use serde_json::{Value, json};

use crate::crd::{ProductionLine, ProductionLineSpec};

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

/// Whether `line` counts as synced into its plant: its `Synced` condition is True (the line
/// reconciler keeps it True while the plant is briefly not Ready, since the definition is still
/// in mes-api) and it is not being deleted (its finalizer is deactivating it there).
pub fn is_synced(line: &ProductionLine) -> bool {
    line.metadata.deletion_timestamp.is_none()
        && line.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Synced" && c.status == "True")
        })
}

/// `status.lines` of the MesPlant `plant` in `namespace`: the codes of the synced lines that name
/// it, sorted, each once.
pub fn synced_codes<'a>(
    lines: impl IntoIterator<Item = &'a ProductionLine>,
    namespace: &str,
    plant: &str,
) -> Vec<String> {
    let codes: BTreeSet<&str> = lines
        .into_iter()
        .filter(|l| l.metadata.namespace.as_deref() == Some(namespace))
        .filter(|l| l.spec.plant_ref == plant && is_synced(l))
        .map(|l| l.spec.line_code.as_str())
        .collect();
    codes.into_iter().map(str::to_owned).collect()
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

    fn line(ns: &str, plant: &str, code: &str, synced: &str) -> ProductionLine {
        serde_json::from_value(json!({
            "apiVersion": "mes.smartfactory.io/v1alpha1", "kind": "ProductionLine",
            "metadata": {"name": format!("{plant}-{code}"), "namespace": ns},
            "spec": {"plantRef": plant, "lineCode": code, "displayName": code, "processes": [p("A", 1)]},
            "status": {"conditions": [
                {"type": "Synced", "status": synced, "reason": "r", "lastTransitionTime": "t"},
                {"type": "Ready", "status": "True", "reason": "r", "lastTransitionTime": "t"},
            ]},
        }))
        .unwrap()
    }

    #[test]
    fn a_plant_lists_the_codes_of_its_synced_lines_sorted_and_once() {
        let mut deleting = line("ns", "kr", "L4", "True");
        deleting.metadata.deletion_timestamp =
            serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap();
        let mut never_reconciled = line("ns", "kr", "L5", "True");
        never_reconciled.status = None;
        let lines = [
            line("ns", "kr", "L2", "True"),
            line("ns", "kr", "L1", "True"),
            line("ns", "kr", "L1", "True"), // another object with the same code
            line("ns", "kr", "L3", "False"),
            line("ns", "us", "L6", "True"),
            line("other", "kr", "L7", "True"),
            deleting,
            never_reconciled,
        ];
        assert_eq!(synced_codes(&lines, "ns", "kr"), ["L1", "L2"]);
        assert_eq!(synced_codes(&lines, "ns", "us"), ["L6"]);
        assert!(synced_codes(&lines, "ns", "none").is_empty());
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
