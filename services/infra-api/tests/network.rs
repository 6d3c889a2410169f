//! `/api/infra/network/*` against a fake Hubble Relay (a real tonic server over the same
//! protos): filters reach the relay as FlowFilters, flows stream over SSE, slow clients are
//! dropped, relay down → 503 HUBBLE_UNAVAILABLE and recovery, the service map's counts.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{
    DEADLINE, Harness, admin, hubble, hubble_options, server_without_cluster, supervisor, token,
    wait_for,
};
use futures::StreamExt as _;
use hubble_double::{FakeRelay, endpoint, now_seconds, tcp};
use infra_api::hubble::proto::flow::{Endpoint, Verdict};
use infra_api::metrics::Metrics;
use mes_api::auth::Role;

/// A minute ago: inside every `since` window the tests ask for (the relay applies `since`).
fn t0() -> i64 {
    now_seconds() - 60
}

async fn started(
    relay: &FakeRelay,
    options: infra_api::hubble::HubbleOptions,
) -> (common::Server, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let h = hubble(&relay.address(), options, &metrics);
    let server = server_without_cluster(h, metrics.clone()).await;
    wait_for("relay reachable", || async {
        server.state.hubble.status().reachable
    })
    .await;
    (server, metrics)
}

/// Reads the SSE body until `want` appears; returns what was read.
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
    if tokio::time::timeout(DEADLINE, read).await.is_err() {
        panic!("no {want:?} in {} bytes read", seen.len());
    }
}

#[tokio::test]
async fn filters_reach_the_relay_as_flow_filters_and_rows_come_back() {
    let relay = FakeRelay::start().await;
    // The relay applies the filters: the third flow (no kube-system peer) is not selected.
    relay.store([
        tcp(
            endpoint("kube-system", "prometheus-0", "monitoring"),
            ep("mes-api-1", "api"),
            8080,
            Verdict::Forwarded,
            t0(),
        ),
        tcp(
            ep("mes-api-1", "api"),
            endpoint("kube-system", "metrics-server-0", "metrics"),
            8080,
            Verdict::Dropped,
            t0() + 5,
        ),
        tcp(
            ep("mes-api-1", "api"),
            ep("mes-db-0", "database"),
            8080,
            Verdict::Forwarded,
            t0() + 6,
        ),
    ]);
    let (server, _) = started(&relay, hubble_options()).await;

    let path = "/api/infra/network/flows?pod=mes-api&namespace=kube-system&verdict=dropped,forwarded&port=8080&since=10m&limit=50";
    let (status, body) = server.get(path, Some(&supervisor())).await;
    assert_eq!(status, 200, "{body}");
    let reqs = relay.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.number, 50);
    assert!(!r.follow);
    let since = r.since.unwrap().seconds;
    let expected = chrono::Utc::now().timestamp() - 600;
    assert!((since - expected).abs() < 30, "since {since} vs {expected}");
    assert_eq!(r.whitelist.len(), 4, "{:?}", r.whitelist);
    let verdicts = vec![Verdict::Dropped as i32, Verdict::Forwarded as i32];
    assert!(r.whitelist.iter().all(|f| f.verdict == verdicts));
    assert_eq!(r.whitelist[0].source_pod, ["plant/mes-api"]);
    assert_eq!(r.whitelist[0].destination_pod, ["kube-system/"]);
    assert_eq!(r.whitelist[0].source_port, ["8080"]);
    assert_eq!(r.whitelist[1].destination_port, ["8080"]);
    assert_eq!(r.whitelist[2].source_pod, ["kube-system/"]);
    assert_eq!(r.whitelist[2].destination_pod, ["plant/mes-api"]);
    assert!(r.blacklist.is_empty());

    // Rows, newest first, with the mapped fields.
    let data = &body["data"];
    assert_eq!(data["namespace"], common::NS);
    assert_eq!(data["total"], 2);
    let first = &data["items"][0];
    assert_eq!(first["verdict"], "DROPPED");
    assert_eq!(first["drop_reason"], "POLICY_DENIED");
    assert_eq!(first["source"]["pod"], "mes-api-1");
    assert_eq!(first["source"]["component"], "api");
    assert_eq!(first["destination"]["namespace"], "kube-system");
    assert_eq!(first["destination"]["workload"], "Deployment/metrics");
    assert_eq!(first["l4"]["protocol"], "TCP");
    assert_eq!(first["l4"]["destination_port"], 8080);
    assert_eq!(first["direction"], "EGRESS");
    assert_eq!(data["items"][1]["verdict"], "FORWARDED");

    // Bad filters never reach the relay; RBAC as for every infra read.
    let (status, body) = server
        .get("/api/infra/network/flows?verdict=maybe", Some(&admin()))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("VALIDATION_ERROR"))
    );
    assert_eq!(relay.requests().len(), 1);
    for p in ["/api/infra/network/flows", "/api/infra/network/map"] {
        assert_eq!(server.get(p, None).await.0, 401, "{p}");
        assert_eq!(
            server.get(p, Some(&token(Role::Operator, "op"))).await.0,
            403,
            "{p}"
        );
    }
}

