//! The three client-side patch formats: RFC 7386 merge patch, RFC 6902 JSON patch, and the subset
//! of strategic merge patch that kubectl (`apply`, `patch`, `rollout restart`) sends for built-in
//! kinds. Strategic merge needs each list's merge key; we know them by field name for the
//! built-in lists controllers touch (see [`list_merge_key`]) rather than from Go struct tags.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next().unwrap_or("").trim();
        match ct {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Lists of built-in kinds that are merged by key (associative) rather than replaced wholesale.
/// Custom resources get atomic lists, as the real server does without `x-kubernetes-list-type`.
pub fn list_merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let has = |k: &str| items.iter().all(|i| i.get(k).is_some());
    let key = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "volumeClaimTemplates" => "name",
        "volumeMounts" | "volumeDevices" => "mountPath",
        "ports" if has("containerPort") => "containerPort",
        "ports" => "port",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        _ => return None,
    };
    has(key).then_some(key)
}

/// Lists of scalars treated as sets (merged as a union) by strategic merge and apply.
pub fn is_scalar_set(field: &str) -> bool {
    field == "finalizers"
}

pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

pub fn json_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    let mut ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    // The API server's JSON patch library treats a missing path as null in `test`; kube-runtime's
    // `finalizer()` relies on it (`test /metadata/finalizers == null` before adding the first).
    ops.0.retain(|op| match op {
        json_patch::PatchOperation::Test(t) if t.value.is_null() => {
            target.pointer(t.path.as_str()).is_some()
        }
        _ => true,
    });
    // The real server answers 422 for a failed `test` op as for any other inapplicable op.
    json_patch::patch(target, &ops).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })
}

pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "strategic merge patch must be a JSON object",
        ));
    }
    smp_object(target, patch, true);
    Ok(())
}

fn smp_object(target: &mut Value, patch: &Value, builtin: bool) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = patch.clone();
        p.remove("$patch");
        *target = Value::Object(strip_directives(p));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(have)), Value::Array(del)) = (t.get_mut(field), v) {
                have.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            // `$setElementOrder/…`, `$retainKeys`, `$patch`: ordering hints and handled directives.
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                smp_object(slot, v, builtin);
            }
            Value::Array(items) => {
                let existing = t.get_mut(k);
                match existing {
                    Some(Value::Array(have)) if builtin && is_scalar_set(k) => {
                        for item in items {
                            if !have.contains(item) {
                                have.push(item.clone());
                            }
                        }
                    }
                    Some(Value::Array(have)) if builtin => {
                        let probe: Vec<Value> = items
                            .iter()
                            .filter(|i| i.get("$patch").is_none())
                            .cloned()
                            .collect();
                        match list_merge_key(k, &probe) {
                            Some(key) => merge_list_by_key(have, items, key, builtin),
                            None => *have = items.iter().map(|i| strip_value(i.clone())).collect(),
                        }
                    }
                    _ => {
                        let clean: Vec<Value> = items
                            .iter()
                            .filter(|i| i.get("$patch").is_none())
                            .map(|i| strip_value(i.clone()))
                            .collect();
                        t.insert(k.clone(), Value::Array(clean));
                    }
                }
            }
            scalar => {
                t.insert(k.clone(), scalar.clone());
            }
        }
    }
}

fn merge_list_by_key(have: &mut Vec<Value>, items: &[Value], key: &str, builtin: bool) {
    for item in items {
        let id = item.get(key);
        let pos = have.iter().position(|h| h.get(key) == id);
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(pos) = pos {
                have.remove(pos);
            }
            continue;
        }
        match pos {
            Some(pos) => smp_object(&mut have[pos], item, builtin),
            None => have.push(strip_value(item.clone())),
        }
    }
}

fn strip_directives(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k, strip_value(v)))
        .collect()
}

fn strip_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives(m)),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_value).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut obj = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}});
        let patch = json!({"spec": {"template": {
            "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
            "spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                     "containers": [{"name": "b", "image": "b:2"}]}}}});
        strategic_merge_patch(&mut obj, &patch).unwrap();
        let containers = &obj["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "a:1");
        assert_eq!(containers[1]["image"], "b:2");
        assert_eq!(
            obj["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "now"
        );
    }

    #[test]
    fn json_patch_test_null_matches_a_missing_path() {
        let mut obj = json!({"metadata": {"name": "a"}});
        let ops = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                         {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}]);
        json_patch(&mut obj, &ops).unwrap();
        assert_eq!(obj["metadata"]["finalizers"], json!(["f"]));
        let again = json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]);
        assert!(
            json_patch(&mut obj, &again).is_err(),
            "present and not null: the test fails"
        );
    }

    #[test]
    fn strategic_merge_delete_directive() {
        let mut obj = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}});
        strategic_merge_patch(&mut obj, &patch).unwrap();
        assert_eq!(obj, json!({"spec": {"containers": [{"name": "b"}]}}));
    }
}
