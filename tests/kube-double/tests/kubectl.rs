//! kubectl (the official static binary) end to end against the double: apply a CRD and a custom
//! resource, get it with printer columns, wait on a status condition, delete it.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::DEADLINE;
use kube::api::{Api, Patch, PatchParams};
use kube_double::KubeDouble;
use serde_json::json;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.e2e.kube-double.io
spec:
  group: e2e.kube-double.io
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const CR: &str = r#"
apiVersion: e2e.kube-double.io/v1
kind: Gadget
metadata:
  name: g1
  namespace: default
spec:
  size: 42
"#;

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        cmd.kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(DEADLINE, self.command(args).output())
            .await
            .expect("kubectl timed out")
            .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// A directory of this test's own (tests may share a process under `cargo test`).
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kube-double-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

#[tokio::test]
async fn kubectl_applies_gets_waits_and_deletes() {
    let bin = tokio::task::spawn_blocking(kube_double::tools::kubectl)
        .await
        .unwrap()
        .expect("kubectl available");
    let double = KubeDouble::start().await.unwrap();
    let dir = scratch_dir("kubectl-crd");
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl {
        bin,
        kubeconfig,
        cache: dir.join("cache"),
    };
    let crd = write(&dir, "crd.yaml", CRD);
    let cr = write(&dir, "cr.yaml", CR);

    let out = k.ok(&["apply", "--validate=false", "-f", &crd]).await;
    assert!(out.contains("created"), "{out}");
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gadgets.e2e.kube-double.io",
        "--timeout=20s",
    ])
    .await;
    let out = k.ok(&["apply", "--validate=false", "-f", &cr]).await;
    assert!(
        out.contains("gadget.e2e.kube-double.io/g1 created"),
        "{out}"
    );
    // Applying again is unchanged (client-side apply computes an empty patch or a no-op).
    let out = k.ok(&["apply", "--validate=false", "-f", &cr]).await;
    assert!(
        out.contains("unchanged") || out.contains("configured"),
        "{out}"
    );

    let table = k.ok(&["get", "gadgets", "g1"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    // Exactly the CRD's printer columns: the real server adds AGE only to CRDs declaring none.
    assert_eq!(header, ["NAME", "SIZE", "READY"], "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("g1"), "{table}");
    assert!(table.contains("42"), "{table}");

    // `kubectl wait` blocks until a controller (here: the test) sets the condition.
    let mut waiter = k
        .command(&[
            "wait",
            "--for=condition=Ready",
            "gadget/g1",
            "--timeout=20s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let gadgets: Api<kube::api::DynamicObject> = Api::namespaced_with(
        double.client().unwrap(),
        "default",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("e2e.kube-double.io", "v1", "Gadget"),
            "gadgets",
        ),
    );
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Test", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    gadgets
        .patch_status("g1", &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
    let waited = tokio::time::timeout(DEADLINE, waiter.wait())
        .await
        .expect("kubectl wait hung")
        .unwrap();
    assert!(waited.success(), "kubectl wait failed");
    let table = k.ok(&["get", "gd", "g1", "--no-headers"]).await;
    assert!(table.split_whitespace().nth(2) == Some("True"), "{table}");

    let out = k
        .ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec.size}"])
        .await;
    assert_eq!(out, "42");
    k.ok(&[
        "patch",
        "gadget",
        "g1",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":7}}"#,
    ])
    .await;
    assert_eq!(
        k.ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec.size}"])
            .await,
        "7"
    );

    let out = k.ok(&["delete", "gadget", "g1"]).await;
    assert!(out.contains("deleted"), "{out}");
    let gone = k.run(&["get", "gadget", "g1"]).await;
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    k.ok(&["delete", "-f", &crd]).await;
    let _ = std::fs::remove_dir_all(&dir);
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1", env: [{name: MODE, value: "a"}]}
"#;

#[tokio::test]
async fn kubectl_drives_builtin_workloads() {
    let bin = tokio::task::spawn_blocking(kube_double::tools::kubectl)
        .await
        .unwrap()
        .expect("kubectl available");
    let double = KubeDouble::start().await.unwrap();
    let dir = scratch_dir("kubectl-builtin");
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl {
        bin,
        kubeconfig,
        cache: dir.join("cache"),
    };
    let manifest = write(&dir, "deploy.yaml", DEPLOYMENT);
    assert!(
        k.ok(&["apply", "--validate=false", "-f", &manifest])
            .await
            .contains("created")
    );
    // A changed manifest goes through kubectl's strategic-merge patch.
    let changed = write(
        &dir,
        "deploy2.yaml",
        &DEPLOYMENT.replace("value: \"a\"", "value: \"b\""),
    );
    assert!(
        k.ok(&["apply", "--validate=false", "-f", &changed])
            .await
            .contains("configured")
    );
    let env = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env[0].value}",
        ])
        .await;
    assert_eq!(env, "b");

    k.ok(&["rollout", "restart", "deployment/web"]).await;
    let restarted = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
        ])
        .await;
    assert!(!restarted.is_empty());
    double.mark_deployment_ready("default", "web").unwrap();
    k.ok(&["rollout", "status", "deployment/web", "--timeout=20s"])
        .await;

    let tpl = kube_double::PodTemplate {
        logs: vec!["hello".into(), "world".into()],
        ..Default::default()
    };
    let pods = double
        .create_pods_for("Deployment", "default", "web", &tpl)
        .unwrap();
    assert_eq!(k.ok(&["logs", &pods[0], "--tail=1"]).await, "world\n");
    let listed = k.ok(&["get", "pods", "-l", "app=web", "-o", "name"]).await;
    assert_eq!(listed.lines().count(), 2, "{listed}");

    k.ok(&["delete", "deployment", "web"]).await;
    let left = k.ok(&["get", "pods,replicasets", "-o", "name"]).await;
    assert!(left.trim().is_empty(), "garbage collection left {left}");
    let _ = std::fs::remove_dir_all(&dir);
}
