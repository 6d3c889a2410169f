//! One test per API-server behaviour controllers depend on; each would fail against a naive
//! key-value store.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy, WatchEvent,
    WatchParams,
};
use kube::{Client, CustomResourceExt, ResourceExt};
use kube_double::{Fault, KubeDouble, Verb};
use serde_json::json;

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    c
}

fn rv_of<K: ResourceExt>(k: &K) -> u64 {
    k.resource_version().unwrap().parse().unwrap()
}

async fn setup() -> (KubeDouble, Client) {
    let d = KubeDouble::start().await.unwrap();
    let c = d.client().unwrap();
    (d, c)
}

async fn install_widgets(client: &Client) -> Api<Widget> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .unwrap();
    Api::namespaced(client.clone(), "default")
}

#[tokio::test]
async fn create_assigns_uid_timestamp_and_one_global_resource_version() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client);
    let a = cms
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let mut s = Secret::default();
    s.metadata.name = Some("s".into());
    let s = secrets.create(&PostParams::default(), &s).await.unwrap();
    let b = cms
        .create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    assert!(!a.uid().unwrap().is_empty());
    assert_ne!(a.uid(), b.uid());
    assert!(a.creation_timestamp().is_some());
    // One counter across resources, strictly increasing.
    assert!(rv_of(&a) < rv_of(&s) && rv_of(&s) < rv_of(&b));
}

#[tokio::test]
async fn generation_bumps_only_on_spec_change() {
    let (d, client) = setup().await;
    let deps: Api<Deployment> = Api::default_namespaced(client);
    let dep: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}
    }))
    .unwrap();
    let created = deps.create(&PostParams::default(), &dep).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let labelled = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata change must not bump generation"
    );
    d.mark_deployment_ready("default", "web").unwrap();
    assert_eq!(
        deps.get("web").await.unwrap().metadata.generation,
        Some(1),
        "status change must not bump generation"
    );
    let scaled = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
}

