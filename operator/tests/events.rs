//! The operator's Event publisher against kube-double: Events as `kubectl describe` shows them,
//! and a repeat counted as a series on the first Event instead of a new object.
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::core::v1::ObjectReference;
use mes_operator::events::{EventPublisher, EventType, Occurrence};
use serde_json::Value;

fn plant(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("mes.smartfactory.io/v1alpha1".into()),
        kind: Some("MesPlant".into()),
        namespace: Some("plant-kr".into()),
        name: Some(name.into()),
        uid: Some(format!("uid-{name}")),
        ..ObjectReference::default()
    }
}

fn occurrence<'a>(type_: EventType, reason: &'a str, note: &'a str) -> Occurrence<'a> {
    Occurrence {
        type_,
        reason,
        action: "Reconcile",
        note,
    }
}

fn events_about(double: &kube_double::KubeDouble, name: &str) -> Vec<Value> {
    double
        .list("events.k8s.io/v1", "Event")
        .into_iter()
        .filter(|e| e["regarding"]["name"] == name)
        .collect()
}

#[tokio::test]
async fn repeats_become_a_series_on_the_first_event() {
    let double = kube_double::KubeDouble::start().await.unwrap();
    double.ensure_namespace("plant-kr").unwrap();
    let events = EventPublisher::new(
        double.client().unwrap(),
        "mes-operator",
        Some("pod-a".into()),
    );

    let long_note = "x".repeat(1500);
    events
        .publish(
            &plant("kr"),
            occurrence(EventType::Warning, "ApiServerError", &long_note),
        )
        .await
        .unwrap();
    let first = events_about(&double, "kr");
    assert_eq!(first.len(), 1);
    let e = &first[0];
    assert_eq!(e["type"], "Warning");
    assert_eq!(e["reason"], "ApiServerError");
    assert_eq!(e["action"], "Reconcile");
    assert_eq!(e["reportingController"], "mes-operator");
    assert_eq!(e["reportingInstance"], "pod-a");
    assert_eq!(e["regarding"]["kind"], "MesPlant");
    assert_eq!(
        e["note"].as_str().unwrap().len(),
        1000,
        "notes are cut at 1 kB"
    );
    assert!(e["eventTime"].is_string());
    assert!(e.get("series").is_none());

    for _ in 0..2 {
        events
            .publish(
                &plant("kr"),
                occurrence(EventType::Warning, "ApiServerError", "again"),
            )
            .await
            .unwrap();
    }
    let repeated = events_about(&double, "kr");
    assert_eq!(
        repeated.len(),
        1,
        "a repeat is not a new Event: {repeated:?}"
    );
    assert_eq!(repeated[0]["series"]["count"], 3);
    assert!(repeated[0]["series"]["lastObservedTime"].is_string());

    // Another reason, or another object, is another Event.
    events
        .publish(
            &plant("kr"),
            occurrence(EventType::Normal, "PlantReady", "ready"),
        )
        .await
        .unwrap();
    events
        .publish(
            &plant("us"),
            occurrence(EventType::Warning, "ApiServerError", "boom"),
        )
        .await
        .unwrap();
    assert_eq!(events_about(&double, "kr").len(), 2);
    assert_eq!(events_about(&double, "us").len(), 1);
}
