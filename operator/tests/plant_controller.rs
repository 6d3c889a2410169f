//! The real kube-runtime Controller of the operator against the Kubernetes API double.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::rbac::v1::Role;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use kube_double::{Fault, Verb};
use mes_operator::crd::{MesPlant, PlantPhase};
use mes_operator::reconcile::{Context, plant};
use serde_json::{Value, json};

const NS: &str = "plant-kr";

fn mesplant(spec: Value) -> MesPlant {
    serde_json::from_value(json!({
        "apiVersion": "mes.smartfactory.io/v1alpha1", "kind": "MesPlant",
        "metadata": {"name": "kr", "namespace": NS}, "spec": spec,
    }))
    .unwrap()
}

fn condition(p: &MesPlant, type_: &str) -> Option<(String, String)> {
    p.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

async fn wait_plant(client: &Client, what: &str, check: impl Fn(&MesPlant) -> bool) {
    let plants: Api<MesPlant> = Api::namespaced(client.clone(), NS);
    let check = &check;
    let plants = &plants;
    eventually(what, || async move {
        plants
            .get_opt("kr")
            .await
            .unwrap()
            .is_some_and(|p| check(&p))
    })
    .await;
}

async fn exists<K>(client: &Client, name: &str) -> bool
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), NS)
        .get_opt(name)
        .await
        .unwrap()
        .is_some()
}

fn mark_all_ready(double: &kube_double::KubeDouble) {
    for d in ["kr-api", "kr-dashboard", "kr-infra"] {
        double.mark_deployment_ready(NS, d).unwrap();
    }
}

#[tokio::test]
async fn embedded_plant_converges_goes_quiet_heals_and_follows_spec_changes() {
    let op = start_operator().await;
    let client = op.client.clone();
    op.double.ensure_namespace(NS).unwrap();
    let plants: Api<MesPlant> = Api::namespaced(client.clone(), NS);
    plants
        .create(
            &PostParams::default(),
            &mesplant(json!({"plantCode": "KR"})),
        )
        .await
        .unwrap();

    // Children appear, each owned by the plant.
    let c = &client;
    eventually("children rendered", || async move {
        exists::<Deployment>(c, "kr-api").await
            && exists::<Deployment>(c, "kr-dashboard").await
            && exists::<Deployment>(c, "kr-infra").await
            && exists::<StatefulSet>(c, "kr-db").await
            && exists::<Service>(c, "kr-db").await
            && exists::<CronJob>(c, "kr-backup").await
            && exists::<Role>(c, "kr-infra").await
            && exists::<Secret>(c, "kr-jwt").await
            && exists::<Secret>(c, "kr-admin").await
            && exists::<Secret>(c, "kr-db").await
    })
    .await;
    let uid = plants.get("kr").await.unwrap().uid().unwrap();
    let api = Api::<Deployment>::namespaced(client.clone(), NS)
        .get("kr-api")
        .await
        .unwrap();
    let owner = &api.owner_references()[0];
    assert_eq!(
        (owner.uid.as_str(), owner.controller),
        (uid.as_str(), Some(true))
    );
    let jwt = Api::<Secret>::namespaced(client.clone(), NS)
        .get("kr-jwt")
        .await
        .unwrap();
    assert_eq!(jwt.owner_references()[0].uid, uid);

    // Not ready until the workloads are.
    wait_plant(&client, "phase Provisioning", |p| {
        p.status.as_ref().and_then(|s| s.phase) == Some(PlantPhase::Provisioning)
            && condition(p, "Ready").is_some_and(|(s, _)| s == "False")
    })
    .await;
    mark_all_ready(&op.double);
    op.double.mark_statefulset_ready(NS, "kr-db").unwrap();
    wait_plant(&client, "Ready", |p| {
        let s = p.status.as_ref().unwrap();
        s.phase == Some(PlantPhase::Ready)
            && s.observed_generation == p.metadata.generation
            && condition(p, "Ready") == Some(("True".into(), "AllComponentsReady".into()))
            && condition(p, "DatabaseReady").is_some_and(|(s, _)| s == "True")
    })
    .await;

    // A second reconcile of the unchanged plant writes nothing (the applies reach the server and
    // change nothing).
    let ctx = Arc::new(Context::new(client.clone(), op.metrics.clone()));
    let writes_before = op.double.write_count();
    let noops_before = op.double.noop_writes_to("deployments", NS, "kr-api");
    for _ in 0..2 {
        let current = Arc::new(plants.get("kr").await.unwrap());
        plant::reconcile(current, ctx.clone()).await.unwrap();
    }
    assert!(op.double.noop_writes_to("deployments", NS, "kr-api") >= noops_before + 2);
    let extra: Vec<_> = op.double.writes().into_iter().skip(writes_before).collect();
    assert!(extra.is_empty(), "idle reconciles wrote: {extra:?}");

    // Generated secrets are never rotated.
    let jwt_again = Api::<Secret>::namespaced(client.clone(), NS)
        .get("kr-jwt")
        .await
        .unwrap();
    assert_eq!(jwt.data, jwt_again.data);

    // A deleted Deployment comes back.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    deployments
        .delete("kr-api", &DeleteParams::default())
        .await
        .unwrap();
    let d = &deployments;
    let old_uid = api.uid().unwrap();
    let old_uid = &old_uid;
    eventually("kr-api recreated", || async move {
        d.get_opt("kr-api")
            .await
            .unwrap()
            .is_some_and(|x| x.uid().as_ref() != Some(old_uid))
    })
    .await;

    // A spec change rolls through.
    plants
        .patch(
            "kr",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"backend": {"replicas": 4}}})),
        )
        .await
        .unwrap();
    eventually("replicas follow the spec", || async move {
        d.get("kr-api").await.unwrap().spec.unwrap().replicas == Some(4)
    })
    .await;
    mark_all_ready(&op.double);
    wait_plant(&client, "Ready at generation 2", |p| {
        let s = p.status.as_ref().unwrap();
        s.phase == Some(PlantPhase::Ready) && s.observed_generation == Some(2)
    })
    .await;
}