#[tokio::test]
async fn secret_string_data_is_stored_as_base64_data() {
    let (_d, client) = setup().await;
    let secrets: Api<Secret> = Api::default_namespaced(client);
    let mut s = Secret::default();
    s.metadata.name = Some("creds".into());
    s.data = Some(BTreeMap::from([(
        "kept".to_string(),
        k8s_openapi::ByteString(b"old".to_vec()),
    )]));
    s.string_data = Some(BTreeMap::from([(
        "token".to_string(),
        "s3cr3t".to_string(),
    )]));
    secrets.create(&PostParams::default(), &s).await.unwrap();
    let stored = secrets.get("creds").await.unwrap();
    assert!(stored.string_data.is_none(), "stringData is write-only");
    let data = stored.data.unwrap();
    assert_eq!(data["token"].0, b"s3cr3t");
    assert_eq!(data["kept"].0, b"old");

    let patch = json!({"stringData": {"kept": "new"}});
    secrets
        .patch("creds", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let data = secrets.get("creds").await.unwrap().data.unwrap();
    assert_eq!(data["kept"].0, b"new", "stringData wins over data");
}

#[tokio::test]
async fn noop_writes_change_nothing_and_emit_no_event() {
    let (d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let created = cms
        .create(&PostParams::default(), &cm("a", &[("k", "v")]))
        .await
        .unwrap();
    let mut events = cms
        .watch(
            &WatchParams::default(),
            &created.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();

    let same = cms
        .replace("a", &PostParams::default(), &created)
        .await
        .unwrap();
    assert_eq!(same.resource_version(), created.resource_version());
    let patched = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.resource_version(), created.resource_version());
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
    let pp = PatchParams::apply("tester");
    let first = cms.patch("a", &pp, &Patch::Apply(&applied)).await.unwrap();
    let again = cms.patch("a", &pp, &Patch::Apply(&applied)).await.unwrap();
    assert_eq!(
        first.resource_version(),
        again.resource_version(),
        "re-applying the same config is a no-op"
    );
    assert_eq!(d.noop_writes_to("configmaps", "default", "a"), 3);

    // The first event after the no-ops is the real change that follows them.
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .unwrap();
    let mut saw = Vec::new();
    loop {
        match next_change(&mut events).await {
            WatchEvent::Modified(c) => {
                let v = c.data.unwrap()["k"].clone();
                saw.push(v.clone());
                if v == "w" {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Only the first apply (it changed managedFields: new owner) precedes the real change.
    assert_eq!(saw, ["v", "w"], "no-op writes emitted events");
}

#[tokio::test]
async fn stale_resource_version_on_update_is_409() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let v1 = cms
        .create(&PostParams::default(), &cm("a", &[("k", "1")]))
        .await
        .unwrap();
    let mut v2 = v1.clone();
    v2.data = Some(BTreeMap::from([("k".into(), "2".into())]));
    cms.replace("a", &PostParams::default(), &v2).await.unwrap();
    let mut stale = v1.clone();
    stale.data = Some(BTreeMap::from([("k".into(), "3".into())]));
    let err = api_error(
        cms.replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(cms.get("a").await.unwrap().data.unwrap()["k"], "2");
}

#[tokio::test]
async fn create_existing_is_409_already_exists() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let err = api_error(
        cms.create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
}

#[tokio::test]
async fn missing_object_is_404_with_status_body() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let err = api_error(cms.get("nope").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert!(
        err.message.contains("\"nope\" not found"),
        "{}",
        err.message
    );
    let err = api_error(
        cms.delete("nope", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 404);
    assert!(cms.get_opt("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn invalid_names_and_missing_namespaces_are_rejected() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let err = api_error(
        cms.create(&PostParams::default(), &cm("Bad_Name", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    let elsewhere: Api<ConfigMap> = Api::namespaced(client, "no-such-ns");
    let err = api_error(
        elsewhere
            .create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn label_selectors_full_syntax() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "web", "tier": "back"})),
        ("c", json!({"app": "db"})),
        ("d", json!({})),
    ] {
        let c: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let names = |sel: &'static str| {
        let cms = cms.clone();
        async move {
            let mut n: Vec<String> = cms
                .list(&ListParams::default().labels(sel))
                .await
                .unwrap()
                .items
                .iter()
                .map(|c| c.name_any())
                .collect();
            n.sort();
            n.join(",")
        }
    };
    assert_eq!(names("app=web").await, "a,b");
    assert_eq!(names("app!=web").await, "c,d");
    assert_eq!(names("tier in (front,middle)").await, "a");
    assert_eq!(names("tier notin (front)").await, "b,c,d");
    assert_eq!(names("tier").await, "a,b");
    assert_eq!(names("!tier").await, "c,d");
    assert_eq!(names("app=web,tier=back").await, "b");
    let err = api_error(
        cms.list(&ListParams::default().labels("app in web"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
}

#[tokio::test]
async fn field_selectors_and_namespace_scoping() {
    let (d, client) = setup().await;
    d.ensure_namespace("other").unwrap();
    let here: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let there: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
    let all: Api<ConfigMap> = Api::all(client);
    here.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    here.create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    there
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
    assert_eq!(
        here.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
    let by_name = all
        .list(&ListParams::default().fields("metadata.name=a"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 2);
    let by_ns = all
        .list(&ListParams::default().fields("metadata.namespace=other"))
        .await
        .unwrap();
    assert_eq!(by_ns.items.len(), 1);
    let not_a = here
        .list(&ListParams::default().fields("metadata.name!=a"))
        .await
        .unwrap();
    assert_eq!(not_a.items[0].name_any(), "b");
    let err = api_error(
        here.list(&ListParams::default().fields("data.x=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().unwrap();
    let second = cms
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    let third = cms
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_ref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(third.items.len(), 1);
    assert!(third.metadata.continue_.is_none());
    assert_eq!(
        first.metadata.resource_version,
        third.metadata.resource_version
    );
}

/// Repeated identical lists are served from a cached body (see `list_cache.rs`); they must stay
/// exactly what a fresh list gives, follow every write, and carry the current resourceVersion.
#[tokio::test]
async fn repeated_lists_follow_every_write() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client);
    let names = |l: &kube::core::ObjectList<ConfigMap>| -> Vec<(String, Option<String>)> {
        l.items
            .iter()
            .map(|c| {
                let v = c.data.as_ref().and_then(|d| d.get("v")).cloned();
                (c.name_any(), v)
            })
            .collect()
    };
    let labelled = ListParams::default().labels("app=a");
    for i in 0..3 {
        let mut c = cm(&format!("c{i}"), &[("v", "0")]);
        c.metadata.labels = Some([("app".to_string(), "a".to_string())].into());
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    // Streamed, then built, then served from the cache: all the same.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(names(&cms.list(&labelled).await.unwrap()));
    }
    assert!(
        seen.iter().all(|s| s == &seen[0]) && seen[0].len() == 3,
        "{seen:?}"
    );

    cms.patch(
        "c1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "1"}})),
    )
    .await
    .unwrap();
    let after_patch = names(&cms.list(&labelled).await.unwrap());
    assert_eq!(after_patch[1], ("c1".to_string(), Some("1".to_string())));
    for _ in 0..2 {
        assert_eq!(names(&cms.list(&labelled).await.unwrap()), after_patch);
    }

    // A write to another resource leaves the items alone but moves the list's resourceVersion.
    let before = cms.list(&labelled).await.unwrap();
    let mut s = Secret::default();
    s.metadata.name = Some("s".into());
    let secret = secrets.create(&PostParams::default(), &s).await.unwrap();
    let after = cms.list(&labelled).await.unwrap();
    assert_eq!(names(&after), names(&before));
    assert_eq!(
        after.metadata.resource_version,
        secret.metadata.resource_version
    );

    cms.delete("c0", &DeleteParams::default()).await.unwrap();
    for _ in 0..3 {
        let left = names(&cms.list(&labelled).await.unwrap());
        assert_eq!(
            left.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["c1", "c2"]
        );
    }
    assert!(
        cms.list(&ListParams::default().labels("app=b"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn watch_replays_events_after_a_resource_version() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let a = cms
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let mut events = cms
        .watch(&WatchParams::default(), &a.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    assert!(matches!(next_change(&mut events).await, WatchEvent::Added(c) if c.name_any() == "b"));
    assert!(
        matches!(next_change(&mut events).await, WatchEvent::Deleted(c) if c.name_any() == "a")
    );
}

#[tokio::test]
async fn watch_with_label_selector_sees_objects_leave_and_enter() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let c: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "a", "labels": {"app": "x"}}})).unwrap();
    let c = cms.create(&PostParams::default(), &c).await.unwrap();
    let wp = WatchParams::default().labels("app=x");
    let mut events = cms
        .watch(&wp, &c.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "y"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(
        next_change(&mut events).await,
        WatchEvent::Deleted(_)
    ));
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "x"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(
        next_change(&mut events).await,
        WatchEvent::Added(_)
    ));
}

#[tokio::test]
async fn watch_sends_bookmarks_when_asked() {
    let d = KubeDouble::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(d.client().unwrap());
    let c = cms
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let mut events = cms
        .watch(&WatchParams::default(), &c.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    match next_event(&mut events).await {
        WatchEvent::Bookmark(b) => {
            assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= rv_of(&c))
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
    // Without the flag, none arrive: the next event is the change we make.
    let mut plain = cms
        .watch(
            &WatchParams::default().disable_bookmarks(),
            &c.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(matches!(
        next_event(&mut plain).await,
        WatchEvent::Deleted(_)
    ));
}

#[tokio::test]
async fn watch_from_a_compacted_resource_version_is_410_gone() {
    let d = KubeDouble::builder()
        .history_limit(3)
        .start()
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(d.client().unwrap());
    let first = cms
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("b{i}"), &[]))
            .await
            .unwrap();
    }
    let mut events = cms
        .watch(&WatchParams::default(), &first.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    match next_event(&mut events).await {
        WatchEvent::Error(s) => assert_eq!(s.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    // A recent resourceVersion still works, and `compact()` expires it too.
    let now = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    d.compact();
    cms.create(&PostParams::default(), &cm("c", &[]))
        .await
        .unwrap();
    let mut events = cms
        .watch(
            &WatchParams::default(),
            &(now.parse::<u64>().unwrap() - 1).to_string(),
        )
        .await
        .unwrap()
        .boxed();
    assert!(matches!(next_event(&mut events).await, WatchEvent::Error(s) if s.code == 410));
}

#[tokio::test]
async fn watch_ends_after_timeout_seconds() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let started = std::time::Instant::now();
    let mut events = cms
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    let end = tokio::time::timeout(DEADLINE, async {
        while let Some(e) = events.next().await {
            e.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "watch did not end after timeoutSeconds");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn merge_json_and_strategic_patches() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(&PostParams::default(), &cm("a", &[("x", "1"), ("y", "2")]))
        .await
        .unwrap();
    let merged = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"x": null, "z": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.data.unwrap(),
        BTreeMap::from([("y".into(), "2".into()), ("z".into(), "3".into())])
    );
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/y", "value": "2"},
        {"op": "replace", "path": "/data/y", "value": "20"}
    ]))
    .unwrap();
    let jp = cms
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(jp.data.unwrap()["y"], "20");
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/y", "value": "2"}])).unwrap();
    let err = api_error(
        cms.patch("a", &PatchParams::default(), &Patch::Json::<()>(failing))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);

    let deps: Api<Deployment> = Api::default_namespaced(client);
    let dep: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}
    }))
    .unwrap();
    deps.create(&PostParams::default(), &dep).await.unwrap();
    let smp =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}});
    let out = deps
        .patch("web", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .unwrap();
    let containers = out.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(
        containers.len(),
        2,
        "strategic merge keeps the other container"
    );
    assert_eq!(containers[1].image.as_deref(), Some("b:2"));
}

#[tokio::test]
async fn server_side_apply_conflicts_and_force() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cfg = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": v}});
    cms.patch("a", &PatchParams::apply("alice"), &Patch::Apply(cfg("1")))
        .await
        .unwrap();
    // Same value: shared ownership, no conflict.
    cms.patch("a", &PatchParams::apply("bob"), &Patch::Apply(cfg("1")))
        .await
        .unwrap();
    let err = api_error(
        cms.patch("a", &PatchParams::apply("carol"), &Patch::Apply(cfg("2")))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("alice") && err.message.contains(".data.x"),
        "{}",
        err.message
    );
    let forced = cms
        .patch(
            "a",
            &PatchParams::apply("carol").force(),
            &Patch::Apply(cfg("2")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["x"], "2");
    let owners: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(
        owners,
        vec!["carol".to_string()],
        "force takes the field from every other manager"
    );
    // An update through a non-apply write takes ownership too, so carol now conflicts with it.
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "3"}})),
    )
    .await
    .unwrap();
    let err = api_error(
        cms.patch("a", &PatchParams::apply("carol"), &Patch::Apply(cfg("2")))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
}

#[tokio::test]
async fn server_side_apply_removes_fields_a_manager_stops_applying() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let pp = PatchParams::apply("alice");
    let two = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}});
    cms.patch("a", &pp, &Patch::Apply(two)).await.unwrap();
    cms.patch("a", &PatchParams::apply("bob"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"z": "3"}}))).await.unwrap();
    let one = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}});
    let out = cms.patch("a", &pp, &Patch::Apply(one)).await.unwrap();
    assert_eq!(
        out.data.unwrap(),
        BTreeMap::from([("x".into(), "1".into()), ("z".into(), "3".into())])
    );
    let err = api_error(
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422, "apply without fieldManager is invalid");
}

