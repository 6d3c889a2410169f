//! The `kube-double` binary, as end-to-end tests start it: it writes a kubeconfig, announces its
//! address on stdout, and a client built from that kubeconfig works.
#![allow(clippy::unwrap_used)]

mod common;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use tokio::io::AsyncBufReadExt;

#[tokio::test]
async fn binary_serves_and_writes_a_kubeconfig() {
    let dir = std::env::temp_dir().join(format!("kube-double-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-double"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(common::DEADLINE, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        first.starts_with("kube-double listening on http://127.0.0.1:"),
        "{first}"
    );

    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(kube::Client::try_from(config).unwrap());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");
    child.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
