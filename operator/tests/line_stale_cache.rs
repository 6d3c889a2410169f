//! A ProductionLine reconciled from a stale copy: kube's finalizer helper tests the finalizers
//! it read, the API server refuses, and the operator retries after a second without telling
//! anyone (no Warning Event); the next reconcile from a fresh copy goes on.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, PostParams};
use mes_operator::crd::ProductionLine;
use mes_operator::metrics::Metrics;
use mes_operator::reconcile::{Context, Error, line};
use serde_json::json;

const NS: &str = "plant-kr";

#[tokio::test]
async fn a_stale_copy_is_retried_quietly() {
    let (double, client) = common::start_double().await;
    double.ensure_namespace(NS).unwrap();
    let lines: Api<ProductionLine> = Api::namespaced(client.clone(), NS);
    let line: ProductionLine = serde_json::from_value(json!({
        "apiVersion": "mes.smartfactory.io/v1alpha1", "kind": "ProductionLine",
        "metadata": {"name": "kr-l1"},
        "spec": {"plantRef": "kr", "lineCode": "L1", "displayName": "Line 1", "processes": [
            {"code": "A", "name": "A", "sequence": 1, "standardCycleTimeSeconds": 60}]},
    }))
    .unwrap();
    let stale = Arc::new(lines.create(&PostParams::default(), &line).await.unwrap());
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(Metrics::new().unwrap()),
    ));

    // The first pass adds the finalizer; a second pass from the same (now stale) copy is refused.
    line::reconcile(stale.clone(), ctx.clone()).await.unwrap();
    let err = line::reconcile(stale.clone(), ctx.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StaleCache(_)), "{err}");
    assert_eq!(err.class(), "Conflict");
    assert!(!err.is_reported());
    assert_eq!(
        line::error_policy(stale, &err, ctx.clone()),
        kube::runtime::controller::Action::requeue(Duration::from_secs(1))
    );
    let warnings = double
        .list("events.k8s.io/v1", "Event")
        .into_iter()
        .filter(|e| e["type"] == "Warning")
        .count();
    assert_eq!(warnings, 0, "a stale cache is not worth a Warning");

    // From a fresh copy it goes on (here: to wait for its missing plant).
    let fresh = Arc::new(lines.get("kr-l1").await.unwrap());
    line::reconcile(fresh, ctx).await.unwrap();
    let now = lines.get("kr-l1").await.unwrap();
    let ready = now
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason, "PlantNotFound");
}
