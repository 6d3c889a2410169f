//! The helpers that stand in for kube-controller-manager and the kubelet: ready workloads, pods
//! with statuses, container logs (incl. follow), and write counting.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube_double::{KubeDouble, PodTemplate};
use serde_json::json;

fn deployment(name: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}
    })
}

#[tokio::test]
async fn ready_deployment_and_its_pods() {
    let d = KubeDouble::start().await.unwrap();
    let client = d.client().unwrap();
    d.seed(deployment("web", 3)).unwrap();
    let marked = d.mark_deployment_ready("default", "web").unwrap();
    assert_eq!(marked["status"]["readyReplicas"], 3);
    let writes = d.writes_to("deployments", "default", "web");
    d.mark_deployment_ready("default", "web").unwrap();
    assert_eq!(
        d.writes_to("deployments", "default", "web"),
        writes,
        "marking again is a no-op"
    );
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let dep = deps.get("web").await.unwrap();
    let status = dep.status.unwrap();
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.observed_generation, dep.metadata.generation);

    let names = d
        .create_pods_for("Deployment", "default", "web", &PodTemplate::default())
        .unwrap();
    assert_eq!(names.len(), 3);
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 3);
    let pod = &listed.items[0];
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    assert_eq!(pod.owner_references()[0].kind, "ReplicaSet");
    let running = pods
        .list(&ListParams::default().fields("status.phase=Running"))
        .await
        .unwrap();
    assert_eq!(running.items.len(), 3);

    // Deleting the Deployment collects its ReplicaSet and pods.
    deps.delete("web", &DeleteParams::default()).await.unwrap();
    let rs: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    assert!(
        rs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn ready_statefulset_with_ordinal_pods() {
    let d = KubeDouble::start().await.unwrap();
    let mut sts = deployment("db", 2);
    sts["kind"] = json!("StatefulSet");
    sts["spec"]["serviceName"] = json!("db");
    d.seed(sts).unwrap();
    d.mark_statefulset_ready("default", "db").unwrap();
    let api: Api<StatefulSet> = Api::default_namespaced(d.client().unwrap());
    assert_eq!(
        api.get("db").await.unwrap().status.unwrap().ready_replicas,
        Some(2)
    );
    let tpl = PodTemplate {
        phase: "Pending".into(),
        ready: false,
        ..Default::default()
    };
    let names = d
        .create_pods_for("StatefulSet", "default", "db", &tpl)
        .unwrap();
    assert_eq!(names, ["db-0", "db-1"]);
    let pod = d.get("v1", "Pod", "default", "db-1").unwrap();
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], false);
}

#[tokio::test]
async fn pod_logs_tail_previous_timestamps_and_follow() {
    let d = KubeDouble::start().await.unwrap();
    d.seed(deployment("app", 1)).unwrap();
    let tpl = PodTemplate {
        logs: vec!["one".into(), "two".into(), "three".into()],
        previous_logs: Some(vec!["crashed".into()]),
        restart_count: 1,
        ..Default::default()
    };
    let pod = d
        .create_pods_for("Deployment", "default", "app", &tpl)
        .unwrap()
        .remove(0);
    let pods: Api<Pod> = Api::default_namespaced(d.client().unwrap());

    assert_eq!(
        pods.logs(&pod, &LogParams::default()).await.unwrap(),
        "one\ntwo\nthree\n"
    );
    let tail = LogParams {
        tail_lines: Some(2),
        ..Default::default()
    };
    assert_eq!(pods.logs(&pod, &tail).await.unwrap(), "two\nthree\n");
    let prev = LogParams {
        previous: true,
        ..Default::default()
    };
    assert_eq!(pods.logs(&pod, &prev).await.unwrap(), "crashed\n");
    let stamped = pods
        .logs(
            &pod,
            &LogParams {
                timestamps: true,
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (ts, line) = stamped.trim_end().split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok() && line == "three",
        "{stamped}"
    );
    let err = api_error(
        pods.logs(
            &pod,
            &LogParams {
                container: Some("nope".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400);

    let follow = LogParams {
        follow: true,
        tail_lines: Some(1),
        ..Default::default()
    };
    let mut lines = pods.log_stream(&pod, &follow).await.unwrap().lines();
    let mut next = async || {
        tokio::time::timeout(DEADLINE, lines.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    assert_eq!(next().await, "three");
    d.append_log("default", &pod, "main", "four");
    assert_eq!(next().await, "four");
    d.finish_log("default", &pod, "main");
    let ended = tokio::time::timeout(DEADLINE, lines.next()).await.unwrap();
    assert!(
        ended.is_none(),
        "follow ends when the container's log is finished"
    );
}

#[tokio::test]
async fn write_counts_per_object() {
    let d = KubeDouble::start().await.unwrap();
    let pods: Api<Pod> = Api::default_namespaced(d.client().unwrap());
    let p: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    )
    .unwrap();
    let p = pods.create(&PostParams::default(), &p).await.unwrap();
    pods.replace("p", &PostParams::default(), &p).await.unwrap();
    assert_eq!(d.writes_to("pods", "default", "p"), 1);
    assert_eq!(d.noop_writes_to("pods", "default", "p"), 1);
    let rec = d.writes().into_iter().rfind(|w| w.name == "p").unwrap();
    assert_eq!(
        (rec.verb, rec.event),
        ("create", kube_double::EventType::Added)
    );
}
