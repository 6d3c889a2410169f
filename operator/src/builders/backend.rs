//! mes-api: Deployment + Service with the SPEC §4 environment contract.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::json;

use super::database::database_url_source;
use super::pod::{container_security, deployment, http_probe, pod_security, resources, tmp_volume};
use super::secrets::{admin_secret_name, jwt_secret_name};
use super::{BuildError, Child, Ctx, service};

pub(crate) const PORT: i32 = 8080;
const JWT_DIR: &str = "/var/run/secrets/mes/jwt";
const ADMIN_DIR: &str = "/var/run/secrets/mes/admin";

pub(crate) fn objects(ctx: &Ctx) -> Result<Vec<Child>, BuildError> {
    let spec = &ctx.plant.spec;
    let name = ctx.names.api();
    let admin = admin_secret_name(ctx);
    let mut env = json!([
        {"name": "DATABASE_URL", "valueFrom": database_url_source(ctx.plant)},
        {"name": "MES_LISTEN_ADDR", "value": format!("0.0.0.0:{PORT}")},
        {"name": "MES_JWT_SECRET_FILE", "value": format!("{JWT_DIR}/secret")},
        {"name": "MES_TOKEN_TTL_SECONDS", "value": spec.auth.token_ttl_seconds.to_string()},
        {"name": "MES_PLANT_CODE", "value": spec.plant_code},
        {"name": "MES_LOT_PREFIX", "value": spec.lot_prefix},
        {"name": "MES_TIMEZONE", "value": spec.timezone},
        {"name": "MES_DAY_SHIFT_START", "value": spec.shifts.day_start},
        {"name": "MES_NIGHT_SHIFT_START", "value": spec.shifts.night_start},
        {"name": "MES_BOOTSTRAP_ADMIN_USER", "valueFrom": {"secretKeyRef": {"name": admin, "key": "username"}}},
        {"name": "MES_BOOTSTRAP_ADMIN_PASSWORD_FILE", "value": format!("{ADMIN_DIR}/password")},
        {"name": "MES_LOG_FORMAT", "value": "json"},
        {"name": "RUST_LOG", "value": "info"},
    ]);
    if let Some(proxies) = trusted_proxies(&spec.backend.trusted_proxies)?
        && let Some(env) = env.as_array_mut()
    {
        env.push(json!({"name": "MES_TRUSTED_PROXIES", "value": proxies}));
    }
    let (tmp, tmp_mount) = tmp_volume();
    let pod = json!({
        "securityContext": pod_security(10001),
        "automountServiceAccountToken": false,
        "terminationGracePeriodSeconds": 30,
        "containers": [{
            "name": "mes-api",
            "image": ctx.image("mes-api"),
            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            "env": env,
            "securityContext": container_security(),
            "resources": resources(spec.backend.resources.as_ref(), ("100m", "128Mi", "512Mi")),
            "startupProbe": http_probe("/healthz", 2, 30),
            "livenessProbe": http_probe("/healthz", 10, 3),
            "readinessProbe": http_probe("/readyz", 5, 3),
            "volumeMounts": [
                {"name": "jwt", "mountPath": JWT_DIR, "readOnly": true},
                {"name": "admin", "mountPath": ADMIN_DIR, "readOnly": true},
                tmp_mount,
            ],
        }],
        "volumes": [
            {"name": "jwt", "secret": {"secretName": jwt_secret_name(ctx), "items": [{"key": "secret", "path": "secret"}]}},
            {"name": "admin", "secret": {"secretName": admin, "items": [{"key": "password", "path": "password"}]}},
            tmp,
        ],
    });
    Ok(vec![
        deployment(ctx, &name, "mes-api", "backend", spec.backend.replicas, pod),
        service(ctx, &name, "mes-api", "backend", PORT),
    ])
}

/// `MES_TRUSTED_PROXIES` for the listed entries, each checked the way mes-api reads them (an
/// address or a CIDR network); `None` when the list is empty.
fn trusted_proxies(entries: &[String]) -> Result<Option<String>, BuildError> {
    for entry in entries {
        let entry = entry.trim();
        if entry.parse::<IpNet>().is_err() && entry.parse::<IpAddr>().is_err() {
            return Err(BuildError::InvalidTrustedProxy(entry.to_owned()));
        }
    }
    Ok((!entries.is_empty()).then(|| {
        entries
            .iter()
            .map(|e| e.trim())
            .collect::<Vec<_>>()
            .join(",")
    }))
}