#[tokio::test]
async fn flows_stream_to_an_sse_client_until_it_goes_away() {
    let relay = FakeRelay::start().await;
    relay.store([tcp(
        ep("dashboard-1", "dashboard"),
        ep("mes-api-1", "api"),
        8080,
        Verdict::Forwarded,
        t0(),
    )]);
    let (server, metrics) = started(&relay, hubble_options()).await;

    let resp = server
        .http
        .get(format!(
            "{}/api/infra/network/flows?follow=true&limit=1&verdict=forwarded",
            server.base
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
    // The backlog flow first, then live ones as the relay sees them.
    read_until(&mut body, &mut seen, "\"pod\":\"dashboard-1\"").await;
    let r = relay.requests().pop().unwrap();
    assert!(r.follow);
    assert_eq!(r.number, 1);
    assert_eq!(r.whitelist[0].verdict, [Verdict::Forwarded as i32]);
    assert_eq!(metrics.flow_streams.get(), 1);
    for i in 2..=3 {
        let live = tcp(
            ep(&format!("dashboard-{i}"), "dashboard"),
            ep("mes-api-1", "api"),
            8080,
            Verdict::Forwarded,
            t0() + i,
        );
        assert_eq!(relay.push(live).await, 1);
        read_until(&mut body, &mut seen, &format!("\"pod\":\"dashboard-{i}\"")).await;
    }
    assert!(seen.contains("data: {"), "{seen}");

    // The client leaves: infra-api's stream ends and the relay call is cancelled.
    drop(body);
    wait_for("relay stream cancelled", || async {
        relay.open_streams() == 0
    })
    .await;
    wait_for("flow stream closed", || async {
        metrics.flow_streams.get() == 0
    })
    .await;
}

#[tokio::test]
async fn live_streams_are_capped_and_a_closed_one_frees_its_place() {
    let relay = FakeRelay::start().await;
    let options = infra_api::hubble::HubbleOptions {
        max_live_streams: 2,
        ..hubble_options()
    };
    let (server, metrics) = started(&relay, options).await;
    let url = format!("{}/api/infra/network/flows?follow=true", server.base);
    let open = || server.http.get(&url).bearer_auth(supervisor()).send();
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let refused = open().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TOO_MANY_STREAMS", "{body}");
    assert_eq!(body["error"]["details"]["limit"], 2);
    // Listing flows is not a live stream: still served.
    let (status, _) = server
        .get("/api/infra/network/flows", Some(&supervisor()))
        .await;
    assert_eq!(status, 200);

    drop(first);
    wait_for("a stream closed", || async {
        metrics.flow_streams.get() == 1
    })
    .await;
    let third = open().await.unwrap();
    assert_eq!(third.status(), 200);
    drop(second);
}

#[tokio::test]
async fn a_client_that_does_not_keep_up_is_dropped() {
    let relay = FakeRelay::start().await;
    relay.set_endless(true);
    let options = infra_api::hubble::HubbleOptions {
        stream_buffer: 64,
        ..hubble_options()
    };
    let (server, metrics) = started(&relay, options).await;
    let resp = server
        .http
        .get(format!(
            "{}/api/infra/network/flows?follow=true",
            server.base
        ))
        .bearer_auth(supervisor())
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "\"pod\":\"dashboard-").await;
    // Stop reading: socket buffers fill, then the 64-flow buffer, then the client is dropped
    // and the relay call cancelled — the relay never waits for this client.
    wait_for("slow client dropped", || async {
        metrics.flow_streams_dropped.get() == 1
    })
    .await;
    wait_for("relay stream cancelled", || async {
        relay.open_streams() == 0
    })
    .await;
    // What was buffered is still delivered, then the reason.
    let rest = tokio::time::timeout(DEADLINE, async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(rest.is_ok(), "the dropped stream did not end");
    let tail = &seen[seen.len().saturating_sub(300)..];
    let end = seen
        .rsplit_once("event: end\ndata: ")
        .map(|(_, e)| e.trim_end())
        .unwrap_or_else(|| panic!("no end event in {tail}"));
    let end: serde_json::Value = serde_json::from_str(end).unwrap();
    assert_eq!(end["reason"], "slow_client", "{tail}");
    assert_eq!(metrics.flow_streams.get(), 0);
}

#[tokio::test]
async fn relay_down_answers_503_the_rest_keeps_working_and_it_recovers() {
    // A relay that is not there yet: its port, nothing listening.
    let mut relay = FakeRelay::start().await;
    let addr = relay.address();
    relay.stop().await;
    let h = Harness::start_with(|m| hubble(&addr, hubble_options(), m)).await;
    let s = &h.server;
    wait_for("first probe failed", || async {
        s.state.hubble.status().checked_at.is_some()
    })
    .await;

    let flows_status = || async {
        let (status, body) = s.get("/api/infra/network/flows", Some(&admin())).await;
        (status, body["error"]["code"].as_str().map(str::to_owned))
    };
    assert_eq!(
        flows_status().await,
        (503, Some("HUBBLE_UNAVAILABLE".into()))
    );
    let (status, body) = s.get("/api/infra/network/map", Some(&admin())).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("HUBBLE_UNAVAILABLE"))
    );
    let resp = s
        .http
        .get(format!("{}/api/infra/network/flows?follow=true", s.base))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    // The rest of the service does not care.
    assert_eq!(s.get("/api/infra/pods", Some(&admin())).await.0, 200);
    assert_eq!(s.get("/readyz", None).await.0, 200);
    let (status, body) = s.get("/api/infra/status", Some(&admin())).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["hubble"]["configured"], true);
    assert_eq!(body["data"]["hubble"]["reachable"], false);
    assert!(body["data"]["hubble"]["last_error"].is_string());
    assert_eq!(h.metrics.hubble_up.get(), 0);

    // The relay comes up: the probe's back-off finds it, flows are served.
    relay.restart().await;
    wait_for("flows served after the relay came up", || async {
        flows_status().await.0 == 200
    })
    .await;
    let (_, body) = s.get("/api/infra/status", Some(&admin())).await;
    assert_eq!(body["data"]["hubble"]["reachable"], true);
    assert_eq!(
        body["data"]["hubble"]["server"]["version"],
        "fake-relay/1.0"
    );
    assert_eq!(h.metrics.hubble_up.get(), 1);

    // Down again, then back: 503 in between, served again after.
    relay.stop().await;
    wait_for("503 after the relay went away", || async {
        flows_status().await == (503, Some("HUBBLE_UNAVAILABLE".into()))
    })
    .await;
    relay.restart().await;
    wait_for("recovered again", || async {
        flows_status().await.0 == 200
    })
    .await;
}

