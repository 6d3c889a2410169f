//! The kustomize base for kubectl users: rendered from the chart (no drift), builds with
//! `kubectl kustomize`, and every object validates.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use delivery_checks::*;

#[test]
fn base_manifest_is_the_rendered_chart() {
    let path = repo().join("k8s/base/mes-operator.yaml");
    let rendered = render_base_manifest().unwrap();
    if std::env::var_os("UPDATE_MANIFESTS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "k8s/base/mes-operator.yaml is stale: UPDATE_MANIFESTS=1 cargo nextest run -p delivery-checks -E 'test(base_manifest)'"
    );
}

#[test]
fn kustomize_base_builds_and_validates() {
    let built = run_ok(
        Command::new(kubectl().unwrap())
            .arg("kustomize")
            .arg(repo().join("k8s/base")),
    )
    .unwrap();
    let docs = documents(&built).unwrap();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "CustomResourceDefinition")
            .count(),
        2,
        "{kinds:?}"
    );
    for kind in ["Namespace", "Deployment", "ClusterRole", "ServiceAccount"] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("base.yaml");
    std::fs::write(&file, built).unwrap();
    for version in KUBERNETES_VERSIONS {
        let outcome = kubernetes_validate(std::slice::from_ref(&file), version).unwrap();
        assert!(outcome.success, "Kubernetes {version}:\n{}", outcome.output);
    }
}

#[test]
fn crds_validate() {
    let files = vec![
        repo().join("crds/mesplants.yaml"),
        repo().join("crds/productionlines.yaml"),
    ];
    for version in KUBERNETES_VERSIONS {
        let outcome = kubernetes_validate(&files, version).unwrap();
        assert!(outcome.success, "Kubernetes {version}:\n{}", outcome.output);
    }
}

#[test]
fn kustomize_rejects_a_missing_resource() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - missing.yaml\n",
    )
    .unwrap();
    let outcome = run(Command::new(kubectl().unwrap())
        .arg("kustomize")
        .arg(dir.path()))
    .unwrap();
    assert!(!outcome.success, "{}", outcome.output);
    assert!(
        outcome.output.contains("missing.yaml"),
        "{}",
        outcome.output
    );
}
