//! The manifests under `k8s/examples/` parse into the CRD types and pass the operator's checks.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use mes_operator::crd::{DatabaseMode, MesPlant, ProductionLine};
use serde::Deserialize;
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../k8s/examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn plant(file: &str) -> MesPlant {
    let doc = documents(file)
        .into_iter()
        .find(|d| d["kind"] == "MesPlant")
        .unwrap();
    serde_json::from_value(doc).unwrap()
}

#[test]
fn plant_examples_parse_and_render() {
    for (file, mode) in [
        ("mesplant-embedded.yaml", DatabaseMode::Embedded),
        ("mesplant-cnpg.yaml", DatabaseMode::CloudNativePG),
    ] {
        let mut p = plant(file);
        assert_eq!(p.spec.database.mode, mode, "{file}");
        p.metadata.uid = Some("00000000-0000-4000-8000-000000000000".into());
        let values = mes_operator::builders::GeneratedValues::random();
        assert!(
            mes_operator::builders::render(&p, &values).is_ok(),
            "{file}"
        );
    }
}

#[test]
fn line_example_has_the_seven_processes_and_is_valid() {
    let doc = documents("productionline-l1.yaml").remove(0);
    let line: ProductionLine = serde_json::from_value(doc).unwrap();
    let codes: Vec<&str> = line
        .spec
        .processes
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    assert_eq!(
        codes,
        ["SPRING", "LMA", "LASER", "EOL", "ROBOT", "PRINT", "PACK"]
    );
    assert!(line.spec.processes.iter().all(|p| p.data_schema.is_some()));
    mes_operator::line::validate(&line.spec).unwrap();
}
