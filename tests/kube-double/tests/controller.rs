//! The real kube-runtime `Controller` against the double: a tiny controller that renders each
//! Widget into an owned ConfigMap (server-side apply) and reports status.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, CustomResourceExt, Resource, ResourceExt};
use kube_double::KubeDouble;
use serde_json::json;

const MANAGER: &str = "widget-controller";

struct Ctx {
    client: Client,
    reconciles: AtomicUsize,
}

async fn reconcile(w: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, kube::Error> {
    ctx.reconciles.fetch_add(1, Ordering::SeqCst);
    let ns = w.namespace().unwrap();
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{}-config", w.name_any()),
                     "ownerReferences": [w.controller_owner_ref(&()).unwrap()]},
        "data": {"size": w.spec.size.to_string()},
    });
    let pp = PatchParams::apply(MANAGER).force();
    Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns)
        .patch(&format!("{}-config", w.name_any()), &pp, &Patch::Apply(&cm))
        .await?;
    let status = json!({
        "apiVersion": Widget::api_version(&()), "kind": "Widget",
        "status": {"phase": "Ready", "observed_generation": w.metadata.generation},
    });
    Api::<Widget>::namespaced(ctx.client.clone(), &ns)
        .patch_status(&w.name_any(), &pp, &Patch::Apply(&status))
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_w: Arc<Widget>, _e: &kube::Error, _ctx: Arc<Ctx>) -> Action {
    Action::requeue(std::time::Duration::from_millis(200))
}

#[tokio::test]
async fn controller_reconciles_reacts_recreates_and_goes_quiet() {
    let double = KubeDouble::start().await.unwrap();
    let client = double.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .unwrap();
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());

    let ctx = Arc::new(Ctx {
        client: client.clone(),
        reconciles: AtomicUsize::new(0),
    });
    let (kick, kicks) = futures::channel::mpsc::unbounded::<()>();
    let controller = Controller::new(widgets.clone(), watcher::Config::default())
        .owns(cms.clone(), watcher::Config::default())
        .reconcile_all_on(kicks)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let controller = tokio::spawn(controller);

    // A Widget created after the controller started gets its ConfigMap.
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let size_is = |want: &'static str| {
        let cms = cms.clone();
        move || {
            let cms = cms.clone();
            async move {
                cms.get_opt("w-config")
                    .await
                    .unwrap()
                    .and_then(|c| c.data)
                    .is_some_and(|d| d["size"] == want)
            }
        }
    };
    eventually("ConfigMap rendered", size_is("1")).await;
    let owner = cms.get("w-config").await.unwrap().owner_references()[0]
        .name
        .clone();
    assert_eq!(owner, "w");

    // A spec change is followed.
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    eventually("ConfigMap follows the spec", size_is("2")).await;

    // A deleted ConfigMap comes back.
    cms.delete("w-config", &DeleteParams::default())
        .await
        .unwrap();
    eventually("ConfigMap recreated", size_is("2")).await;

    // Converged: status reports the current generation.
    let w2 = widgets.clone();
    eventually("status observes generation 2", move || {
        let w = w2.clone();
        async move {
            let w = w.get("w").await.unwrap();
            w.status.is_some_and(|s| {
                s.phase == "Ready" && s.observed_generation == w.metadata.generation
            })
        }
    })
    .await;

    // Idle reconciles write nothing: force three more rounds and compare effective writes.
    let writes_before = double.write_count();
    let noops_before = double.noop_writes_to("configmaps", "default", "w-config");
    let rounds_before = ctx.reconciles.load(Ordering::SeqCst);
    for _ in 0..3 {
        let target = ctx.reconciles.load(Ordering::SeqCst) + 1;
        kick.unbounded_send(()).unwrap();
        let c = ctx.clone();
        eventually("a forced reconcile", move || {
            let c = c.clone();
            async move { c.reconciles.load(Ordering::SeqCst) >= target }
        })
        .await;
    }
    let d = &double;
    eventually(
        "the idle reconciles' apply requests to arrive",
        || async move { d.noop_writes_to("configmaps", "default", "w-config") >= noops_before + 3 },
    )
    .await;
    assert!(ctx.reconciles.load(Ordering::SeqCst) >= rounds_before + 3);
    assert_eq!(
        double.write_count(),
        writes_before,
        "idle reconciles changed objects: {:?}",
        &double.writes()[writes_before..]
    );
    controller.abort();
}

/// kube-runtime's `finalizer()` helper (JSON patches with `test` ops) against the double:
/// the finalizer is added, deletion waits for the cleanup, and then the object goes.
#[tokio::test]
async fn finalizer_helper_adds_cleans_up_and_releases() {
    use kube::runtime::finalizer::{Event, finalizer};
    let double = KubeDouble::start().await.unwrap();
    let client = double.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .unwrap();
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c2 = cleaned.clone();
    let w2 = widgets.clone();
    let controller = Controller::new(widgets.clone(), watcher::Config::default())
        .run(
            move |w: Arc<Widget>, _ctx: Arc<()>| {
                let api = w2.clone();
                let cleaned = c2.clone();
                async move {
                    finalizer(&api, "widgets.test/cleanup", w, |event| async move {
                        if let Event::Cleanup(_) = event {
                            cleaned.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok::<_, kube::Error>(Action::await_change())
                    })
                    .await
                }
            },
            |_w, _e, _ctx| Action::requeue(std::time::Duration::from_millis(200)),
            Arc::new(()),
        )
        .for_each(|_| async {});
    let controller = tokio::spawn(controller);

    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let w3 = widgets.clone();
    eventually("the finalizer to be added", move || {
        let w = w3.clone();
        async move { w.get("w").await.unwrap().finalizers() == ["widgets.test/cleanup"] }
    })
    .await;
    widgets.delete("w", &DeleteParams::default()).await.unwrap();
    let w4 = widgets.clone();
    eventually("cleanup to release the object", move || {
        let w = w4.clone();
        async move { w.get_opt("w").await.unwrap().is_none() }
    })
    .await;
    assert_eq!(cleaned.load(Ordering::SeqCst), 1);
    controller.abort();
}
