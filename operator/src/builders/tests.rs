//! Golden tests: every object rendered for each database mode, as reviewed YAML snapshots.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn plant(spec: Value) -> MesPlant {
    let mut plant: MesPlant = serde_json::from_value(json!({
        "apiVersion": "mes.smartfactory.io/v1alpha1",
        "kind": "MesPlant",
        "metadata": {"name": "kr", "namespace": "plant-kr", "uid": "3c1e2a8e-0000-4000-8000-000000000001"},
        "spec": spec,
    }))
    .unwrap();
    plant.spec.version = "0.1.0".into();
    plant
}

fn fixed_values() -> GeneratedValues {
    GeneratedValues {
        jwt_key: "test-jwt-key".into(),
        admin_password: "test-admin-password".into(),
        db_password: "testdbpassword".into(),
    }
}

/// Multi-document YAML of everything rendered (what the golden files hold).
pub(crate) fn golden_yaml(rendered: &Rendered) -> String {
    rendered
        .all()
        .map(|c| yaml_serde::to_string(&c.body).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

pub(crate) fn embedded_plant() -> MesPlant {
    plant(json!({"plantCode": "KR"}))
}

pub(crate) fn cnpg_plant() -> MesPlant {
    plant(json!({
        "plantCode": "KR",
        "database": {"mode": "CloudNativePG", "cloudNativePG": {
            "instances": 3, "storageSize": "20Gi", "storageClass": "fast",
            "backup": {"destinationPath": "s3://mes-backups/kr", "endpointURL": "https://s3.example.com",
                       "credentialsSecret": "kr-s3", "retentionPolicy": "14d"},
        }},
        "dashboard": {"ingress": {"host": "mes-kr.example.com", "className": "nginx", "tlsSecretName": "mes-kr-tls"}},
        "infra": {"hubbleRelayAddress": "hubble-relay.kube-system.svc:443",
                  "hubbleTls": {"secretName": "hubble-relay-client-certs", "mutual": true,
                                "serverName": "ui.hubble-relay.cilium.io"}},
    }))
}

pub(crate) fn external_plant() -> MesPlant {
    plant(json!({
        "plantCode": "KR",
        "lotPrefix": "KRA",
        "timezone": "Asia/Seoul",
        "database": {"mode": "External", "external": {"secretRef": {"name": "kr-database"}}},
        "backend": {"replicas": 3, "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                    "trustedProxies": ["10.244.0.0/16", " fd00:10:244::/56 ", "192.168.5.10"]},
        "auth": {"jwtSecretRef": "kr-jwt-existing", "tokenTtlSeconds": 900},
        "infra": {"enabled": false},
    }))
}

#[test]
fn embedded_mode_golden() {
    let rendered = render(&embedded_plant(), &fixed_values()).unwrap();
    insta::assert_snapshot!("embedded", golden_yaml(&rendered));
}

#[test]
fn cloud_native_pg_mode_golden() {
    let rendered = render(&cnpg_plant(), &fixed_values()).unwrap();
    insta::assert_snapshot!("cloudnativepg", golden_yaml(&rendered));
}

#[test]
fn external_mode_golden() {
    let rendered = render(&external_plant(), &fixed_values()).unwrap();
    insta::assert_snapshot!("external", golden_yaml(&rendered));
}

#[test]
fn every_child_is_owned_labelled_and_in_the_plant_namespace() {
    for p in [embedded_plant(), cnpg_plant(), external_plant()] {
        let rendered = render(&p, &fixed_values()).unwrap();
        for child in rendered.all() {
            let meta = &child.body["metadata"];
            assert_eq!(meta["namespace"], "plant-kr", "{}", child.name);
            assert_eq!(
                meta["labels"]["app.kubernetes.io/managed-by"],
                "mes-operator"
            );
            assert_eq!(meta["labels"]["app.kubernetes.io/instance"], "kr");
            let kept_volume = child.kind == "PersistentVolumeClaim";
            if !kept_volume {
                assert_eq!(
                    meta["ownerReferences"][0]["uid"], "3c1e2a8e-0000-4000-8000-000000000001",
                    "{}",
                    child.name
                );
                assert_eq!(meta["ownerReferences"][0]["controller"], true);
            }
        }
    }
}

#[test]
fn workloads_meet_the_restricted_profile_and_typed_objects_parse() {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    use k8s_openapi::api::batch::v1::CronJob;
    for p in [embedded_plant(), cnpg_plant(), external_plant()] {
        let rendered = render(&p, &fixed_values()).unwrap();
        for child in rendered.all() {
            let pod_spec = match child.kind {
                "Deployment" => {
                    let d: Deployment = serde_json::from_value(child.body.clone()).unwrap();
                    d.spec.unwrap().template.spec.unwrap()
                }
                "StatefulSet" => {
                    let s: StatefulSet = serde_json::from_value(child.body.clone()).unwrap();
                    s.spec.unwrap().template.spec.unwrap()
                }
                "CronJob" => {
                    let c: CronJob = serde_json::from_value(child.body.clone()).unwrap();
                    c.spec
                        .unwrap()
                        .job_template
                        .spec
                        .unwrap()
                        .template
                        .spec
                        .unwrap()
                }
                _ => continue,
            };
            let pod_sc = pod_spec.security_context.unwrap();
            assert_eq!(pod_sc.run_as_non_root, Some(true));
            assert_eq!(pod_sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
            for c in pod_spec.containers {
                let sc = c.security_context.unwrap();
                assert_eq!(sc.allow_privilege_escalation, Some(false), "{}", child.name);
                assert_eq!(sc.read_only_root_filesystem, Some(true));
                assert_eq!(
                    sc.capabilities.unwrap().drop.unwrap(),
                    vec!["ALL".to_string()]
                );
                let res = c.resources.unwrap();
                assert!(
                    res.requests.is_some() && res.limits.is_some(),
                    "{}",
                    child.name
                );
                if child.kind != "CronJob" {
                    assert!(c.readiness_probe.is_some() && c.liveness_probe.is_some());
                }
            }
        }
    }
}

#[test]
fn mes_api_gets_the_spec_4_environment() {
    let rendered = render(&embedded_plant(), &fixed_values()).unwrap();
    let api = rendered
        .apply
        .iter()
        .find(|c| c.kind == "Deployment" && c.name == "kr-api")
        .unwrap();
    let env = &api.body["spec"]["template"]["spec"]["containers"][0]["env"];
    let names: Vec<&str> = env
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for var in [
        "DATABASE_URL",
        "MES_LISTEN_ADDR",
        "MES_JWT_SECRET_FILE",
        "MES_PLANT_CODE",
        "MES_LOT_PREFIX",
        "MES_TIMEZONE",
        "MES_DAY_SHIFT_START",
        "MES_NIGHT_SHIFT_START",
        "MES_BOOTSTRAP_ADMIN_USER",
        "MES_BOOTSTRAP_ADMIN_PASSWORD_FILE",
        "MES_TOKEN_TTL_SECONDS",
        "MES_LOG_FORMAT",
    ] {
        assert!(names.contains(&var), "{var} missing");
    }
}

#[test]
fn database_url_follows_the_mode() {
    let url = |p: &MesPlant| database_url_source(p)["secretKeyRef"].clone();
    assert_eq!(
        url(&embedded_plant()),
        json!({"name": "kr-db", "key": "DATABASE_URL"})
    );
    assert_eq!(
        url(&cnpg_plant()),
        json!({"name": "kr-pg-app", "key": "uri"})
    );
    assert_eq!(
        url(&external_plant()),
        json!({"name": "kr-database", "key": "DATABASE_URL"})
    );
}

#[test]
fn embedded_volume_is_retained_unless_asked() {
    let sts = |p: &MesPlant| {
        render(p, &fixed_values())
            .unwrap()
            .apply
            .into_iter()
            .find(|c| c.kind == "StatefulSet")
            .unwrap()
    };
    let kept = sts(&embedded_plant());
    assert_eq!(
        kept.body["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
    let gone = sts(&plant(
        json!({"plantCode": "KR", "database": {"embedded": {"deleteVolumeOnDelete": true}}}),
    ));
    assert_eq!(
        gone.body["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Delete"
    );
}

#[test]
fn given_secrets_are_not_generated_and_external_needs_its_secret() {
    let rendered = render(&external_plant(), &fixed_values()).unwrap();
    let generated: Vec<&str> = rendered
        .create_if_absent
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(generated, vec!["kr-admin"]);
    let mut broken = external_plant();
    broken.spec.database.external = None;
    assert_eq!(
        render(&broken, &fixed_values()),
        Err(BuildError::ExternalWithoutSecret)
    );
}

#[test]
fn trusted_proxies_reach_mes_api_as_mes_reads_them() {
    let env = |plant: &MesPlant| {
        let rendered = render(plant, &fixed_values()).unwrap();
        let api = rendered
            .apply
            .iter()
            .find(|c| c.kind == "Deployment" && c.name == "kr-api")
            .unwrap();
        api.body["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "MES_TRUSTED_PROXIES")
            .map(|e| e["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        env(&external_plant()).as_deref(),
        Some("10.244.0.0/16,fd00:10:244::/56,192.168.5.10")
    );
    assert_eq!(env(&embedded_plant()), None, "none listed: none set");
    for bad in ["10.244.0.0/33", "pods", "10.244.0.0/16,10.0.0.0/8", ""] {
        let mut plant = embedded_plant();
        plant.spec.backend.trusted_proxies = vec![bad.into()];
        assert_eq!(
            render(&plant, &fixed_values()),
            Err(BuildError::InvalidTrustedProxy(bad.into())),
            "{bad:?}"
        );
    }
}

#[test]
fn rendering_is_deterministic() {
    let a = render(&cnpg_plant(), &fixed_values()).unwrap();
    let b = render(&cnpg_plant(), &fixed_values()).unwrap();
    assert_eq!(a, b);
}

/// The `env` of the first container of Deployment `name`, with every value resolved as the
/// kubelet would: secret keys and the namespace to stand-ins, and the mounted Secret files the
/// variables name to files under `files` holding `content`.
fn resolved_env(
    rendered: &Rendered,
    name: &str,
    files: &std::path::Path,
) -> std::collections::HashMap<String, String> {
    let deployment = rendered
        .apply
        .iter()
        .find(|c| c.kind == "Deployment" && c.name == name)
        .unwrap();
    let env = deployment.body["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    env.iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_owned();
            let value = match e.get("value").and_then(Value::as_str) {
                Some(path) if path.starts_with("/var/run/secrets/") => {
                    let local = files.join(path.trim_start_matches('/'));
                    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
                    std::fs::write(&local, format!("content of {path}")).unwrap();
                    local.display().to_string()
                }
                Some(v) => v.to_owned(),
                None if e.pointer("/valueFrom/fieldRef").is_some() => "plant-kr".into(),
                None if name == "DATABASE_URL" => "postgres://mes:pw@kr-db:5432/mes".into(),
                None => "from-a-secret".into(),
            };
            (name, value)
        })
        .collect()
}

#[test]
fn the_services_accept_the_environment_they_are_given() {
    let dir = std::env::temp_dir().join(format!("mes-operator-env-{}", std::process::id()));
    for plant in [embedded_plant(), cnpg_plant(), external_plant()] {
        let rendered = render(&plant, &fixed_values()).unwrap();
        let api = resolved_env(&rendered, "kr-api", &dir);
        let config = mes_api::config::Config::from_lookup(|k| api.get(k).cloned())
            .unwrap_or_else(|e| panic!("mes-api refuses {api:?}: {e}"));
        let proxies = plant.spec.backend.trusted_proxies.join(",");
        assert_eq!(
            config.trusted_proxies,
            mes_api::client_ip::TrustedProxies::parse(&proxies).unwrap()
        );
        if plant.spec.infra.enabled {
            let infra = resolved_env(&rendered, "kr-infra", &dir);
            let config = infra_api::config::Config::from_lookup(|k| infra.get(k).cloned(), || None)
                .unwrap_or_else(|e| panic!("infra-api refuses {infra:?}: {e:?}"));
            assert_eq!(config.namespace, "plant-kr");
            match &plant.spec.infra.hubble_tls {
                None => assert!(config.hubble_tls.is_none()),
                Some(spec) => {
                    let tls = config.hubble_tls.unwrap();
                    let pem = |p: &Option<Vec<u8>>| String::from_utf8(p.clone().unwrap()).unwrap();
                    assert!(pem(&tls.ca_pem).ends_with("/var/run/secrets/mes/hubble/ca.crt"));
                    assert_eq!(tls.client_cert_pem.is_some(), spec.mutual);
                    assert_eq!(tls.client_key_pem.is_some(), spec.mutual);
                    assert_eq!(tls.server_name, spec.server_name);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
