//! `meta.k8s.io/v1 Table` answers for `kubectl get`: Name, the CRD's additionalPrinterColumns
//! (evaluated with the small JSONPath subset CRDs use), or Age when there are none.

use serde_json::{Value, json};

use crate::discovery::ResourceInfo;

/// Evaluates `.a.b`, `.a[0]`, `.a[*].b` and `.a[?(@.type=="Ready")].status`.
pub fn json_path(obj: &Value, path: &str) -> Vec<Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = vec![obj.clone()];
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let field = &r[..end];
            cur = cur.iter().filter_map(|v| v.get(field).cloned()).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Vec::new();
            };
            let sel = &r[..end];
            rest = &r[end + 1..];
            let items = cur.iter().filter_map(|v| v.as_array().cloned()).flatten();
            cur = if sel == "*" {
                items.collect()
            } else if let Ok(i) = sel.parse::<usize>() {
                cur.iter().filter_map(|v| v.get(i).cloned()).collect()
            } else if let Some(filter) = sel.strip_prefix("?(@.").and_then(|s| s.strip_suffix(')'))
            {
                let Some((field, want)) = filter.split_once("==") else {
                    return Vec::new();
                };
                let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                items
                    .filter(|it| {
                        json_path(it, &format!(".{}", field.trim()))
                            .first()
                            .is_some_and(|v| {
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string())
                                    == want
                            })
                    })
                    .collect()
            } else {
                return Vec::new();
            };
        } else {
            return Vec::new();
        }
    }
    cur
}

fn age(ts: Option<&str>) -> String {
    let Some(t) = ts.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 2 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn cell(v: Option<&Value>, type_: &str) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if type_ == "date" => json!(age(Some(s))),
        Some(Value::String(s)) => json!(s),
        Some(other) if type_ == "string" => json!(other.to_string()),
        Some(other) => other.clone(),
    }
}

pub fn table(info: &ResourceInfo, objects: &[&Value], rv: &str, include_object: bool) -> Value {
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in &info.printer_columns {
        columns.push(json!({"name": c.name, "type": c.type_, "format": "", "description": "", "priority": c.priority}));
    }
    if info.group.is_empty() && info.plural == "pods" {
        columns.push(json!({"name": "Status", "type": "string", "format": "", "description": "", "priority": 0}));
    }
    // The real server adds Age only when a resource declares no printer columns of its own
    // (a CRD with additionalPrinterColumns shows exactly those).
    let add_age = info.printer_columns.is_empty();
    if add_age {
        columns.push(json!({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0}));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![json!(o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""))];
            for c in &info.printer_columns {
                cells.push(cell(json_path(o, &c.json_path).first(), &c.type_));
            }
            if info.group.is_empty() && info.plural == "pods" {
                cells.push(cell(o.pointer("/status/phase"), "string"));
            }
            if add_age {
                cells.push(json!(age(o.pointer("/metadata/creationTimestamp").and_then(Value::as_str))));
            }
            let object = if include_object {
                (*o).clone()
            } else {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata")})
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv},
           "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_filters_conditions() {
        let o = json!({"spec": {"a": [1, 2]}, "status": {"conditions": [
            {"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}});
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Synced\")].status"),
            vec![json!("False")]
        );
        assert_eq!(json_path(&o, ".spec.a[1]"), vec![json!(2)]);
        assert!(json_path(&o, ".spec.missing").is_empty());
    }
}
