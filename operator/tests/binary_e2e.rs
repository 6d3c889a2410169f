//! End-to-end: the real `mes-operator` binary against kube-double, with the CRDs and the example
//! manifests applied by the real kubectl.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{eventually, http_get};
use kube_double::KubeDouble;

const NS: &str = "plant-kr";

async fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(kube_double::tools::kubectl().unwrap())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn is_ok(response: &str) -> bool {
    response
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("HTTP/1.") && l.contains(" 200 "))
}

struct Child(tokio::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_reconciles_the_examples_applied_with_kubectl() {
    let bin = env!("CARGO_BIN_EXE_mes-operator");
    let version = tokio::process::Command::new(bin)
        .arg("--version")
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mes-operator "));

    let double = KubeDouble::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("mes-operator-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let examples = root.join("k8s/examples");
    // The CRD files one by one: crds/ also holds a kustomization.yaml for `kubectl -k`.
    for crd in ["mesplants.yaml", "productionlines.yaml"] {
        let path = root.join("crds").join(crd);
        kubectl(
            &kubeconfig,
            &["apply", "--validate=false", "-f", path.to_str().unwrap()],
        )
        .await;
    }
    for file in ["mesplant-embedded.yaml", "productionline-l1.yaml"] {
        let path = examples.join(file);
        kubectl(
            &kubeconfig,
            &["apply", "--validate=false", "-f", path.to_str().unwrap()],
        )
        .await;
    }

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let _operator = Child(
        tokio::process::Command::new(bin)
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn")
            .args([
                "--listen-addr",
                &format!("127.0.0.1:{port}"),
                "--namespace",
                NS,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap(),
    );
    eventually("/readyz answers 200", || async move {
        is_ok(&http_get(port, "/readyz").await)
    })
    .await;
    assert!(is_ok(&http_get(port, "/healthz").await));

    let d = &double;
    eventually("the plant's workloads", || async move {
        ["kr-api", "kr-dashboard", "kr-infra"]
            .iter()
            .all(|n| d.get("apps/v1", "Deployment", NS, n).is_some())
            && d.get("apps/v1", "StatefulSet", NS, "kr-db").is_some()
    })
    .await;
    let api = double.get("apps/v1", "Deployment", NS, "kr-api").unwrap();
    assert_eq!(api["metadata"]["ownerReferences"][0]["kind"], "MesPlant");
    assert_eq!(api["metadata"]["ownerReferences"][0]["name"], "kr");
    let env = api["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "MES_TRUSTED_PROXIES" && e["value"] == "10.244.0.0/16"),
        "the example's trustedProxies reach mes-api: {env:?}"
    );
    for n in ["kr-api", "kr-dashboard", "kr-infra"] {
        double.mark_deployment_ready(NS, n).unwrap();
    }
    double.mark_statefulset_ready(NS, "kr-db").unwrap();

    let kc = &kubeconfig;
    eventually("kubectl shows the plant Ready", || async move {
        let table = kubectl(kc, &["get", "mp", "-n", NS]).await;
        table.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.starts_with(&["kr", "KR", "Embedded", "Ready", "True"])
        })
    })
    .await;
    let lines = kubectl(&kubeconfig, &["get", "pl", "-n", NS]).await;
    assert!(
        lines.lines().any(|l| l
            .split_whitespace()
            .collect::<Vec<_>>()
            .starts_with(&["kr-l1", "kr", "L1"])),
        "{lines}"
    );
    let metrics = http_get(port, "/metrics").await;
    assert!(
        metrics.contains("mes_operator_reconciles_total{kind=\"MesPlant\"}"),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
