//! Every object in the golden files passes PyPI `kubernetes-validate --strict` for Kubernetes
//! 1.30 (the documented minimum). Install once:
//! `python3 -m venv .local/tools/venv && .local/tools/venv/bin/pip install kubernetes-validate==1.37.0`.
//!
//! Documents are handed over as JSON (valid YAML): the validator reads YAML 1.1, where an
//! unquoted `20:00` is the number 1200, while the operator sends JSON.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::{Value, json};

fn validator() -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/tools/venv/bin/kubernetes-validate");
    assert!(
        path.exists(),
        "{} missing: python3 -m venv .local/tools/venv && .local/tools/venv/bin/pip install kubernetes-validate==1.37.0",
        path.display()
    );
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mes-operator-kv-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the validator on `docs`, one JSON file each; returns (success, output).
fn validate(name: &str, docs: &[Value]) -> (bool, String) {
    let dir = scratch(name);
    let files: Vec<PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let f = dir.join(format!("{i:02}.json"));
            std::fs::write(&f, serde_json::to_vec_pretty(d).unwrap()).unwrap();
            f
        })
        .collect();
    let out = Command::new(validator())
        .args(["-k", "1.30.0", "--strict", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && !text.contains("ERROR"), text)
}

/// The documents of one insta snapshot (after its `---` … `---` header).
fn golden(mode: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "src/builders/snapshots/mes_operator__builders__tests__{mode}.snap"
    ));
    let text = std::fs::read_to_string(path).unwrap();
    let body = text.splitn(3, "---\n").nth(2).unwrap();
    yaml_serde::Deserializer::from_str(body)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn golden_objects_pass_strict_validation_for_kubernetes_1_30() {
    for mode in ["embedded", "cloudnativepg", "external"] {
        let docs = golden(mode);
        assert!(docs.len() >= 5, "{mode}: {} documents", docs.len());
        let (ok, output) = validate(mode, &docs);
        assert!(ok, "{mode} golden objects rejected:\n{output}");
    }
}

#[test]
fn the_validator_rejects_a_broken_object() {
    let broken = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "broken"},
        "spec": {"replicaz": 1, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    });
    let (ok, output) = validate("broken", &[broken]);
    assert!(!ok, "an unknown field passed --strict:\n{output}");
}
