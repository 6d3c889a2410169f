//! Pieces every rendered pod shares: the Pod Security "restricted" profile, resources, probes
//! and the Deployment shape.

use serde_json::{Value, json};

use super::{Child, Ctx};
use crate::crd::ResourcesSpec;

/// Pod-level security context (restricted profile).
pub(crate) fn pod_security(uid: i64) -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// Container-level security context (restricted profile).
pub(crate) fn container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// The spec's resources, or the component's defaults `(cpu request, memory request, memory limit)`.
pub(crate) fn resources(spec: Option<&ResourcesSpec>, defaults: (&str, &str, &str)) -> Value {
    match spec {
        Some(r) if !r.requests.is_empty() || !r.limits.is_empty() => {
            json!({"requests": r.requests, "limits": r.limits})
        }
        _ => json!({
            "requests": {"cpu": defaults.0, "memory": defaults.1},
            "limits": {"memory": defaults.2},
        }),
    }
}

pub(crate) fn http_probe(path: &str, period: i32, failures: i32) -> Value {
    json!({
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    })
}

/// A writable `/tmp` (the root filesystem is read-only).
pub(crate) fn tmp_volume() -> (Value, Value) {
    (
        json!({"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}),
        json!({"name": "tmp", "mountPath": "/tmp"}),
    )
}

/// A stateless Deployment with a rolling update that never drops below the desired replicas.
pub(crate) fn deployment(
    ctx: &Ctx,
    name: &str,
    app: &str,
    component: &str,
    replicas: i32,
    pod_spec: Value,
) -> Child {
    let labels = ctx.labels(app, component);
    Child {
        api_version: "apps/v1",
        kind: "Deployment",
        plural: "deployments",
        name: name.to_string(),
        body: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": ctx.meta(name, &labels),
            "spec": {
                "replicas": replicas,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": ctx.selector(app)},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
                },
                "template": {
                    "metadata": {"labels": labels},
                    "spec": pod_spec,
                },
            },
        }),
    }
}