#[tokio::test]
async fn status_subresource_is_kept_apart() {
    let (_d, client) = setup().await;
    let widgets = install_widgets(&client).await;
    let mut w = widget("w", 1);
    w.status = Some(WidgetStatus {
        phase: "ignored-on-create".into(),
        observed_generation: None,
    });
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert!(
        created.status.is_none(),
        "create drops status when it is a subresource"
    );

    let mut with_status = created.clone();
    with_status.status = Some(WidgetStatus {
        phase: "Ready".into(),
        observed_generation: Some(1),
    });
    with_status.spec.size = 99;
    let after = widgets
        .replace_status("w", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert_eq!(after.status.as_ref().unwrap().phase, "Ready");
    assert_eq!(after.spec.size, 1, "a status write must not change spec");
    assert_eq!(after.metadata.generation, Some(1));

    let mut main = after.clone();
    main.status = Some(WidgetStatus {
        phase: "Hacked".into(),
        observed_generation: None,
    });
    main.spec.size = 2;
    let after = widgets
        .replace("w", &PostParams::default(), &main)
        .await
        .unwrap();
    assert_eq!(
        after.status.unwrap().phase,
        "Ready",
        "a main-resource write must not change status"
    );
    assert_eq!(after.spec.size, 2);
    assert_eq!(after.metadata.generation, Some(2));

    let patched = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Done"}, "spec": {"size": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(
        (patched.status.unwrap().phase.as_str(), patched.spec.size),
        ("Done", 2)
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut c = cm("a", &[]);
    c.metadata.finalizers = Some(vec!["example.com/cleanup".into()]);
    let c = cms.create(&PostParams::default(), &c).await.unwrap();
    let mut events = cms
        .watch(&WatchParams::default(), &c.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let held = cms.get("a").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(matches!(
        next_change(&mut events).await,
        WatchEvent::Modified(_)
    ));
    let err = api_error(
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/cleanup", "new"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422, "no new finalizers once deleting");
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("a").await.unwrap().is_none());
    assert!(matches!(
        next_change(&mut events).await,
        WatchEvent::Deleted(_)
    ));
}

fn owned_by(name: &str, owner: &ConfigMap) -> ConfigMap {
    let mut c = cm(name, &[]);
    c.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.name_any(),
        uid: owner.uid().unwrap(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    c
}

#[tokio::test]
async fn garbage_collection_deletes_dependents_recursively() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let root = cms
        .create(&PostParams::default(), &cm("root", &[]))
        .await
        .unwrap();
    let child = cms
        .create(&PostParams::default(), &owned_by("child", &root))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_by("grandchild", &child))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("bystander", &[]))
        .await
        .unwrap();
    cms.delete("root", &DeleteParams::background())
        .await
        .unwrap();
    let cms2 = cms.clone();
    eventually("dependents to be collected", || {
        let cms = cms2.clone();
        async move { cms.list(&ListParams::default()).await.unwrap().items.len() == 1 }
    })
    .await;
    assert!(cms.get_opt("bystander").await.unwrap().is_some());
}

