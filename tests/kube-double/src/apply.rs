//! Server-side apply: field ownership per manager (`metadata.managedFields`, FieldsV1 encoding),
//! conflict detection, `force`, and removal of fields a manager stops applying.
//!
//! Simplifications against structured-merge-diff, on purpose: lists of built-in kinds are
//! associative by the merge keys of [`crate::patch::list_merge_key`]; every list of a custom
//! resource is atomic (as without `x-kubernetes-list-type`); `metadata.finalizers` is a set.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::patch::{is_scalar_set, list_merge_key};

pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

/// Which part of an object a write addresses: the main resource or its `status` subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `has_status_subresource`: when true the main resource does not own `status`.
    Main {
        has_status_subresource: bool,
    },
    Status,
}

impl Section {
    fn subresource(self) -> Option<&'static str> {
        match self {
            Section::Main { .. } => None,
            Section::Status => Some("status"),
        }
    }
}

const METADATA_OWNED: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];

/// The leaf paths an object sets, in the given section.
pub fn field_set(obj: &Value, section: Section, builtin: bool) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        let include = match (section, k.as_str()) {
            (_, "apiVersion" | "kind") => false,
            (Section::Status, key) => key == "status",
            (
                Section::Main {
                    has_status_subresource,
                },
                "status",
            ) => !has_status_subresource,
            _ => true,
        };
        if !include {
            continue;
        }
        if k == "metadata" {
            for mk in METADATA_OWNED {
                if let Some(mv) = v.get(mk) {
                    let mut prefix = vec!["f:metadata".to_string(), format!("f:{mk}")];
                    walk(mv, mk, &mut prefix, &mut out, true);
                }
            }
            continue;
        }
        let mut prefix = vec![format!("f:{k}")];
        walk(v, k, &mut prefix, &mut out, builtin);
    }
    out
}

fn item_key(item: &Value, key: &str) -> String {
    let mut m = Map::new();
    m.insert(
        key.to_string(),
        item.get(key).cloned().unwrap_or(Value::Null),
    );
    format!("k:{}", Value::Object(m))
}

fn walk(v: &Value, field: &str, prefix: &mut FieldPath, out: &mut FieldSet, builtin: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                prefix.push(format!("f:{k}"));
                walk(c, k, prefix, out, builtin);
                prefix.pop();
            }
        }
        Value::Array(items) if builtin && is_scalar_set(field) => {
            for item in items {
                prefix.push(format!("v:{item}"));
                out.insert(prefix.clone());
                prefix.pop();
            }
        }
        Value::Array(items) if builtin && list_merge_key(field, items).is_some() => {
            let Some(key) = list_merge_key(field, items) else {
                return;
            };
            for item in items {
                prefix.push(item_key(item, key));
                walk(item, "", prefix, out, builtin);
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// The value at a field path, if present.
pub fn get_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path {
        cur = step(cur, seg)?;
    }
    Some(cur)
}

fn step<'a>(cur: &'a Value, seg: &str) -> Option<&'a Value> {
    if let Some(f) = seg.strip_prefix("f:") {
        return cur.get(f);
    }
    let items = cur.as_array()?;
    if let Some(k) = seg.strip_prefix("k:") {
        let want: Map<String, Value> = serde_json::from_str(k).ok()?;
        return items
            .iter()
            .find(|i| want.iter().all(|(wk, wv)| i.get(wk) == Some(wv)));
    }
    if let Some(v) = seg.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return items.iter().find(|i| **i == want);
    }
    None
}

/// Removes the value at `path` (a field, a keyed list item, or a set member).
fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parent_path {
        let next = if let Some(f) = seg.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            let Some(idx) = index_of(cur, seg) else {
                return;
            };
            cur.get_mut(idx)
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(idx) = index_of(cur, last)
        && let Some(a) = cur.as_array_mut()
    {
        a.remove(idx);
    }
}

fn index_of(list: &Value, seg: &str) -> Option<usize> {
    let found = step(list, seg)?;
    list.as_array()?.iter().position(|i| std::ptr::eq(i, found))
}