#[tokio::test]
async fn cloud_native_pg_without_its_operator_is_a_condition_not_a_crash() {
    let op = start_operator().await;
    let client = op.client.clone();
    op.double.ensure_namespace(NS).unwrap();
    let plants: Api<MesPlant> = Api::namespaced(client.clone(), NS);
    let spec = json!({"plantCode": "KR", "database": {"mode": "CloudNativePG"}});
    plants
        .create(&PostParams::default(), &mesplant(spec))
        .await
        .unwrap();
    wait_plant(&client, "CloudNativePGNotInstalled", |p| {
        p.status.as_ref().and_then(|s| s.phase) == Some(PlantPhase::Degraded)
            && condition(p, "DatabaseReady")
                == Some(("False".into(), "CloudNativePGNotInstalled".into()))
            && condition(p, "Ready") == Some(("False".into(), "PrerequisiteMissing".into()))
    })
    .await;
    // The rest of the plant is still rendered; mes-api reads the CNPG app Secret.
    let api = Api::<Deployment>::namespaced(client.clone(), NS)
        .get("kr-api")
        .await
        .unwrap();
    let env =
        serde_json::to_value(&api.spec.unwrap().template.spec.unwrap().containers[0].env).unwrap();
    assert!(env.to_string().contains(r#""name":"kr-pg-app""#));
    assert_eq!(
        op.metrics
            .errors
            .with_label_values(&["MesPlant", "ApiRejected"])
            .get(),
        0
    );
}

#[tokio::test]
async fn an_invalid_spec_is_a_condition_and_renders_nothing_until_fixed() {
    let op = start_operator().await;
    let client = op.client.clone();
    op.double.ensure_namespace(NS).unwrap();
    let plants: Api<MesPlant> = Api::namespaced(client.clone(), NS);
    let spec = json!({"plantCode": "KR", "backend": {"trustedProxies": ["10.244.0.0/16", "pods"]}});
    plants
        .create(&PostParams::default(), &mesplant(spec))
        .await
        .unwrap();
    wait_plant(&client, "InvalidSpec", |p| {
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
        p.status.as_ref().and_then(|s| s.phase) == Some(PlantPhase::Degraded)
            && ready.is_some_and(|c| {
                c.status == "False" && c.reason == "InvalidSpec" && c.message.contains("`pods`")
            })
    })
    .await;
    assert!(
        !exists::<Deployment>(&client, "kr-api").await,
        "nothing is rendered from an invalid spec"
    );

    // Fixed: the plant is rendered.
    plants
        .patch(
            "kr",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"backend": {"trustedProxies": ["10.244.0.0/16"]}}})),
        )
        .await
        .unwrap();
    let c = &client;
    eventually("kr-api rendered once the spec is valid", || async move {
        exists::<Deployment>(c, "kr-api").await
    })
    .await;
}

