//! What the server serves: the built-in resource table, resources added by CRDs, and the
//! discovery documents (`/api`, `/apis`, `/apis/{g}/{v}`) built from them. Legacy (non-aggregated)
//! discovery only — kubectl falls back to it when the answer is not `apidiscovery.k8s.io/v2`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub priority: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    pub group: String,
    /// Served versions; the first is the preferred one.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub status_subresource: bool,
    /// Whether `metadata.generation` is maintained (spec-bearing kinds and all custom resources).
    pub has_generation: bool,
    /// Built-in kinds get associative lists and strategic merge patch; custom resources don't.
    pub builtin: bool,
    /// Fields usable in field selectors beyond `metadata.name`/`metadata.namespace`.
    pub selectable_fields: Vec<&'static str>,
    pub printer_columns: Vec<PrinterColumn>,
}

impl ResourceInfo {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    generation: bool,
) -> ResourceInfo {
    ResourceInfo {
        group: group.into(),
        versions: vec![version.into()],
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        status_subresource: status,
        has_generation: generation,
        builtin: true,
        selectable_fields: Vec::new(),
        printer_columns: Vec::new(),
    }
}

/// The built-in kinds this project's code and kubectl touch.
pub fn builtin_resources() -> Vec<ResourceInfo> {
    let mut v = vec![
        builtin(
            "",
            "v1",
            "namespaces",
            "Namespace",
            false,
            &["ns"],
            true,
            false,
        ),
        builtin("", "v1", "pods", "Pod", true, &["po"], true, true),
        builtin("", "v1", "services", "Service", true, &["svc"], true, false),
        builtin("", "v1", "secrets", "Secret", true, &[], false, false),
        builtin(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            true,
            &["cm"],
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            true,
            &["sa"],
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            true,
            &["pvc"],
            true,
            false,
        ),
        builtin("", "v1", "events", "Event", true, &["ev"], false, false),
        builtin("", "v1", "nodes", "Node", false, &["no"], true, false),
        builtin(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            true,
            &["deploy"],
            true,
            true,
        ),
        builtin(
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            true,
            &["sts"],
            true,
            true,
        ),
        builtin(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            true,
            &["rs"],
            true,
            true,
        ),
        builtin(
            "apps",
            "v1",
            "daemonsets",
            "DaemonSet",
            true,
            &["ds"],
            true,
            true,
        ),
        builtin("batch", "v1", "jobs", "Job", true, &[], true, true),
        builtin(
            "batch",
            "v1",
            "cronjobs",
            "CronJob",
            true,
            &["cj"],
            true,
            true,
        ),
        builtin(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            true,
            &["ing"],
            true,
            true,
        ),
        builtin(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
            &["netpol"],
            false,
            true,
        ),
        builtin(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            &["pdb"],
            true,
            true,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
            &[],
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
            false,
            false,
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "events.k8s.io",
            "v1",
            "events",
            "Event",
            true,
            &["ev"],
            false,
            false,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            true,
            true,
        ),
    ];
    for r in &mut v {
        match (r.group.as_str(), r.plural.as_str()) {
            ("", "pods") => {
                r.selectable_fields = vec![
                    "spec.nodeName",
                    "status.phase",
                    "spec.restartPolicy",
                    "spec.serviceAccountName",
                    "status.podIP",
                ]
            }
            ("", "events") => {
                r.selectable_fields = vec![
                    "involvedObject.kind",
                    "involvedObject.name",
                    "involvedObject.namespace",
                    "involvedObject.uid",
                    "reason",
                    "type",
                    "source",
                ]
            }
            ("", "secrets") => r.selectable_fields = vec!["type"],
            _ => {}
        }
    }
    v
}

/// Resources a CustomResourceDefinition object declares (one entry per served group/plural).
pub fn from_crd(crd: &Value) -> Option<ResourceInfo> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let served: Vec<&Value> = spec
        .get("versions")?
        .as_array()?
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .collect();
    // Preferred version first: the storage version, as the real server orders by priority.
    let mut versions: Vec<String> = served.iter().filter_map(|v| s(v, "name")).collect();
    if let Some(storage) = served
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| s(v, "name"))
    {
        versions.retain(|x| *x != storage);
        versions.insert(0, storage);
    }
    let first = served.first()?;
    let status = served
        .iter()
        .any(|v| v.pointer("/subresources/status").is_some());
    let printer_columns = first
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| PrinterColumn {
                    name: s(c, "name").unwrap_or_default(),
                    type_: s(c, "type").unwrap_or_else(|| "string".into()),
                    json_path: s(c, "jsonPath").unwrap_or_default(),
                    priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    let plural = s(names, "plural")?;
    let kind = s(names, "kind")?;
    Some(ResourceInfo {
        group: s(spec, "group")?,
        versions,
        singular: s(names, "singular").unwrap_or_else(|| kind.to_lowercase()),
        plural,
        kind,
        namespaced: s(spec, "scope").as_deref() != Some("Cluster"),
        short_names: names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        status_subresource: status,
        has_generation: true,
        builtin: false,
        selectable_fields: Vec::new(),
        printer_columns,
    })
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub fn version_doc() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-kube-double",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

pub fn group_list(resources: &[ResourceInfo]) -> Value {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        let entry = groups.entry(r.group.as_str()).or_default();
        for v in &r.versions {
            if !entry.contains(&v.as_str()) {
                entry.push(v.as_str());
            }
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn resource_list(resources: &[ResourceInfo], group: &str, version: &str) -> Option<Value> {
    let mut list = Vec::new();
    for r in resources
        .iter()
        .filter(|r| r.group == group && r.versions.iter().any(|v| v == version))
    {
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.builtin {
            entry["categories"] = json!(["all"]);
        }
        list.push(entry);
        let sub = |name: &str, kind: &str, verbs: &[&str]| {
            json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced,
                   "kind": kind, "verbs": verbs})
        };
        if r.status_subresource {
            list.push(sub("status", &r.kind, &["get", "patch", "update"]));
        }
        if r.group.is_empty() && r.plural == "pods" {
            list.push(sub("log", "Pod", &["get"]));
        }
    }
    if list.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}
