//! What kube-controller-manager's garbage collector and namespace controller (and the
//! apiextensions finalizer) would do, done synchronously after each deletion so tests see a
//! settled state: dependents whose owners are all gone are deleted (background propagation,
//! recursively, honouring their own finalizers; also when written with owners already gone); `Orphan` strips the owner reference instead;
//! `Foreground` keeps the owner (finalizer `foregroundDeletion`) until its dependents are gone;
//! a terminating Namespace or CRD is removed once nothing is left inside it.

use serde_json::Value;

use crate::apply::Section;
use crate::discovery::{self, ResourceInfo};
use crate::store::{DeleteOpts, GroupResource, Inner, ObjectKey, WriteCtx};

const GC_MANAGER: &str = "garbage-collector";
pub const FOREGROUND: &str = "foregroundDeletion";

fn is_namespace(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "namespaces"
}

fn is_crd(info: &ResourceInfo) -> bool {
    info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions"
}

/// Objects a Namespace or CRD holds and that must go before it does.
fn contents(inner: &Inner, info: &ResourceInfo, obj: &Value) -> Vec<(GroupResource, ObjectKey)> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if is_namespace(info) {
        inner
            .objects
            .iter()
            .flat_map(|(gr, m)| {
                m.range((name.to_string(), String::new())..)
                    .take_while(move |((ns, _), _)| ns == name)
                    .map(move |(k, _)| (gr.clone(), k.clone()))
            })
            .collect()
    } else if is_crd(info) {
        let Some(crd) = discovery::from_crd(obj) else {
            return Vec::new();
        };
        let gr = GroupResource::new(&crd.group, &crd.plural);
        inner
            .objects
            .get(&gr)
            .map(|m| m.keys().map(|k| (gr.clone(), k.clone())).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    }
}

pub fn has_contents(inner: &Inner, info: &ResourceInfo, obj: &Value) -> bool {
    !contents(inner, info, obj).is_empty()
}

pub fn delete_contents(inner: &mut Inner, info: &ResourceInfo, obj: &Value) {
    for (gr, key) in contents(inner, info, obj) {
        delete_quietly(inner, &gr, &key);
    }
}

fn delete_quietly(inner: &mut Inner, gr: &GroupResource, key: &ObjectKey) {
    let Some(info) = inner.info_by_gr(gr).cloned() else {
        return;
    };
    // Not found (already cascaded away) is expected here.
    let _ = inner.delete_one(
        &info,
        &key.0,
        &key.1,
        &DeleteOpts::default(),
        &WriteCtx::system(GC_MANAGER, "delete"),
    );
}

fn owner_uids(obj: &Value) -> Vec<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `obj` has owner references and none of its owners exists.
pub fn owners_all_gone(inner: &Inner, obj: &Value) -> bool {
    let owners = owner_uids(obj);
    !owners.is_empty() && owners.iter().all(|u| !inner.uids.contains_key(*u))
}

fn dependents(inner: &Inner, owner_uid: &str) -> Vec<(GroupResource, ObjectKey)> {
    inner
        .objects
        .iter()
        .flat_map(|(gr, m)| {
            m.iter()
                .filter(|(_, s)| owner_uids(&s.value).contains(&owner_uid))
                .map(|(k, _)| (gr.clone(), k.clone()))
        })
        .collect()
}

pub fn has_dependents(inner: &Inner, owner_uid: &str) -> bool {
    !dependents(inner, owner_uid).is_empty()
}

pub fn delete_dependents(inner: &mut Inner, owner_uid: &str) {
    for (gr, key) in dependents(inner, owner_uid) {
        delete_quietly(inner, &gr, &key);
    }
}

/// Sweeps until nothing more is collectable.
pub fn collect(inner: &mut Inner) {
    loop {
        let mut victims: Vec<(GroupResource, ObjectKey)> = Vec::new();
        for (gr, map) in &inner.objects {
            for (key, stored) in map {
                let terminating = stored.meta_str("deletionTimestamp").is_some();
                if !terminating && owners_all_gone(inner, &stored.value) {
                    victims.push((gr.clone(), key.clone()));
                }
                if terminating
                    && stored
                        .value
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .is_none_or(Vec::is_empty)
                    && let Some(info) = inner.info_by_gr(gr)
                    && (is_namespace(info) || is_crd(info))
                    && !has_contents(inner, info, &stored.value)
                {
                    victims.push((gr.clone(), key.clone()));
                }
            }
        }
        let waiting: Vec<(GroupResource, ObjectKey, Value)> = inner
            .objects
            .iter()
            .flat_map(|(gr, m)| m.iter().map(move |(k, s)| (gr, k, s)))
            .filter(|(_, _, s)| {
                s.meta_str("deletionTimestamp").is_some()
                    && s.value
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|f| f.iter().any(|x| x == FOREGROUND))
                    && !has_dependents(inner, s.uid())
            })
            .map(|(gr, k, s)| (gr.clone(), k.clone(), s.value.clone()))
            .collect();
        if victims.is_empty() && waiting.is_empty() {
            return;
        }
        for (gr, key, mut value) in waiting {
            if let Some(Value::Array(f)) = value.pointer_mut("/metadata/finalizers") {
                f.retain(|x| x != FOREGROUND);
            }
            let has_status = inner.info_by_gr(&gr).is_some_and(|i| i.status_subresource);
            let _ = inner.system_write(
                &gr,
                &key,
                value,
                Section::Main {
                    has_status_subresource: has_status,
                },
                GC_MANAGER,
            );
        }
        for (gr, key) in victims {
            delete_quietly(inner, &gr, &key);
        }
    }
}

/// `propagationPolicy=Orphan`: dependents lose their reference to the owner and stay.
pub fn orphan_dependents(inner: &mut Inner, owner_uid: &str) {
    for (gr, key) in dependents(inner, owner_uid) {
        let Some(mut value) = inner
            .objects
            .get(&gr)
            .and_then(|m| m.get(&key))
            .map(|s| s.value.clone())
        else {
            continue;
        };
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            let remaining: Vec<Value> = meta
                .get("ownerReferences")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if remaining.is_empty() {
                meta.remove("ownerReferences");
            } else {
                meta.insert("ownerReferences".into(), Value::Array(remaining));
            }
        }
        let has_status = inner.info_by_gr(&gr).is_some_and(|i| i.status_subresource);
        let _ = inner.system_write(
            &gr,
            &key,
            value,
            Section::Main {
                has_status_subresource: has_status,
            },
            GC_MANAGER,
        );
    }
}