/// Deep merge of an applied configuration into the live object.
fn merge_applied(base: &mut Value, applied: &Value, field: &str, builtin: bool) {
    match (base, applied) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in a {
                match b.get_mut(k) {
                    Some(slot) => merge_applied(slot, v, k, builtin),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(a)) if builtin && is_scalar_set(field) => {
            for item in a {
                if !b.contains(item) {
                    b.push(item.clone());
                }
            }
        }
        (Value::Array(b), Value::Array(a)) if builtin && list_merge_key(field, a).is_some() => {
            let Some(key) = list_merge_key(field, a) else {
                return;
            };
            for item in a {
                match b.iter_mut().find(|x| x.get(key) == item.get(key)) {
                    Some(slot) => merge_applied(slot, item, "", builtin),
                    None => b.push(item.clone()),
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

pub fn read_managed(obj: &Value) -> Vec<ManagedEntry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let mut fields = FieldSet::new();
            if let Some(f) = e.get("fieldsV1") {
                decode_fields(f, &mut Vec::new(), &mut fields);
            }
            ManagedEntry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                fields,
            }
        })
        .collect()
}

pub fn write_managed(obj: &mut Value, entries: &[ManagedEntry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode_fields(&e.fields),
            });
            if let Some(sub) = &e.subresource {
                v["subresource"] = json!(sub);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn encode_fields(fields: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut cur = &mut root;
        for seg in path {
            let is_item = seg.starts_with("k:");
            let entry = cur
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Some(next) = entry.as_object_mut() else {
                break;
            };
            if is_item {
                next.insert(".".into(), Value::Object(Map::new()));
            }
            cur = next;
        }
    }
    Value::Object(root)
}

fn decode_fields(v: &Value, prefix: &mut FieldPath, out: &mut FieldSet) {
    let children: Vec<(&String, &Value)> = v
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| k.as_str() != ".").collect())
        .unwrap_or_default();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    for (k, c) in children {
        prefix.push(k.clone());
        decode_fields(c, prefix, out);
        prefix.pop();
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn render_path(path: &[String]) -> String {
    path.iter()
        .map(|s| match s.strip_prefix("f:") {
            Some(f) => format!(".{f}"),
            None => format!("[{}]", &s[2..]),
        })
        .collect()
}

fn same_section(e: &ManagedEntry, section: Section) -> bool {
    e.subresource.as_deref() == section.subresource()
}

/// Applies `applied` for `manager` on top of `current` (None: the object is being created).
/// Returns the resulting object with `metadata.managedFields` updated, or a 409 Conflict
/// listing every field another manager owns with a different value (unless `force`).
pub fn server_side_apply(
    current: &Value,
    applied: &Value,
    manager: &str,
    force: bool,
    section: Section,
    builtin: bool,
) -> ApiResult<Value> {
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut entries = read_managed(current);
    let applied_set = field_set(applied, section, builtin);

    let mut conflicts: Vec<(String, FieldPath)> = Vec::new();
    for e in entries.iter().filter(|e| same_section(e, section)) {
        if e.manager == manager {
            continue;
        }
        for p in e.fields.intersection(&applied_set) {
            if get_at(current, p) != get_at(applied, p) {
                conflicts.push((e.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, p)| {
                json!({"type": "FieldManagerConflict",
                       "message": format!("conflict with \"{m}\""),
                       "field": render_path(p)})
            })
            .collect();
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| format!("conflict with \"{m}\": {}", render_path(p)))
            .collect();
        let n = conflicts.len();
        let message = format!(
            "Apply failed with {n} conflict{}: {}",
            if n == 1 { "" } else { "s" },
            lines.join("\n")
        );
        return Err(ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes})));
    }
    for (m, p) in &conflicts {
        for e in entries
            .iter_mut()
            .filter(|e| &e.manager == m && same_section(e, section))
        {
            e.fields.remove(p);
        }
    }

    let mine_old: FieldSet = entries
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply" && same_section(e, section))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let others: FieldSet = entries
        .iter()
        .filter(|e| !(e.manager == manager && e.operation == "Apply" && same_section(e, section)))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();

    let mut obj = current.clone();
    let owned_after: FieldSet = others.union(&applied_set).cloned().collect();
    for p in mine_old.difference(&owned_after) {
        remove_at(&mut obj, p);
        prune_unowned_parents(&mut obj, p, &owned_after);
    }

    let mut body = applied.clone();
    if let Some(m) = body.as_object_mut() {
        match section {
            Section::Main {
                has_status_subresource: true,
            } => {
                m.remove("status");
            }
            Section::Status => m.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind"),
            Section::Main { .. } => {}
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| METADATA_OWNED.contains(&k.as_str()));
            if section == Section::Status {
                meta.clear();
            }
        }
    }
    merge_applied(&mut obj, &body, "", builtin);

    let time = now_rfc3339();
    match entries
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Apply" && same_section(e, section))
    {
        Some(e) => {
            if e.fields != applied_set {
                e.time.clone_from(&time);
            }
            e.fields = applied_set;
            e.api_version = api_version;
        }
        None => entries.push(ManagedEntry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version,
            time,
            subresource: section.subresource().map(str::to_string),
            fields: applied_set,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    write_managed(&mut obj, &entries);
    Ok(obj)
}

/// After removing a field nobody owns any more, drop parents that no manager owns anything in,
/// so that un-applying the last field of a list item removes the item. `metadata` itself and
/// its direct maps (labels, annotations) are kept, as the real server does.
fn prune_unowned_parents(obj: &mut Value, path: &[String], owned: &FieldSet) {
    let floor = if path.first().map(String::as_str) == Some("f:metadata") {
        2
    } else {
        1
    };
    for len in (floor..path.len()).rev() {
        let prefix = &path[..len];
        if owned.iter().any(|p| p.starts_with(prefix)) {
            return;
        }
        let empty_or_item = match get_at(obj, prefix) {
            Some(Value::Object(m)) => m.is_empty() || prefix[len - 1].starts_with("k:"),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if empty_or_item {
            remove_at(obj, prefix);
        }
    }
}

/// Records a non-apply write (create, update, patch) for `manager`: the fields it changed become
/// its own and leave every other manager; fields that disappeared leave every manager.
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    section: Section,
    builtin: bool,
) {
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut entries = old.map(read_managed).unwrap_or_default();
    let new_set = field_set(new, section, builtin);
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| old.and_then(|o| get_at(o, p)) != get_at(new, p))
        .cloned()
        .collect();
    // Paths of a whole section are compared by their own section's field set.
    for e in entries.iter_mut().filter(|e| same_section(e, section)) {
        e.fields
            .retain(|p| new_set.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        let time = now_rfc3339();
        match entries
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == "Update" && same_section(e, section))
        {
            Some(e) => {
                e.fields.extend(changed);
                e.time = time;
                e.api_version = api_version;
            }
            None => entries.push(ManagedEntry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version,
                time,
                subresource: section.subresource().map(str::to_string),
                fields: changed,
            }),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    write_managed(new, &entries);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MAIN: Section = Section::Main {
        has_status_subresource: true,
    };

    #[test]
    fn fields_v1_round_trip() {
        let obj = json!({"metadata": {"name": "x", "labels": {"a": "1"}, "finalizers": ["f"]},
                         "spec": {"containers": [{"name": "c", "image": "i"}], "n": 1}});
        let set = field_set(&obj, MAIN, true);
        let mut holder = json!({"metadata": {}});
        let entry = ManagedEntry {
            manager: "m".into(),
            operation: "Apply".into(),
            api_version: "v1".into(),
            time: String::new(),
            subresource: None,
            fields: set.clone(),
        };
        write_managed(&mut holder, &[entry]);
        assert_eq!(read_managed(&holder)[0].fields, set);
        assert!(set.contains(&vec![
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"c\"}".into(),
            "f:image".into()
        ]));
        assert!(set.contains(&vec![
            "f:metadata".into(),
            "f:finalizers".into(),
            "v:\"f\"".into()
        ]));
    }

    #[test]
    fn dropping_an_applied_item_removes_it() {
        let base = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        let a1 = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}});
        let o1 = server_side_apply(&base, &a1, "m", false, MAIN, true).unwrap();
        let a2 = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "1"}]}});
        let o2 = server_side_apply(&o1, &a2, "m", false, MAIN, true).unwrap();
        assert_eq!(o2["spec"]["containers"].as_array().unwrap().len(), 1);
    }
}