/// A pod of the plant namespace.
fn ep(pod: &str, component: &str) -> Endpoint {
    endpoint(common::NS, pod, component)
}

#[tokio::test]
async fn service_map_counts_flows_and_drops_per_edge() {
    let relay = FakeRelay::start().await;
    let mut reply = tcp(
        ep("mes-api-1", "api"),
        ep("dashboard-1", "dashboard"),
        40_000,
        Verdict::Forwarded,
        t0() + 9,
    );
    reply.is_reply = Some(true);
    relay.store([
        tcp(
            ep("dashboard-1", "dashboard"),
            ep("mes-api-1", "api"),
            8080,
            Verdict::Forwarded,
            t0(),
        ),
        tcp(
            ep("dashboard-2", "dashboard"),
            ep("mes-api-2", "api"),
            8080,
            Verdict::Forwarded,
            t0() + 1,
        ),
        tcp(
            ep("dashboard-1", "dashboard"),
            ep("mes-api-1", "api"),
            8080,
            Verdict::Dropped,
            t0() + 2,
        ),
        tcp(
            ep("mes-api-1", "api"),
            ep("mes-db-0", "database"),
            5432,
            Verdict::Forwarded,
            t0() + 3,
        ),
        tcp(
            ep("station-1", "station"),
            ep("mes-api-2", "api"),
            8080,
            Verdict::Dropped,
            t0() + 4,
        ),
        reply,
    ]);
    let (server, _) = started(&relay, hubble_options()).await;
    let (status, body) = server
        .get(
            "/api/infra/network/map?since=1h&limit=100",
            Some(&supervisor()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let r = relay.requests().pop().unwrap();
    assert_eq!(r.number, 100);
    assert!(r.since.is_some());
    assert_eq!(r.whitelist[0].source_pod, ["plant/"]);
    assert_eq!(r.whitelist[1].destination_pod, ["plant/"]);

    let d = &body["data"];
    assert_eq!(d["flows_read"], 6);
    assert_eq!(d["flows"], 5);
    assert_eq!(d["replies_skipped"], 1);
    assert_eq!(d["truncated"], false);
    let nodes: Vec<&str> = d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["api", "dashboard", "database", "station"]);
    let edge = |s: &str, t: &str| {
        d["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["source"] == s && e["destination"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no edge {s} → {t}"))
    };
    let e = edge("dashboard", "api");
    assert_eq!(
        (e["flows"].as_u64(), e["dropped"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(e["ports"], serde_json::json!(["TCP/8080"]));
    assert_eq!(edge("api", "database")["flows"], 1);
    assert_eq!(edge("station", "api")["dropped"], 1);
    assert_eq!(d["edges"].as_array().unwrap().len(), 3);

    let (status, _) = server
        .get("/api/infra/network/map?since=later", Some(&admin()))
        .await;
    assert_eq!(status, 422);
}

/// A self-signed certificate for `name` and its key, as PEM.
fn self_signed(name: &str) -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec![name.into()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// `relay` holding one flow.
fn with_one_flow(relay: FakeRelay) -> FakeRelay {
    relay.store([tcp(
        ep("dashboard-1", "dashboard"),
        ep("mes-api-1", "api"),
        8080,
        Verdict::Forwarded,
        t0(),
    )]);
    relay
}

/// infra-api talking TLS (as `tls` says) to `relay`.
async fn serve_over_tls(relay: &FakeRelay, tls: infra_api::config::HubbleTls) -> common::Server {
    let metrics = Arc::new(Metrics::new());
    let h = infra_api::hubble::Hubble::start(
        &relay.address(),
        Some(&tls),
        hubble_options(),
        metrics.hubble_up.clone(),
    )
    .unwrap();
    assert!(h.status().tls);
    server_without_cluster(h, metrics).await
}

/// The relay becomes reachable and its one flow is served.
async fn assert_flows_served(server: &common::Server, what: &str) {
    wait_for(what, || async { server.state.hubble.status().reachable }).await;
    let (status, body) = server.get("/api/infra/network/flows", Some(&admin())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["total"], 1, "{body}");
}

/// The handshake fails: the relay never becomes reachable and flows answer 503.
async fn assert_relay_refused(server: &common::Server, what: &str) {
    wait_for(what, || async {
        let s = server.state.hubble.status();
        s.checked_at.is_some() && s.last_error.is_some()
    })
    .await;
    assert!(!server.state.hubble.status().reachable);
    let (status, body) = server.get("/api/infra/network/flows", Some(&admin())).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("HUBBLE_UNAVAILABLE"))
    );
}

#[tokio::test]
async fn tls_to_the_relay_verifies_its_certificate() {
    let (cert, key) = self_signed("relay.test");
    let relay = with_one_flow(FakeRelay::start_tls(&cert, &key).await);
    let trusting = |ca: &str| infra_api::config::HubbleTls {
        ca_pem: Some(ca.as_bytes().to_vec()),
        server_name: Some("relay.test".into()),
        ..Default::default()
    };

    // Trusting the relay's certificate: reachable, flows served over TLS.
    let server = serve_over_tls(&relay, trusting(&cert)).await;
    assert_flows_served(&server, "TLS relay reachable").await;

    // Trusting another CA: the handshake fails, never reachable, 503.
    let (other, _) = self_signed("relay.test");
    let server = serve_over_tls(&relay, trusting(&other)).await;
    assert_relay_refused(&server, "TLS probe failed").await;
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let (relay_cert, relay_key) = self_signed("relay.test");
    let (client_cert, client_key) = self_signed("infra-api.test");
    let relay = with_one_flow(FakeRelay::start_mtls(&relay_cert, &relay_key, &client_cert).await);
    let tls = |client: Option<(&str, &str)>| infra_api::config::HubbleTls {
        ca_pem: Some(relay_cert.as_bytes().to_vec()),
        client_cert_pem: client.map(|(c, _)| c.as_bytes().to_vec()),
        client_key_pem: client.map(|(_, k)| k.as_bytes().to_vec()),
        server_name: Some("relay.test".into()),
    };

    // With the client certificate the relay accepts: flows served.
    let server = serve_over_tls(&relay, tls(Some((&client_cert, &client_key)))).await;
    assert_flows_served(&server, "mTLS relay reachable").await;

    // Without one the relay refuses the handshake: never reachable, 503.
    let server = serve_over_tls(&relay, tls(None)).await;
    assert_relay_refused(&server, "mTLS probe without a certificate failed").await;
}
