//! `/api/infra/pods`, `/status`, `/events` from the watch caches, against kube-double.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, NS, admin, supervisor, token, wait_for};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::DeleteParams;
use kube_double::{PodTemplate, Verb};
use mes_api::auth::Role;

#[tokio::test]
async fn pods_appear_and_disappear_as_the_cache_sees_watch_events() {
    let h = Harness::start().await;
    assert!(h.server.pod_names().await.is_empty());
    h.deployment("mes-api", "api", 2);
    let names = h.pods(
        "mes-api",
        PodTemplate {
            restart_count: 3,
            ..PodTemplate::default()
        },
    );
    let mut expected = names.clone();
    expected.sort();
    wait_for("both pods listed", || async {
        h.server.pod_names().await == expected
    })
    .await;

    let (status, body) = h.server.get("/api/infra/pods", Some(&supervisor())).await;
    assert_eq!(status, 200);
    let row = &body["data"]["items"][0];
    assert_eq!(row["component"], "api");
    assert_eq!(row["phase"], "Running");
    assert_eq!(row["ready"], "1/1");
    assert_eq!(row["restarts"], 3);
    assert_eq!(row["node"], "kube-double-node");
    assert!(row["ip"].as_str().unwrap().starts_with("10.0."));
    assert!(row["age_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(body["data"]["namespace"], NS);

    // Filters.
    let (_, body) = h
        .server
        .get("/api/infra/pods?component=db", Some(&admin()))
        .await;
    assert_eq!(body["data"]["total"], 0);
    let (_, body) = h
        .server
        .get(
            "/api/infra/pods?component=api&phase=running",
            Some(&admin()),
        )
        .await;
    assert_eq!(body["data"]["total"], 2);
    let (_, body) = h
        .server
        .get("/api/infra/pods?phase=Pending", Some(&admin()))
        .await;
    assert_eq!(body["data"]["total"], 0);

    // Deleted through the API: gone from the list once the watch event arrives.
    let pods: Api<Pod> = Api::namespaced(h.double.client().unwrap(), NS);
    pods.delete(&names[0], &DeleteParams::default())
        .await
        .unwrap();
    wait_for("deleted pod gone", || async {
        let now = h.server.pod_names().await;
        now.len() == 1 && now[0] == names[1]
    })
    .await;
}

#[tokio::test]
async fn filtered_and_unfiltered_pods_come_from_one_snapshot_in_the_envelope() {
    let h = Harness::start().await;
    h.deployment("worker", "worker", 2);
    h.pods("worker", PodTemplate::default());
    wait_for("pods cached", || async {
        h.server.pod_names().await.len() == 2
    })
    .await;
    let (status, all) = h.server.get("/api/infra/pods", Some(&admin())).await;
    assert_eq!(status, 200);
    assert_eq!(all["success"], true);
    assert!(all["timestamp"].is_string());
    assert_eq!(all["data"]["total"], 2);
    let (_, filtered) = h
        .server
        .get("/api/infra/pods?component=worker", Some(&admin()))
        .await;
    assert_eq!(filtered["data"]["total"], 2);
    assert_eq!(filtered["data"]["items"], all["data"]["items"]);
    let snapshot_at = all["data"]["snapshot_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(snapshot_at).is_ok());
}

#[tokio::test]
async fn reading_pods_makes_no_kubernetes_api_calls() {
    let h = Harness::start().await;
    h.deployment("worker", "worker", 3);
    h.pods("worker", PodTemplate::default());
    wait_for("pods cached", || async {
        h.server.pod_names().await.len() == 3
    })
    .await;

    let reads = |d: &kube_double::KubeDouble| {
        d.requests(Verb::List, "pods") + d.requests(Verb::Get, "pods")
    };
    let before_double = reads(&h.double);
    let before_ours = h.metrics.kube_api_calls();
    for _ in 0..50 {
        let (status, _) = h.server.get("/api/infra/pods", Some(&admin())).await;
        assert_eq!(status, 200);
        let (status, _) = h.server.get("/api/infra/status", Some(&admin())).await;
        assert_eq!(status, 200);
        let (status, _) = h.server.get("/api/infra/events", Some(&admin())).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        reads(&h.double),
        before_double,
        "pod list/get requests seen by the API server"
    );
    assert_eq!(
        h.metrics.kube_api_calls(),
        before_ours,
        "API calls sent by infra-api"
    );

    let (_, metrics) = h.server.get("/metrics", None).await;
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains("infra_kube_api_requests_total{verb=\"watch\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/api/infra/pods\""), "{metrics}");
}

#[tokio::test]
async fn status_sums_replicas_and_pods_per_component() {
    let h = Harness::start().await;
    h.deployment("mes-api", "api", 2);
    h.deployment("dashboard", "dashboard", 1);
    h.double.mark_deployment_ready(NS, "mes-api").unwrap();
    h.pods("mes-api", PodTemplate::default());
    h.pods(
        "dashboard",
        PodTemplate {
            phase: "Pending".into(),
            ready: false,
            ..PodTemplate::default()
        },
    );
    wait_for("status complete", || async {
        let (_, body) = h.server.get("/api/infra/status", Some(&admin())).await;
        let cs = body["data"]["components"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        cs.len() == 2
            && cs[0]["component"] == "api"
            && cs[0]["ready_replicas"] == 2
            && cs[0]["pods_by_phase"]["Running"] == 2
            && cs[1]["pods_by_phase"]["Pending"] == 1
    })
    .await;
    let (_, body) = h.server.get("/api/infra/status", Some(&admin())).await;
    let cs = &body["data"]["components"];
    assert_eq!(cs[0]["desired_replicas"], 2);
    assert_eq!(cs[0]["healthy"], true);
    assert_eq!(cs[0]["workloads"][0], "Deployment/mes-api");
    assert_eq!(cs[1]["component"], "dashboard");
    assert_eq!(cs[1]["ready_replicas"], 0);
    assert_eq!(cs[1]["healthy"], false);
}

#[tokio::test]
async fn status_reports_the_database_workload_and_hubble() {
    let h = Harness::start().await;
    let (_, body) = h.server.get("/api/infra/status", Some(&admin())).await;
    assert_eq!(body["data"]["database"]["state"], "unknown");
    assert_eq!(body["data"]["database"]["source"], serde_json::Value::Null);
    assert_eq!(body["data"]["hubble"]["configured"], false);
    assert_eq!(body["data"]["hubble"]["reachable"], false);

    h.double
        .seed(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "mes-db", "namespace": NS,
                         "labels": {"app.kubernetes.io/component": "database"}},
            "spec": {"replicas": 1, "serviceName": "mes-db",
                     "selector": {"matchLabels": {"app": "mes-db"}},
                     "template": {"metadata": {"labels": {"app": "mes-db"}},
                                  "spec": {"containers": [{"name": "postgres", "image": "postgres:17"}]}}},
        }))
        .unwrap();
    wait_for("database down until ready", || async {
        let (_, body) = h.server.get("/api/infra/status", Some(&admin())).await;
        body["data"]["database"]["state"] == "down"
            && body["data"]["database"]["source"] == "StatefulSet/mes-db"
    })
    .await;
    h.double.mark_statefulset_ready(NS, "mes-db").unwrap();
    wait_for("database ready", || async {
        let (_, body) = h.server.get("/api/infra/status", Some(&admin())).await;
        body["data"]["database"]["state"] == "ready"
            && body["data"]["database"]["ready_replicas"] == 1
    })
    .await;
}

#[tokio::test]
async fn infra_read_needs_supervisor_or_admin() {
    let h = Harness::start().await;
    for path in ["/api/infra/pods", "/api/infra/status", "/api/infra/events"] {
        let (status, body) = h.server.get(path, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "AUTH_REQUIRED");
        let (status, body) = h.server.get(path, Some("not-a-jwt")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("INVALID_TOKEN"))
        );
        let (status, body) = h.server.get(path, Some(&token(Role::Operator, "op"))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("FORBIDDEN")),
            "{path}"
        );
        assert_eq!(
            h.server.get(path, Some(&supervisor())).await.0,
            200,
            "{path}"
        );
    }
}
