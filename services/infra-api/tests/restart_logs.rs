//! Rollout restarts (RBAC, annotation, audit Event) and logs (plain, JSON, follow over SSE).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, NS, admin, supervisor, token, wait_for};
use futures::StreamExt as _;
use kube_double::PodTemplate;
use mes_api::auth::Role;

const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

fn annotation(h: &Harness) -> Option<String> {
    h.double
        .get("apps/v1", "Deployment", NS, "mes-api")?
        .pointer("/spec/template/metadata/annotations")?
        .get(RESTARTED_AT)?
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn restart_patches_the_annotation_for_admin_only_and_is_audited() {
    let h = Harness::start().await;
    h.deployment("mes-api", "api", 1);
    let path = "/api/infra/deployments/mes-api/restart";

    let (status, body) = h.server.post(path, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("AUTH_REQUIRED"))
    );
    for role in [Role::Supervisor, Role::Operator] {
        let (status, body) = h.server.post(path, Some(&token(role, "someone"))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("FORBIDDEN"))
        );
    }
    assert_eq!(annotation(&h), None);
    assert_eq!(
        h.double.writes_to("deployments", NS, "mes-api"),
        1,
        "only the seed"
    );

    let (status, body) = h.server.post(path, Some(&admin())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["requested_by"], "ada");
    let at = annotation(&h).expect("restartedAt set");
    assert_eq!(body["data"]["restarted_at"], at.as_str());
    let parsed = chrono::DateTime::parse_from_rfc3339(&at).unwrap();
    assert!((chrono::Utc::now() - parsed.to_utc()).num_seconds().abs() < 60);
    assert_eq!(h.double.writes_to("deployments", NS, "mes-api"), 2);

    // The audit Event names the user, on the Deployment; infra-api's own cache then shows it.
    let events = h.double.list("v1", "Event");
    let ev = events
        .iter()
        .find(|e| e["reason"] == "RolloutRestart")
        .expect("restart event");
    assert_eq!(ev["involvedObject"]["kind"], "Deployment");
    assert_eq!(ev["involvedObject"]["name"], "mes-api");
    assert!(ev["message"].as_str().unwrap().contains("ada"));
    wait_for("event listed", || async {
        let (_, body) = h
            .server
            .get("/api/infra/events?limit=5", Some(&supervisor()))
            .await;
        body["data"]["items"][0]["reason"] == "RolloutRestart"
            && body["data"]["items"][0]["object"] == "Deployment/mes-api"
    })
    .await;

    let (status, body) = h
        .server
        .post("/api/infra/deployments/nope/restart", Some(&admin()))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("DEPLOYMENT_NOT_FOUND"))
    );
}

async fn read_until<S, B, E>(body: &mut S, seen: &mut String, want: &str)
where
    S: futures::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Debug,
{
    let read = async {
        while !seen.contains(want) {
            let chunk = body.next().await.expect("stream open").unwrap();
            seen.push_str(&String::from_utf8_lossy(chunk.as_ref()));
        }
    };
    if tokio::time::timeout(common::DEADLINE, read).await.is_err() {
        panic!("no {want:?} in {seen:?}");
    }
}

async fn pod_with_logs(h: &Harness, lines: &[&str]) -> String {
    h.deployment("mes-api", "api", 1);
    let names = h.pods(
        "mes-api",
        PodTemplate {
            logs: lines.iter().map(|l| l.to_string()).collect(),
            previous_logs: Some(vec!["before the crash".into()]),
            ..PodTemplate::default()
        },
    );
    let name = names[0].clone();
    wait_for("pod cached", || async {
        h.server.pod_names().await.contains(&name)
    })
    .await;
    name
}

#[tokio::test]
async fn logs_as_text_json_tail_and_previous() {
    let h = Harness::start().await;
    let pod = pod_with_logs(&h, &["one", "two", "three"]).await;
    let base = format!("/api/infra/pods/{pod}/logs");

    let (status, body) = h.server.get(&base, Some(&supervisor())).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_str().unwrap(), "one\ntwo\nthree\n");
    let (_, body) = h
        .server
        .get(&format!("{base}?tail=2&format=json"), Some(&admin()))
        .await;
    assert_eq!(body["data"]["lines"], serde_json::json!(["two", "three"]));
    assert_eq!(body["data"]["container"], "app");
    let (_, body) = h
        .server
        .get(&format!("{base}?previous=true"), Some(&admin()))
        .await;
    assert_eq!(body.as_str().unwrap(), "before the crash\n");
    let (_, body) = h
        .server
        .get(&format!("{base}?timestamps=true&tail=1"), Some(&admin()))
        .await;
    assert!(body.as_str().unwrap().ends_with(" three\n"), "{body}");

    let (status, body) = h
        .server
        .get(&format!("{base}?container=nope"), Some(&admin()))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("CONTAINER_NOT_FOUND"))
    );
    let (status, body) = h
        .server
        .get("/api/infra/pods/missing/logs", Some(&admin()))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("POD_NOT_FOUND"))
    );
    let (status, _) = h
        .server
        .get(&base, Some(&token(Role::Operator, "op")))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn log_follow_streams_lines_and_ends_when_the_client_goes_away() {
    let h = Harness::start().await;
    let pod = pod_with_logs(&h, &["first"]).await;
    let resp = h
        .server
        .http
        .get(format!(
            "{}/api/infra/pods/{pod}/logs?follow=true",
            h.server.base
        ))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "data: first\n").await;
    assert_eq!(h.metrics.log_streams.get(), 1);
    h.double.append_log(NS, &pod, "app", "second");
    read_until(&mut body, &mut seen, "data: second\n").await;

    drop(body);
    wait_for("log stream closed", || async {
        h.metrics.log_streams.get() == 0
    })
    .await;
}

#[tokio::test]
async fn log_follow_ends_when_the_container_finishes() {
    let h = Harness::start().await;
    let pod = pod_with_logs(&h, &["only"]).await;
    h.double.finish_log(NS, &pod, "app");
    let resp = h
        .server
        .http
        .get(format!(
            "{}/api/infra/pods/{pod}/logs?follow=true",
            h.server.base
        ))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap();
    let text = tokio::time::timeout(common::DEADLINE, resp.text())
        .await
        .expect("stream ended")
        .unwrap();
    assert!(text.contains("data: only\n"), "{text}");
    wait_for("log stream closed", || async {
        h.metrics.log_streams.get() == 0
    })
    .await;
}

#[tokio::test]
async fn graceful_shutdown_ends_open_log_streams() {
    let mut h = Harness::start().await;
    let pod = pod_with_logs(&h, &["hello"]).await;
    let resp = h
        .server
        .http
        .get(format!(
            "{}/api/infra/pods/{pod}/logs?follow=true",
            h.server.base
        ))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "data: hello\n").await;

    h.server.stop.take().unwrap().send(()).unwrap();
    let rest = tokio::time::timeout(common::DEADLINE, async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(rest.is_ok(), "the follow stream did not end on shutdown");
    tokio::time::timeout(common::DEADLINE, &mut h.server.task)
        .await
        .expect("server drained and stopped")
        .unwrap();
    assert_eq!(h.metrics.log_streams.get(), 0);
}
