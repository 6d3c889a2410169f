//! Offline checks of what platform engineers install and what Jenkins runs (SPEC §11,
//! STANDARDS "Artifact checks"): the Helm chart, the kustomize base, the CRDs and the Jenkins
//! files, each checked by the real tool — `helm`, `kubectl kustomize`, PyPI
//! `kubernetes-validate` and `yamllint`, Debian's `groovy` — as the tests in `tests/` do.
//!
//! Tools come from where `cargo xtask test` installs them; a missing tool fails the check with
//! the command that installs it, never skips it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Kubernetes versions every rendered object is validated against: the documented minimum and
/// the newest the validator knows.
pub const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

/// The release name and namespace the kustomize base is rendered with.
pub const BASE_RELEASE: &str = "mes-operator";
pub const BASE_NAMESPACE: &str = "mes-system";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn chart() -> PathBuf {
    repo().join("charts/mes-operator")
}

/// What a tool printed (stdout then stderr) and whether it exited with success.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    pub output: String,
}

pub fn run(cmd: &mut Command) -> Result<Outcome> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    Ok(Outcome {
        success: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}

/// Runs and fails with the tool's output unless it succeeded.
pub fn run_ok(cmd: &mut Command) -> Result<String> {
    let outcome = run(cmd)?;
    if !outcome.success {
        bail!("{cmd:?} failed:\n{}", outcome.output);
    }
    Ok(outcome.output)
}

pub fn helm() -> Result<PathBuf> {
    kube_double::tools::helm()
}

pub fn kubectl() -> Result<PathBuf> {
    kube_double::tools::kubectl()
}

/// A PyPI tool from the project's virtualenv.
pub fn python_tool(name: &str) -> Result<PathBuf> {
    let path = repo().join(".local/tools/venv/bin").join(name);
    if !path.exists() {
        bail!(
            "{} is missing; `cargo xtask test` installs it (or: python3 -m venv .local/tools/venv && .local/tools/venv/bin/pip install {name})",
            path.display()
        );
    }
    Ok(path)
}

/// Debian's `groovy` with the JDK it needs.
pub fn groovy() -> Result<Command> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("groovy"))
            .find(|p| p.exists())
    });
    let Some(groovy) = found else {
        bail!("groovy is missing; `cargo xtask test` installs it (or: apt-get install groovy)");
    };
    let mut cmd = Command::new(groovy);
    if std::env::var_os("JAVA_HOME").is_none() {
        let jdk = Path::new("/usr/lib/jvm/java-17-openjdk-amd64");
        if jdk.exists() {
            cmd.env("JAVA_HOME", jdk);
        }
    }
    Ok(cmd)
}

/// `kubernetes-validate --strict` of `files` against one Kubernetes version.
pub fn kubernetes_validate(files: &[PathBuf], version: &str) -> Result<Outcome> {
    run(Command::new(python_tool("kubernetes-validate")?)
        .args(["--strict", "--quiet", "-k", version])
        .args(files))
}

pub fn yamllint(paths: &[PathBuf]) -> Result<Outcome> {
    run(Command::new(python_tool("yamllint")?)
        .arg("--strict")
        .arg("-c")
        .arg(repo().join(".yamllint.yaml"))
        .args(paths))
}

/// The Jenkinsfile walked for declarative structure (groovy/check_declarative.groovy).
pub fn check_jenkinsfile(path: &Path) -> Result<Outcome> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("groovy/check_declarative.groovy");
    run(groovy()?.arg(script).arg(path))
}

pub fn helm_template(chart: &Path, values: Option<&Path>, extra: &[&str]) -> Result<String> {
    let mut cmd = Command::new(helm()?);
    cmd.args(["template", BASE_RELEASE]).arg(chart);
    if let Some(v) = values {
        cmd.arg("-f").arg(v);
    }
    cmd.args(extra);
    run_ok(&mut cmd)
}

/// `k8s/base/mes-operator.yaml`: the chart rendered with its default values for kubectl users,
/// labelled as managed by kustomize instead of Helm.
pub fn render_base_manifest() -> Result<String> {
    let rendered = helm_template(
        &chart(),
        None,
        &["--namespace", BASE_NAMESPACE, "--skip-tests"],
    )?;
    let mut out = String::from(
        "# Rendered from charts/mes-operator with its default values; do not edit.\n\
         # Regenerate: UPDATE_MANIFESTS=1 cargo nextest run -p delivery-checks -E 'test(base_manifest)'\n",
    );
    for line in rendered.lines() {
        if line.trim_start().starts_with("helm.sh/chart:") {
            continue;
        }
        out.push_str(&line.replace(
            "app.kubernetes.io/managed-by: Helm",
            "app.kubernetes.io/managed-by: kustomize",
        ));
        out.push('\n');
    }
    Ok(out)
}

/// The YAML documents of a multi-document string, as JSON values (empty documents dropped).
pub fn documents(yaml: &str) -> Result<Vec<serde_json::Value>> {
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(yaml) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(doc).context("parsing rendered YAML")?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The workspace version from the root Cargo.toml.
pub fn workspace_version() -> Result<String> {
    let toml = std::fs::read_to_string(repo().join("Cargo.toml"))?;
    let section = toml
        .split("[workspace.package]")
        .nth(1)
        .context("no [workspace.package] in Cargo.toml")?;
    section
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_owned)
        .context("no workspace version")
}
