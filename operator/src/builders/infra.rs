//! infra-api: Deployment + Service + ServiceAccount + Role/RoleBinding with exactly the verbs it
//! needs (read pods, logs, events and workloads; patch Deployments for a rollout restart).

use serde_json::{Value, json};

use super::pod::{container_security, deployment, http_probe, pod_security, resources, tmp_volume};
use super::secrets::jwt_secret_name;
use super::{Child, Ctx, service};
use crate::crd::HubbleTlsSpec;

pub(crate) const PORT: i32 = 8081;
const JWT_DIR: &str = "/var/run/secrets/mes/jwt";
const HUBBLE_TLS_DIR: &str = "/var/run/secrets/mes/hubble";

pub(crate) fn objects(ctx: &Ctx) -> Vec<Child> {
    let spec = &ctx.plant.spec;
    let name = ctx.names.infra();
    let labels = ctx.labels("infra-api", "infra");
    let (tmp, tmp_mount) = tmp_volume();
    let mut env = vec![
        json!({"name": "INFRA_LISTEN_ADDR", "value": format!("0.0.0.0:{PORT}")}),
        json!({"name": "INFRA_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
        json!({"name": "HUBBLE_RELAY_ADDR", "value": spec.infra.hubble_relay_address}),
        json!({"name": "MES_JWT_SECRET_FILE", "value": format!("{JWT_DIR}/secret")}),
        json!({"name": "MES_LOG_FORMAT", "value": "json"}),
        json!({"name": "RUST_LOG", "value": "info"}),
    ];
    let mut mounts = vec![
        json!({"name": "jwt", "mountPath": JWT_DIR, "readOnly": true}),
        tmp_mount,
    ];
    let mut volumes = vec![
        json!({"name": "jwt", "secret": {"secretName": jwt_secret_name(ctx), "items": [{"key": "secret", "path": "secret"}]}}),
        tmp,
    ];
    if let Some(tls) = &spec.infra.hubble_tls {
        let (tls_env, mount, volume) = hubble_tls(tls);
        env.extend(tls_env);
        mounts.push(mount);
        volumes.push(volume);
    }
    let pod = json!({
        "serviceAccountName": name,
        "securityContext": pod_security(10001),
        "containers": [{
            "name": "infra-api",
            "image": ctx.image("infra-api"),
            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            "env": env,
            "securityContext": container_security(),
            "resources": resources(spec.infra.resources.as_ref(), ("50m", "64Mi", "256Mi")),
            "livenessProbe": http_probe("/healthz", 10, 3),
            "readinessProbe": http_probe("/readyz", 5, 3),
            "volumeMounts": mounts,
        }],
        "volumes": volumes,
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

/// infra-api's `HUBBLE_TLS*` variables, and the Secret's files they point at.
fn hubble_tls(tls: &HubbleTlsSpec) -> (Vec<Value>, Value, Value) {
    let file = |key: &str| format!("{HUBBLE_TLS_DIR}/{key}");
    let mut env = vec![
        json!({"name": "HUBBLE_TLS", "value": "true"}),
        json!({"name": "HUBBLE_TLS_CA_FILE", "value": file("ca.crt")}),
    ];
    let mut items = vec![json!({"key": "ca.crt", "path": "ca.crt"})];
    if tls.mutual {
        env.push(json!({"name": "HUBBLE_TLS_CLIENT_CERT_FILE", "value": file("tls.crt")}));
        env.push(json!({"name": "HUBBLE_TLS_CLIENT_KEY_FILE", "value": file("tls.key")}));
        items.push(json!({"key": "tls.crt", "path": "tls.crt"}));
        items.push(json!({"key": "tls.key", "path": "tls.key"}));
    }
    if let Some(name) = &tls.server_name {
        env.push(json!({"name": "HUBBLE_TLS_SERVER_NAME", "value": name}));
    }
    let mount = json!({"name": "hubble-tls", "mountPath": HUBBLE_TLS_DIR, "readOnly": true});
    let volume =
        json!({"name": "hubble-tls", "secret": {"secretName": tls.secret_name, "items": items}});
    (env, mount, volume)
}
