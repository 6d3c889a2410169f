//! infra-api: Deployment + Service + ServiceAccount + Role/RoleBinding with exactly the verbs it
//! needs (read pods, logs, events and workloads; patch Deployments for a rollout restart).

use serde_json::json;

use super::pod::{container_security, deployment, http_probe, pod_security, resources, tmp_volume};
use super::secrets::jwt_secret_name;
use super::{Child, Ctx, service};

pub(crate) const PORT: i32 = 8081;
const JWT_DIR: &str = "/var/run/secrets/mes/jwt";

pub(crate) fn objects(ctx: &Ctx) -> Vec<Child> {
    let spec = &ctx.plant.spec;
    let name = ctx.names.infra();
    let labels = ctx.labels("infra-api", "infra");
    let (tmp, tmp_mount) = tmp_volume();
    let pod = json!({
        "serviceAccountName": name,
        "securityContext": pod_security(10001),
        "containers": [{
            "name": "infra-api",
            "image": ctx.image("infra-api"),
            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            "env": [
                {"name": "INFRA_LISTEN_ADDR", "value": format!("0.0.0.0:{PORT}")},
                {"name": "INFRA_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "HUBBLE_RELAY_ADDR", "value": spec.infra.hubble_relay_address},
                {"name": "MES_JWT_SECRET_FILE", "value": format!("{JWT_DIR}/secret")},
                {"name": "MES_LOG_FORMAT", "value": "json"},
                {"name": "RUST_LOG", "value": "info"},
            ],
            "securityContext": container_security(),
            "resources": resources(spec.infra.resources.as_ref(), ("50m", "64Mi", "256Mi")),
            "livenessProbe": http_probe("/healthz", 10, 3),
            "readinessProbe": http_probe("/readyz", 5, 3),
            "volumeMounts": [{"name": "jwt", "mountPath": JWT_DIR, "readOnly": true}, tmp_mount],
        }],
        "volumes": [
            {"name": "jwt", "secret": {"secretName": jwt_secret_name(ctx), "items": [{"key": "secret", "path": "secret"}]}},
            tmp,
        ],
    });
    let rules = json!([
        {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]},
        // infra-api records who restarted a Deployment as an Event on it.
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]);
    vec![
        Child {
            api_version: "v1",
            kind: "ServiceAccount",
            plural: "serviceaccounts",
            name: name.clone(),
            body: json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": ctx.meta(&name, &labels),
                "automountServiceAccountToken": true,
            }),
        },
        Child {
            api_version: "rbac.authorization.k8s.io/v1",
            kind: "Role",
            plural: "roles",
            name: name.clone(),
            body: json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": ctx.meta(&name, &labels),
                "rules": rules,
            }),
        },
        Child {
            api_version: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            plural: "rolebindings",
            name: name.clone(),
            body: json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": ctx.meta(&name, &labels),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ctx.namespace}],
            }),
        },
        deployment(ctx, &name, "infra-api", "infra", 1, pod),
        service(ctx, &name, "infra-api", "infra", PORT),
    ]
}
