//! What a station's equipment reports on COMPLETE: realistic `process_specific_data` for the
//! seven demo processes (values vary within their real ranges; a failure shows in the data that
//! caused it), and a generic generator driven by the process's JSON Schema for any other process.

use chrono::Utc;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};

/// A value spread triangularly around `center` (±`spread`), rounded to one decimal.
fn around(rng: &mut impl Rng, center: f64, spread: f64) -> f64 {
    let x = center + spread * (rng.r#gen::<f64>() + rng.r#gen::<f64>() - 1.0);
    (x * 10.0).round() / 10.0
}

/// The part of a serial number after its LOT's date: `…-251110D-001-0007` gives `001-0007`.
fn serial_tail(serial: &str) -> String {
    let parts: Vec<&str> = serial.rsplitn(3, '-').collect();
    match parts.as_slice() {
        [seq, lot, _] => format!("{lot}-{seq}"),
        _ => serial.to_owned(),
    }
}

/// `process_specific_data` for a COMPLETE of `process` on `serial`; `defect` is the defect code of
/// a failure (none when the unit passed). `schema` is used for processes this module does not
/// know.
pub fn process_data(
    process: &str,
    schema: Option<&Value>,
    serial: &str,
    defect: Option<&str>,
    rng: &mut impl Rng,
) -> Value {
    let pass = defect.is_none();
    match process {
        "SPRING" => json!({
            "inspection_result": if pass { "OK" } else { "NG" },
            "spring_type": *["Type-A", "Type-A", "Type-B"].choose(rng).unwrap_or(&"Type-A"),
            "spring_length": if pass { around(rng, 45.2, 0.3) } else { around(rng, 47.6, 0.6) },
        }),
        "LMA" => json!({
            "lma_model": "LMA-2024-V2",
            "assembly_complete": pass || rng.gen_bool(0.5),
            "torque_test": if pass { around(rng, 5.2, 0.25) } else { around(rng, 3.9, 0.3) },
            "alignment_check": if pass { "OK" } else { "NG" },
        }),
        "LASER" => json!({
            "marking_quality": if pass { rng.gen_range(4..=5) } else { rng.gen_range(1..=2) },
            "power_level": if pass { around(rng, 80.0, 3.0) } else { around(rng, 62.0, 5.0) },
            "marking_duration": around(rng, 12.0, 1.0),
        }),
        "EOL" => {
            let hot = matches!(defect, Some("D004"))
                || defect.is_some_and(|d| !["D005", "D006"].contains(&d));
            json!({
                "temperature_sensor": if hot { around(rng, 68.0, 6.0) } else { around(rng, 25.3, 1.5) },
                "tof_sensor": if defect == Some("D005") { around(rng, 150.0, 100.0).round() } else { around(rng, 1523.0, 20.0).round() },
                "firmware_version": "v2.5.1",
                "firmware_upload_status": if defect == Some("D006") { "failed" } else { "success" },
                "battery_voltage": around(rng, 12.5, 0.2),
            })
        }
        "ROBOT" => json!({
            "performance_score": if pass { around(rng, 95.0, 3.0).min(100.0) } else { around(rng, 68.0, 8.0) },
            "motion_test": if pass { "OK" } else { "NG" },
            "accuracy_test": if pass { around(rng, 98.5, 0.8).min(100.0) } else { around(rng, 90.0, 3.0) },
            "speed_test": if pass || rng.gen_bool(0.5) { "PASS" } else { "FAIL" },
        }),
        "PRINT" => json!({
            "label_path": format!("/storage/labels/{serial}.png"),
            "printing_status": if pass { "completed" } else { "failed" },
            "printer_id": "PRINTER-01",
        }),
        "PACK" => json!({
            "package_type": *["Standard Box", "Standard Box", "Standard Box", "Export Box"].choose(rng).unwrap_or(&"Standard Box"),
            "package_weight": ((3.2 + 0.08 * (rng.r#gen::<f64>() - 0.5)) * 100.0).round() / 100.0,
            "package_id": format!("PKG-{}-{}", Utc::now().format("%Y%m%d"), serial_tail(serial)),
        }),
        _ => schema.map_or_else(|| json!({}), |s| from_schema(s, rng)),
    }
}

/// The failure a unit has at `process`: one of the process's defect codes, or none (pass).
/// A process without defect codes never fails.
pub fn pick_defect<'a>(codes: &'a [String], fail_rate: f64, rng: &mut impl Rng) -> Option<&'a str> {
    if codes.is_empty() || !rng.gen_bool(fail_rate.clamp(0.0, 1.0)) {
        return None;
    }
    codes.choose(rng).map(String::as_str)
}

fn bound(schema: &Value, inclusive: &str, exclusive: &str, step: f64, up: bool) -> Option<f64> {
    let sign = if up { -1.0 } else { 1.0 };
    schema.get(inclusive).and_then(Value::as_f64).or_else(|| {
        schema
            .get(exclusive)
            .and_then(Value::as_f64)
            .map(|x| x + sign * step)
    })
}

/// A value that satisfies `schema` (the subset line definitions use: object, properties, enum,
/// const, type, minimum/maximum and their exclusive forms, minLength, examples).
pub fn from_schema(schema: &Value, rng: &mut impl Rng) -> Value {
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        // The first value of an enum is, by convention, the good one ("OK", "PASS", "success").
        return first.clone();
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    let example = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|v| v.first());
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    out.insert(name.clone(), from_schema(sub, rng));
                }
            }
            Value::Object(out)
        }
        "integer" | "number" => {
            let integer = ty == "integer";
            let step = if integer { 1.0 } else { 0.1 };
            let lo = bound(schema, "minimum", "exclusiveMinimum", step, false);
            let hi = bound(schema, "maximum", "exclusiveMaximum", step, true);
            let (lo, hi) = match (lo, hi) {
                (Some(lo), Some(hi)) => (lo, hi.max(lo)),
                (Some(lo), None) => (lo, lo + 100.0),
                (None, Some(hi)) => (hi - 100.0, hi),
                (None, None) => match example.and_then(Value::as_f64) {
                    Some(e) => (e * 0.95 - 1.0, e * 1.05 + 1.0),
                    None => (0.0, 100.0),
                },
            };
            let x = if hi > lo { rng.gen_range(lo..=hi) } else { lo };
            if integer {
                json!(x.round().clamp(lo.ceil(), hi.floor()) as i64)
            } else {
                let rounded = (x * 10.0).round() / 10.0;
                json!(if rounded < lo || rounded > hi {
                    x
                } else {
                    rounded
                })
            }
        }
        "boolean" => json!(true),
        "null" => Value::Null,
        "array" => {
            let n = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let item = schema.get("items").cloned().unwrap_or_else(|| json!({}));
            Value::Array((0..n).map(|_| from_schema(&item, rng)).collect())
        }
        _ => {
            let mut text = example.and_then(Value::as_str).unwrap_or("SIM").to_owned();
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            while text.chars().count() < min {
                text.push('X');
            }
            json!(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::{DEMO_DEFECT_CODES, DEMO_LINE};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn demo_processes() -> Vec<(String, Value)> {
        let line: Value = serde_json::from_str(DEMO_LINE).expect("demo line");
        line["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .map(|p| {
                (
                    p["code"].as_str().expect("code").to_owned(),
                    p["data_schema"].clone(),
                )
            })
            .collect()
    }

    fn defect_codes(process: &str) -> Vec<String> {
        let codes: Vec<Value> = serde_json::from_str(DEMO_DEFECT_CODES).expect("codes");
        codes
            .iter()
            .filter(|c| c["process_code"] == process)
            .map(|c| c["defect_code"].as_str().expect("code").to_owned())
            .collect()
    }

    fn assert_valid(schema: &Value, data: &Value, what: &str) {
        let validator = jsonschema::validator_for(schema).expect("schema compiles");
        let errors: Vec<String> = validator.iter_errors(data).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{what}: {data} violates: {errors:?}");
    }

    #[test]
    fn passing_and_failing_data_satisfies_the_demo_schemas() {
        let mut rng = StdRng::seed_from_u64(7);
        let serial = "FN-KR-251110D-001-0007";
        for (code, schema) in demo_processes() {
            for _ in 0..300 {
                let data = process_data(&code, Some(&schema), serial, None, &mut rng);
                assert_valid(&schema, &data, &format!("{code} pass"));
                for defect in defect_codes(&code) {
                    let data = process_data(&code, Some(&schema), serial, Some(&defect), &mut rng);
                    assert_valid(&schema, &data, &format!("{code} {defect}"));
                }
            }
        }
    }

    #[test]
    fn a_failure_shows_in_the_data() {
        let mut rng = StdRng::seed_from_u64(1);
        let sn = "FN-KR-251110D-001-0001";
        let eol = process_data("EOL", None, sn, Some("D006"), &mut rng);
        assert_eq!(eol["firmware_upload_status"], "failed");
        let eol = process_data("EOL", None, sn, Some("D004"), &mut rng);
        assert!(eol["temperature_sensor"].as_f64().expect("temp") > 50.0);
        let spring = process_data("SPRING", None, sn, Some("D001"), &mut rng);
        assert_eq!(spring["inspection_result"], "NG");
        let pack = process_data("PACK", None, sn, None, &mut rng);
        assert!(
            pack["package_id"]
                .as_str()
                .expect("id")
                .ends_with("-001-0001")
        );
    }

    #[test]
    fn the_schema_driven_generator_satisfies_every_demo_schema() {
        let mut rng = StdRng::seed_from_u64(3);
        for (code, schema) in demo_processes() {
            for _ in 0..200 {
                let data = from_schema(&schema, &mut rng);
                assert_valid(&schema, &data, &format!("generic {code}"));
            }
        }
        let custom = json!({"type": "object", "required": ["n", "t", "x"], "properties": {
            "n": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
            "t": {"type": "string", "minLength": 5},
            "x": {"type": "number", "minimum": -2.5, "maximum": -2.5},
            "a": {"type": "array", "minItems": 2, "items": {"type": "boolean"}}}});
        for _ in 0..100 {
            let data = from_schema(&custom, &mut rng);
            assert_valid(&custom, &data, "custom");
        }
    }

    #[test]
    fn failures_follow_the_rate_and_only_where_codes_exist() {
        let mut rng = StdRng::seed_from_u64(11);
        let codes = vec!["D001".to_owned()];
        let fails = (0..10_000)
            .filter(|_| pick_defect(&codes, 0.03, &mut rng).is_some())
            .count();
        assert!(
            (200..400).contains(&fails),
            "{fails} failures of 10000 at 3 %"
        );
        assert!(pick_defect(&[], 1.0, &mut rng).is_none());
        assert_eq!(serial_tail("FN-KR-251110D-001-0007"), "001-0007");
    }
}