#[tokio::test]
async fn api_faults_back_off_and_show_in_conditions_and_events() {
    let op = start_operator().await;
    let client = op.client.clone();
    op.double.ensure_namespace(NS).unwrap();
    op.double
        .inject(Fault::on(Verb::Patch).resource("deployments").status(500));
    let plants: Api<MesPlant> = Api::namespaced(client.clone(), NS);
    plants
        .create(
            &PostParams::default(),
            &mesplant(json!({"plantCode": "KR"})),
        )
        .await
        .unwrap();

    wait_plant(&client, "the failure in the Ready condition", |p| {
        condition(p, "Ready").is_some_and(|(s, r)| s == "False" && r == "ApiServerError")
            && p.status.as_ref().and_then(|s| s.phase) == Some(PlantPhase::Degraded)
    })
    .await;
    let double = &op.double;
    eventually("a Warning event", || async move {
        double.list("events.k8s.io/v1", "Event").iter().any(|e| {
            e["reason"] == "ApiServerError"
                && e["type"] == "Warning"
                && e["regarding"]["name"] == "kr"
        })
    })
    .await;
    let m = op.metrics.clone();
    eventually("errors counted", || {
        let m = m.clone();
        async move {
            m.errors
                .with_label_values(&["MesPlant", "ApiServerError"])
                .get()
                >= 1
        }
    })
    .await;

    // Back-off, not a hot loop: a handful of attempts, not hundreds.
    let attempts = op.metrics.reconciles.with_label_values(&["MesPlant"]).get();
    assert!(attempts < 50, "{attempts} reconciles while failing");

    // Recovery once the API heals.
    op.double.clear_faults();
    let c = &client;
    eventually("children rendered after recovery", || async move {
        exists::<Deployment>(c, "kr-api").await && exists::<Deployment>(c, "kr-infra").await
    })
    .await;
}

#[tokio::test]
async fn deleting_the_plant_collects_its_children_but_keeps_the_backup_volume() {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    let op = start_operator().await;
    let client = op.client.clone();
    op.double.ensure_namespace(NS).unwrap();
    let plants: Api<MesPlant> = Api::namespaced(client.clone(), NS);
    plants
        .create(
            &PostParams::default(),
            &mesplant(json!({"plantCode": "KR"})),
        )
        .await
        .unwrap();
    let c = &client;
    eventually("children rendered", || async move {
        exists::<Deployment>(c, "kr-infra").await
            && exists::<PersistentVolumeClaim>(c, "kr-backup").await
            && exists::<StatefulSet>(c, "kr-db").await
    })
    .await;
    let sts = Api::<StatefulSet>::namespaced(client.clone(), NS)
        .get("kr-db")
        .await
        .unwrap();
    let retention = sts
        .spec
        .unwrap()
        .persistent_volume_claim_retention_policy
        .unwrap();
    assert_eq!(retention.when_deleted.as_deref(), Some("Retain"));

    // The operator keeps running: a reconcile already queued from a stale cache may re-create
    // children owned by the deleted uid, which the garbage collector (the double's, as the
    // real one) removes as dangling.
    plants.delete("kr", &DeleteParams::default()).await.unwrap();
    eventually("children garbage-collected", || async move {
        !exists::<Deployment>(c, "kr-api").await
            && !exists::<StatefulSet>(c, "kr-db").await
            && !exists::<Secret>(c, "kr-jwt").await
    })
    .await;
    assert!(
        exists::<PersistentVolumeClaim>(c, "kr-backup").await,
        "backup volume kept"
    );
}