#[tokio::test]
async fn a_dependent_written_after_its_owner_is_gone_is_collected() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let owner = cms
        .create(&PostParams::default(), &cm("owner", &[]))
        .await
        .unwrap();
    let also = cms
        .create(&PostParams::default(), &cm("other-owner", &[]))
        .await
        .unwrap();
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    // A controller that has not seen the deletion yet re-creates its child.
    let created = cms
        .create(&PostParams::default(), &owned_by("late-child", &owner))
        .await
        .unwrap();
    assert_eq!(
        created.name_any(),
        "late-child",
        "the create itself succeeds"
    );
    assert!(cms.get_opt("late-child").await.unwrap().is_none());
    // One owner still there is enough to stay.
    let mut two_owners = owned_by("shared-child", &owner);
    let mut refs = two_owners.metadata.owner_references.take().unwrap();
    refs.extend(owned_by("x", &also).metadata.owner_references.unwrap());
    two_owners.metadata.owner_references = Some(refs);
    cms.create(&PostParams::default(), &two_owners)
        .await
        .unwrap();
    assert!(cms.get_opt("shared-child").await.unwrap().is_some());
    // An existing object given an owner that is gone goes the same way.
    cms.create(&PostParams::default(), &cm("adopted", &[]))
        .await
        .unwrap();
    cms.replace("adopted", &PostParams::default(), &{
        let mut c = owned_by("adopted", &owner);
        c.metadata.resource_version = cms.get("adopted").await.unwrap().resource_version();
        c
    })
    .await
    .unwrap();
    assert!(cms.get_opt("adopted").await.unwrap().is_none());
}

