//! Dashboard: Deployment + Service (+ Ingress when configured). It serves the UI and proxies
//! `/api/v1` to mes-api and `/api/infra` to infra-api.

use serde_json::json;

use super::pod::{container_security, deployment, http_probe, pod_security, resources, tmp_volume};
use super::{Child, Ctx, service};

const PORT: i32 = 8080;

pub(crate) fn objects(ctx: &Ctx) -> Vec<Child> {
    let spec = &ctx.plant.spec;
    let name = ctx.names.dashboard();
    let (tmp, tmp_mount) = tmp_volume();
    let pod = json!({
        "securityContext": pod_security(10001),
        "automountServiceAccountToken": false,
        "containers": [{
            "name": "dashboard",
            "image": ctx.image("dashboard"),
            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            "env": [
                {"name": "DASHBOARD_LISTEN_ADDR", "value": format!("0.0.0.0:{PORT}")},
                {"name": "DASHBOARD_API_URL", "value": format!("http://{}:{}", ctx.names.api(), super::backend::PORT)},
                {"name": "DASHBOARD_INFRA_URL", "value": format!("http://{}:{}", ctx.names.infra(), super::infra::PORT)},
                {"name": "MES_LOG_FORMAT", "value": "json"},
            ],
            "securityContext": container_security(),
            "resources": resources(spec.dashboard.resources.as_ref(), ("50m", "64Mi", "256Mi")),
            "livenessProbe": http_probe("/healthz", 10, 3),
            "readinessProbe": http_probe("/readyz", 5, 3),
            "volumeMounts": [tmp_mount],
        }],
        "volumes": [tmp],
    });
    let mut out = vec![
        deployment(
            ctx,
            &name,
            "dashboard",
            "frontend",
            spec.dashboard.replicas,
            pod,
        ),
        service(ctx, &name, "dashboard", "frontend", PORT),
    ];
    if let Some(ingress) = &spec.dashboard.ingress {
        let mut ingress_spec = json!({
            "rules": [{
                "host": ingress.host,
                "http": {"paths": [{
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": name, "port": {"name": "http"}}},
                }]},
            }],
        });
        if let Some(class) = &ingress.class_name {
            ingress_spec["ingressClassName"] = json!(class);
        }
        if let Some(tls) = &ingress.tls_secret_name {
            ingress_spec["tls"] = json!([{"hosts": [ingress.host], "secretName": tls}]);
        }
        out.push(Child {
            api_version: "networking.k8s.io/v1",
            kind: "Ingress",
            plural: "ingresses",
            name: name.clone(),
            body: json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": ctx.meta(&name, &ctx.labels("dashboard", "frontend")),
                "spec": ingress_spec,
            }),
        });
    }
    out
}
