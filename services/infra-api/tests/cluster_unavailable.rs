//! Without a cluster, or with one that does not answer, the service runs and says so.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Server, admin, config, wait_for};
use infra_api::metrics::Metrics;
use infra_api::state::{AppState, Cluster};
use mes_api::auth::jwt::JwtKeys;

fn keys() -> Arc<JwtKeys> {
    Arc::new(JwtKeys::new(
        common::SECRET.as_bytes(),
        Duration::from_secs(3600),
    ))
}

async fn assert_unavailable(server: &Server) {
    assert_eq!(server.get("/healthz", None).await.0, 200);
    let (status, body) = server.get("/readyz", None).await;
    assert_eq!(status, 503);
    assert_eq!(body["ready"], false);
    assert_eq!(body["cluster"]["caches_synced"], false);
    for path in [
        "/api/infra/pods",
        "/api/infra/status",
        "/api/infra/events",
        "/api/infra/pods/x/logs",
    ] {
        let (status, body) = server.get(path, Some(&admin())).await;
        assert_eq!(status, 503, "{path}");
        assert_eq!(body["error"]["code"], "CLUSTER_UNAVAILABLE", "{path}");
    }
    let (status, body) = server
        .post("/api/infra/deployments/x/restart", Some(&admin()))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("CLUSTER_UNAVAILABLE"))
    );
    // Auth still comes first.
    assert_eq!(server.get("/api/infra/pods", None).await.0, 401);
}

#[tokio::test]
async fn no_cluster_configured_answers_503_cluster_unavailable() {
    let state = AppState::new(keys(), None, Arc::new(Metrics::new()), config());
    let server = Server::start(state).await;
    assert_unavailable(&server).await;
    let (_, body) = server.get("/readyz", None).await;
    assert_eq!(body["cluster"]["configured"], false);
}

#[tokio::test]
async fn unreachable_cluster_answers_503_and_recovers_when_it_appears() {
    // A port that was free a moment ago: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let metrics = Arc::new(Metrics::new());
    let url = format!("http://127.0.0.1:{port}");
    let client =
        infra_api::kube_client::build(kube::Config::new(url.parse().unwrap()), &metrics).unwrap();
    let state = AppState::new(
        keys(),
        Some(Cluster::start(client, common::NS)),
        metrics,
        config(),
    );
    let server = Server::start(state).await;
    assert_unavailable(&server).await;
    let (_, body) = server.get("/readyz", None).await;
    assert_eq!(body["cluster"]["configured"], true);

    // The API server comes up on that port: the watchers' back-off finds it and the caches sync.
    let Ok(double) = kube_double::KubeDouble::builder().port(port).start().await else {
        return; // the port was taken meanwhile; the unavailable half is proven already
    };
    double.ensure_namespace(common::NS).unwrap();
    wait_for("ready after the cluster appears", || async {
        server.get("/readyz", None).await.0 == 200
    })
    .await;
    assert_eq!(server.get("/api/infra/pods", Some(&admin())).await.0, 200);
}