#[tokio::test]
async fn orphan_propagation_keeps_dependents() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let root = cms
        .create(&PostParams::default(), &cm("root", &[]))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_by("child", &root))
        .await
        .unwrap();
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..Default::default()
    };
    cms.delete("root", &dp).await.unwrap();
    assert!(cms.get_opt("root").await.unwrap().is_none());
    let child = cms.get("child").await.unwrap();
    assert!(
        child
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn crds_add_and_remove_their_kinds_from_discovery() {
    let (_d, client) = setup().await;
    let widgets = install_widgets(&client).await;
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let found = discovery
        .groups()
        .any(|g| g.name() == "test.kube-double.io");
    assert!(found, "a new CRD appears in discovery");
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("widgets.test.kube-double.io").await.unwrap();
    let established = crd
        .status
        .unwrap()
        .conditions
        .unwrap()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);
    crds.delete("widgets.test.kube-double.io", &DeleteParams::default())
        .await
        .unwrap();
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    assert!(
        !discovery
            .groups()
            .any(|g| g.name() == "test.kube-double.io")
    );
    assert_eq!(
        api_error(widgets.list(&ListParams::default()).await.unwrap_err()).code,
        404
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let (d, client) = setup().await;
    d.ensure_namespace("doomed").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let nss: Api<Namespace> = Api::all(client);
    nss.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    assert!(nss.get_opt("doomed").await.unwrap().is_none());
    assert!(d.get("v1", "ConfigMap", "doomed", "a").is_none());
}

#[tokio::test]
async fn dry_run_persists_nothing() {
    let (d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let before = d.resource_version();
    cms.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &cm("a", &[]),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("a").await.unwrap().is_none());
    assert_eq!(d.resource_version(), before);
}

#[tokio::test]
async fn injected_faults_hit_matching_requests_only() {
    let (d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    d.inject(
        Fault::on(Verb::Patch)
            .resource("configmaps")
            .status(500)
            .times(1),
    );
    let patch = Patch::Merge(json!({"data": {"k": "v"}}));
    assert_eq!(
        api_error(
            cms.patch("a", &PatchParams::default(), &patch)
                .await
                .unwrap_err()
        )
        .code,
        500
    );
    cms.patch("a", &PatchParams::default(), &patch)
        .await
        .unwrap();
    d.inject(Fault::on(Verb::Get).status(409));
    assert_eq!(api_error(cms.get("a").await.unwrap_err()).code, 409);
    d.clear_faults();
    d.inject(Fault::on(Verb::List).latency(Duration::from_millis(300)));
    let t = std::time::Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    d.clear_faults();
    d.inject(Fault::any().status(500).rate(0.0));
    cms.get("a").await.unwrap();
}

#[tokio::test]
async fn dropped_watches_end_the_stream() {
    let (d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut events = cms
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    assert!(matches!(
        next_change(&mut events).await,
        WatchEvent::Added(_)
    ));
    d.drop_watches();
    let ended = tokio::time::timeout(DEADLINE, async {
        while let Some(e) = events.next().await {
            if e.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok());
}

#[tokio::test]
async fn foreground_propagation_waits_for_dependents() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let root = cms
        .create(&PostParams::default(), &cm("root", &[]))
        .await
        .unwrap();
    let mut child = owned_by("child", &root);
    child.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &child).await.unwrap();
    cms.delete("root", &DeleteParams::foreground())
        .await
        .unwrap();
    let waiting = cms.get("root").await.unwrap();
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert!(
        waiting
            .finalizers()
            .iter()
            .any(|f| f == "foregroundDeletion")
    );
    assert!(
        cms.get("child")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    cms.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("child").await.unwrap().is_none());
    assert!(
        cms.get_opt("root").await.unwrap().is_none(),
        "owner goes once its dependents are gone"
    );
}

/// kube-runtime watchers in both initial-list modes (paged list + watch, and streaming list with
/// the `initial-events-end` bookmark) reach the same state and follow later changes.
#[tokio::test]
async fn watchers_sync_with_paged_and_streaming_lists() {
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    for i in 0..7 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    for config in [
        watcher::Config::default().page_size(3),
        watcher::Config::default().streaming_lists(),
    ] {
        let (reader, writer) = reflector::store::<ConfigMap>();
        let stream = reflector::reflector(writer, watcher(cms.clone(), config)).applied_objects();
        let task = tokio::spawn(stream.for_each(|_| async {}));
        tokio::time::timeout(DEADLINE, reader.wait_until_ready())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reader.state().len(), 7);
        cms.delete("c0", &DeleteParams::default()).await.unwrap();
        let r = reader.clone();
        eventually("the delete to reach the reflector", move || {
            let r = r.clone();
            async move { r.state().len() == 6 }
        })
        .await;
        cms.create(&PostParams::default(), &cm("c0", &[]))
            .await
            .unwrap();
        task.abort();
    }
}

#[tokio::test]
async fn immutable_fields_are_rejected() {
    let (_d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut frozen = cm("frozen", &[("k", "v")]);
    frozen.immutable = Some(true);
    cms.create(&PostParams::default(), &frozen).await.unwrap();
    let err = api_error(
        cms.patch(
            "frozen",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    let deps: Api<Deployment> = Api::default_namespaced(client);
    let dep: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}
    }))
    .unwrap();
    deps.create(&PostParams::default(), &dep).await.unwrap();
    let patch = Patch::Merge(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}}));
    assert_eq!(
        api_error(
            deps.patch("web", &PatchParams::default(), &patch)
                .await
                .unwrap_err()
        )
        .code,
        422
    );
}

#[tokio::test]
async fn throttling_is_retried_by_the_client() {
    let (d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    // kube's default client retries 429/503/504 with backoff; 500 and 409 reach the caller.
    d.inject(
        Fault::on(Verb::Get)
            .resource("configmaps")
            .status(429)
            .times(2),
    );
    cms.get("a").await.unwrap();
    assert_eq!(
        d.requests(Verb::Get, "configmaps"),
        1,
        "two throttled attempts, then one served"
    );
}

#[tokio::test]
async fn watchers_recover_from_dropped_connections_without_losing_events() {
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (d, client) = setup().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector::reflector(writer, watcher(cms.clone(), watcher::Config::default()))
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    tokio::time::timeout(DEADLINE, reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    for i in 0..3 {
        d.drop_watches();
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    let r = reader.clone();
    eventually(
        "every create to reach the reflector across dropped watches",
        move || {
            let r = r.clone();
            async move { r.state().len() == 3 }
        },
    )
    .await;
    task.abort();
}
