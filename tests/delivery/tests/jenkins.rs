//! The pipeline: the Jenkinsfile is declarative and well formed, its pod templates are valid
//! Kubernetes objects, its scripts parse, and the YAML folders pass yamllint.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use delivery_checks::*;

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn jenkinsfile_is_a_declarative_pipeline() {
    let outcome = check_jenkinsfile(&repo().join("Jenkinsfile")).unwrap();
    assert!(outcome.success, "{}", outcome.output);
    assert!(
        outcome.output.contains("ok: 7 stages"),
        "{}",
        outcome.output
    );
}

#[test]
fn jenkinsfile_check_rejects_unknown_sections_and_bad_groovy() {
    let good = std::fs::read_to_string(repo().join("Jenkinsfile")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, broken, expected) in [
        (
            "unknown-section",
            good.replacen("    options {", "    optionz {", 1),
            "unknown section `optionz`",
        ),
        (
            "no-steps",
            good.replacen("steps {", "stepz {", 1),
            "unknown section `stepz`",
        ),
        (
            "syntax",
            good.replacen("pipeline {", "pipeline {{", 1),
            "not valid Groovy",
        ),
    ] {
        assert_ne!(broken, good, "{name}: the plant did not apply");
        let file = dir.path().join(name);
        std::fs::write(&file, broken).unwrap();
        let outcome = check_jenkinsfile(&file).unwrap();
        assert!(!outcome.success, "{name}: {}", outcome.output);
        assert!(
            outcome.output.contains(expected),
            "{name}: {}",
            outcome.output
        );
    }
}

#[test]
fn jenkins_pod_templates_and_manifests_validate() {
    let mut files = yaml_files("jenkins/agents");
    files.push(repo().join("jenkins/casc/build-cache-pvc.yaml"));
    files.push(repo().join("jenkins/casc/deployer-rbac.yaml"));
    for version in KUBERNETES_VERSIONS {
        let outcome = kubernetes_validate(&files, version).unwrap();
        assert!(outcome.success, "Kubernetes {version}:\n{}", outcome.output);
    }
}

#[test]
fn yaml_folders_pass_yamllint() {
    let paths = [
        "jenkins",
        "k8s",
        "crds",
        "charts/mes-operator/values.yaml",
        "charts/mes-operator/ci",
        "charts/mes-operator/Chart.yaml",
    ]
    .map(|p| repo().join(p));
    let outcome = yamllint(&paths).unwrap();
    assert!(outcome.success, "{}", outcome.output);
}

#[test]
fn yamllint_rejects_a_duplicate_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dup.yaml");
    std::fs::write(&file, "a: 1\nb: 2\na: 3\n").unwrap();
    let outcome = yamllint(&[file]).unwrap();
    assert!(!outcome.success, "{}", outcome.output);
    assert!(outcome.output.contains("duplication"), "{}", outcome.output);
}

#[test]
fn pipeline_scripts_parse() {
    for entry in std::fs::read_dir(repo().join("jenkins/scripts")).unwrap() {
        let path = entry.unwrap().path();
        let outcome = run(Command::new("bash").arg("-n").arg(&path)).unwrap();
        assert!(outcome.success, "{}: {}", path.display(), outcome.output);
    }
}
