//! The Kubernetes client: in-cluster config or the kubeconfig context, with a layer that counts
//! every request sent (the `/metrics` figure that proves reads come from the caches).

use axum::http::{Method, Request};
use kube::client::{Body, ClientBuilder};
use tower::util::MapRequestLayer;

use crate::metrics::Metrics;

/// In-cluster configuration, else the current kubeconfig context.
pub async fn infer(metrics: &Metrics) -> anyhow::Result<kube::Client> {
    let config = kube::Config::infer().await?;
    build(config, metrics)
}

/// A client for `config` whose requests are counted in `metrics`.
pub fn build(config: kube::Config, metrics: &Metrics) -> anyhow::Result<kube::Client> {
    let counter = metrics.kube_api_requests.clone();
    let layer = MapRequestLayer::new(move |req: Request<Body>| {
        counter.with_label_values(&[verb(&req)]).inc();
        req
    });
    Ok(ClientBuilder::try_from(config)?.with_layer(&layer).build())
}

fn verb<B>(req: &Request<B>) -> &'static str {
    let query = req.uri().query().unwrap_or("");
    match *req.method() {
        Method::GET if query.split('&').any(|p| p == "watch=true") => "watch",
        Method::GET => {
            // Collections end in the plural; a named object has one more segment. Good enough
            // for a metric: `list` when the path ends in a known collection of ours.
            let path = req.uri().path();
            if ["/pods", "/deployments", "/statefulsets", "/events"]
                .iter()
                .any(|c| path.ends_with(c))
            {
                "list"
            } else {
                "get"
            }
        }
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    }
}
