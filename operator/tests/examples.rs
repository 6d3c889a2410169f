//! The manifests under `k8s/examples/` parse into the CRD types, pass the operator's checks and
//! match the generated CRD schemas.
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

// ---------------------------------------------------------------------------------------------
// Every custom resource under k8s/examples/ against its CRD's openAPIV3Schema (crds/*.yaml).
// ---------------------------------------------------------------------------------------------

/// The CRD's `openAPIV3Schema` as a JSON Schema validator, as strict as the API server with
/// kubectl's default `fieldValidation=Strict`: unknown fields are errors (unless the schema
/// preserves them), and OpenAPI's `nullable` becomes a `null` type. CEL rules
/// (`x-kubernetes-validations`) are not evaluated here.
fn crd_validator(crd_file: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crds")
        .join(crd_file);
    let crd: Value = yaml_serde::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    assert!(schema.is_object(), "{crd_file} has no openAPIV3Schema");
    // The API server validates these itself; CRD schemas leave them out.
    schema["properties"]["apiVersion"] = serde_json::json!({"type": "string"});
    schema["properties"]["kind"] = serde_json::json!({"type": "string"});
    schema["properties"]["metadata"] = serde_json::json!({"type": "object"});
    strict(&mut schema);
    jsonschema::validator_for(&schema).unwrap()
}

fn strict(schema: &mut Value) {
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    if o.remove("nullable") == Some(Value::Bool(true))
        && let Some(Value::String(t)) = o.get("type").cloned()
    {
        o.insert("type".into(), serde_json::json!([t, "null"]));
    }
    let preserves = o.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if o.contains_key("properties") && !preserves && !o.contains_key("additionalProperties") {
        o.insert("additionalProperties".into(), Value::Bool(false));
    }
    if preserves {
        return; // free-form below this point (e.g. a process's dataSchema)
    }
    for (_, child) in o.iter_mut() {
        match child {
            Value::Object(_) => strict(child),
            Value::Array(items) => items.iter_mut().for_each(strict),
            _ => {}
        }
    }
}

fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

#[test]
fn every_example_custom_resource_matches_its_crd_schema() {
    let validators = [
        ("MesPlant", crd_validator("mesplants.yaml")),
        ("ProductionLine", crd_validator("productionlines.yaml")),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/examples");
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if !file.ends_with(".yaml") {
            continue;
        }
        for doc in documents(&file) {
            if doc["apiVersion"] == "v1" {
                continue; // Namespaces, Secrets: not ours to check
            }
            let kind = doc["kind"].as_str().unwrap_or_default();
            let (kind, validator) = validators
                .iter()
                .find(|(k, _)| *k == kind)
                .unwrap_or_else(|| panic!("{file}: no CRD for kind {kind}"));
            let errors = schema_errors(validator, &doc);
            assert!(errors.is_empty(), "{file} ({kind}): {errors:#?}");
            *checked.entry(kind).or_default() += 1;
        }
    }
    assert!(
        checked["MesPlant"] >= 2 && checked["ProductionLine"] >= 1,
        "{checked:?}"
    );
}

#[test]
fn the_schema_check_rejects_broken_examples() {
    let plants = crd_validator("mesplants.yaml");
    let lines = crd_validator("productionlines.yaml");
    let plant = documents("mesplant-embedded.yaml")
        .into_iter()
        .find(|d| d["kind"] == "MesPlant")
        .unwrap();
    let line = documents("productionline-l1.yaml").remove(0);

    let mut bad = plant.clone();
    bad["spec"]["plantCode"] = "kr".into(); // pattern ^[A-Z]{2}$
    assert!(!schema_errors(&plants, &bad).is_empty());
    let mut bad = plant.clone();
    bad["spec"]["database"]["mode"] = "Sqlite".into(); // enum
    assert!(!schema_errors(&plants, &bad).is_empty());
    let mut bad = plant.clone();
    bad["spec"]["backend"]["replicaCount"] = 2.into(); // a typo: unknown field
    assert!(!schema_errors(&plants, &bad).is_empty());
    let mut bad = line.clone();
    bad["spec"]["processes"][0]["sequence"] = 0.into(); // minimum 1
    assert!(!schema_errors(&lines, &bad).is_empty());
    let mut bad = line.clone();
    bad["spec"]["processes"] = serde_json::json!([]); // at least one process
    assert!(!schema_errors(&lines, &bad).is_empty());
    // … while free-form data schemas stay free-form.
    let mut fine = line;
    fine["spec"]["processes"][0]["dataSchema"]["x-anything"] = true.into();
    assert_eq!(schema_errors(&lines, &fine), Vec::<String>::new());
}
