//! The Helm chart: strict lint, renders with every values file, every rendered object valid for
//! Kubernetes 1.30 and the newest version, least-privilege RBAC, versions and CRDs in step.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use delivery_checks::*;
use serde_json::Value;

fn values_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("ci"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "the chart has example values files in ci/"
    );
    files
}

fn lint(values: Option<&std::path::Path>) -> Outcome {
    let mut cmd = std::process::Command::new(helm().unwrap());
    cmd.args(["lint", "--strict"]).arg(chart());
    if let Some(v) = values {
        cmd.arg("-f").arg(v);
    }
    run(&mut cmd).unwrap()
}

#[test]
fn chart_lints_strictly_with_every_values_file() {
    let default = lint(None);
    assert!(default.success, "{}", default.output);
    for values in values_files() {
        let outcome = lint(Some(&values));
        assert!(outcome.success, "{}: {}", values.display(), outcome.output);
    }
}

#[test]
fn rendered_objects_validate_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut sets: Vec<Option<PathBuf>> = vec![None];
    sets.extend(values_files().into_iter().map(Some));
    for (i, values) in sets.iter().enumerate() {
        let rendered = helm_template(&chart(), values.as_deref(), &[]).unwrap();
        let file = dir.path().join(format!("rendered-{i}.yaml"));
        std::fs::write(&file, rendered).unwrap();
        files.push(file);
    }
    for version in KUBERNETES_VERSIONS {
        let outcome = kubernetes_validate(&files, version).unwrap();
        assert!(outcome.success, "Kubernetes {version}:\n{}", outcome.output);
        assert!(!outcome.output.contains("ERROR"), "{}", outcome.output);
    }
}

#[test]
fn default_render_has_the_expected_objects_and_no_wildcard_rbac() {
    let docs = documents(&helm_template(&chart(), None, &[]).unwrap()).unwrap();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
        "Pod",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let role = docs.iter().find(|d| d["kind"] == "ClusterRole").unwrap();
    for rule in role["rules"].as_array().unwrap() {
        for key in ["apiGroups", "resources", "verbs"] {
            for item in rule[key].as_array().unwrap() {
                assert_ne!(item.as_str(), Some("*"), "wildcard in {rule}");
            }
        }
    }
    let test_pod = docs.iter().find(|d| d["kind"] == "Pod").unwrap();
    assert_eq!(test_pod["metadata"]["annotations"]["helm.sh/hook"], "test");
    assert!(
        test_pod.to_string().contains("/readyz"),
        "the helm test checks /readyz: {test_pod}"
    );
    // One replica: no leader election, and a Recreate rollout so two operators never overlap.
    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(deploy["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        env(deploy, "MES_OPERATOR_LEADER_ELECT"),
        Some("false".into())
    );
}

fn env(deploy: &Value, name: &str) -> Option<String> {
    deploy["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

#[test]
fn more_than_one_replica_turns_leader_election_on() {
    let docs =
        documents(&helm_template(&chart(), None, &["--set", "replicaCount=3"]).unwrap()).unwrap();
    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(
        env(deploy, "MES_OPERATOR_LEADER_ELECT"),
        Some("true".into())
    );
    assert_eq!(deploy["spec"]["strategy"]["type"], "RollingUpdate");
    let lease_role = docs
        .iter()
        .find(|d| d["kind"] == "Role")
        .expect("a Role for the leader Lease");
    assert_eq!(lease_role["rules"][0]["resources"][0], "leases");
}

#[test]
fn chart_version_and_app_version_follow_the_workspace() {
    let chart_yaml: Value =
        yaml_serde::from_str(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap())
            .unwrap();
    let version = workspace_version().unwrap();
    assert_eq!(chart_yaml["version"], version.as_str());
    assert_eq!(chart_yaml["appVersion"], version.as_str());
}

#[test]
fn chart_crds_are_the_generated_ones() {
    for name in ["mesplants.yaml", "productionlines.yaml"] {
        let generated = std::fs::read_to_string(repo().join("crds").join(name)).unwrap();
        let in_chart = std::fs::read_to_string(chart().join("crds").join(name)).unwrap();
        assert!(
            generated == in_chart,
            "charts/mes-operator/crds/{name} differs from crds/{name}: cp crds/{name} charts/mes-operator/crds/"
        );
    }
}

// --- Each validator rejects a broken input, so none can pass silently. ---

#[test]
fn helm_lint_rejects_values_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("bad.yaml");
    std::fs::write(&values, "replicaCount: 0\nunknownValue: true\n").unwrap();
    let outcome = lint(Some(&values));
    assert!(!outcome.success, "{}", outcome.output);
    assert!(
        outcome.output.contains("replicaCount"),
        "{}",
        outcome.output
    );
}

#[test]
fn helm_lint_rejects_a_broken_template() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("mes-operator");
    copy_dir(&chart(), &copy);
    std::fs::write(
        copy.join("templates/broken.yaml"),
        "kind: {{ .Values.nope.deeper }\n",
    )
    .unwrap();
    let outcome = run(std::process::Command::new(helm().unwrap())
        .args(["lint", "--strict"])
        .arg(&copy))
    .unwrap();
    assert!(!outcome.success, "{}", outcome.output);
}

#[test]
fn kubernetes_validate_rejects_an_unknown_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.yaml");
    let rendered = helm_template(&chart(), None, &[]).unwrap();
    // A typo in a field name, as a hand edit of a template could make.
    let broken = rendered.replacen("revisionHistoryLimit:", "revisionHistoryLimt:", 1);
    assert_ne!(broken, rendered);
    std::fs::write(&file, broken).unwrap();
    let outcome = kubernetes_validate(&[file], "1.30.0").unwrap();
    assert!(!outcome.success, "{}", outcome.output);
    assert!(
        outcome.output.contains("revisionHistoryLimt"),
        "{}",
        outcome.output
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
