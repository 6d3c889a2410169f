//! PostgreSQL per `spec.database.mode`: an embedded StatefulSet, a CloudNativePG Cluster, or the
//! `DATABASE_URL` of an external database.

use serde_json::{Value, json};

use super::pod::{container_security, pod_security, resources};
use super::secrets::{GeneratedValues, secret};
use super::{Child, Ctx};
use crate::crd::DatabaseMode;

pub const CNPG_API_VERSION: &str = "postgresql.cnpg.io/v1";
const BARMAN_PLUGIN: &str = "barman-cloud.cloudnative-pg.io";
/// The postgres user of the official image.
const POSTGRES_UID: i64 = 999;

/// `valueFrom` of mes-api's `DATABASE_URL` for the plant's database mode.
pub fn database_url_source(plant: &crate::crd::MesPlant) -> Value {
    let names = super::Names::of(plant);
    let (name, key) = match (&plant.spec.database.mode, &plant.spec.database.external) {
        (DatabaseMode::Embedded, _) => (names.db(), "DATABASE_URL".to_string()),
        // CloudNativePG writes the application user's credentials, including a ready `uri`
        // pointing at the `-rw` Service, to `<cluster>-app`.
        (DatabaseMode::CloudNativePG, _) => {
            (format!("{}-app", names.cnpg_cluster()), "uri".to_string())
        }
        (DatabaseMode::External, Some(ext)) => {
            (ext.secret_ref.name.clone(), ext.secret_ref.key.clone())
        }
        (DatabaseMode::External, None) => (String::new(), "DATABASE_URL".to_string()),
    };
    json!({"secretKeyRef": {"name": name, "key": key}})
}

/// The embedded database's credentials, created once.
pub(crate) fn embedded_credentials(ctx: &Ctx, values: &GeneratedValues) -> Child {
    let host = format!("{}.{}.svc", ctx.names.db(), ctx.namespace);
    secret(
        ctx,
        &ctx.names.db(),
        "database",
        json!({
            "POSTGRES_USER": "mes",
            "POSTGRES_PASSWORD": values.db_password,
            "POSTGRES_DB": "mes",
            "DATABASE_URL": format!("postgres://mes:{}@{host}:5432/mes", values.db_password),
        }),
    )
}

/// Headless Service + single-replica StatefulSet with a PVC template. The PVC is retained when
/// the StatefulSet goes (with the plant) unless `deleteVolumeOnDelete` is set.
pub(crate) fn embedded(ctx: &Ctx) -> Vec<Child> {
    let spec = &ctx.plant.spec.database.embedded;
    let name = ctx.names.db();
    let labels = ctx.labels("postgres", "database");
    let service = Child {
        api_version: "v1",
        kind: "Service",
        plural: "services",
        name: name.clone(),
        body: json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": ctx.meta(&name, &labels),
            "spec": {
                "clusterIP": "None",
                "selector": ctx.selector("postgres"),
                "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres", "protocol": "TCP"}],
            },
        }),
    };
    let mut claim_spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.storage_size}},
    });
    if let Some(class) = &spec.storage_class {
        claim_spec["storageClassName"] = json!(class);
    }
    let when_deleted = if spec.delete_volume_on_delete {
        "Delete"
    } else {
        "Retain"
    };
    let probe = |period: i32| {
        json!({
            "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "mes", "-d", "mes"]},
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        })
    };
    let statefulset = Child {
        api_version: "apps/v1",
        kind: "StatefulSet",
        plural: "statefulsets",
        name: name.clone(),
        body: json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": ctx.meta(&name, &labels),
            "spec": {
                "replicas": 1,
                "serviceName": name,
                "selector": {"matchLabels": ctx.selector("postgres")},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": when_deleted, "whenScaled": "Retain"},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": pod_security(POSTGRES_UID),
                        "containers": [{
                            "name": "postgres",
                            "image": spec.image,
                            "ports": [{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}],
                            "envFrom": [{"secretRef": {"name": name}}],
                            "env": [{"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                            "securityContext": container_security(),
                            "resources": resources(spec.resources.as_ref(), ("250m", "512Mi", "1Gi")),
                            "readinessProbe": probe(10),
                            "livenessProbe": probe(20),
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                {"name": "run", "mountPath": "/var/run/postgresql"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }],
                        "volumes": [
                            {"name": "run", "emptyDir": {}},
                            {"name": "tmp", "emptyDir": {}},
                        ],
                    },
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data", "labels": ctx.selector("postgres")},
                    "spec": claim_spec,
                }],
            },
        }),
    };
    vec![service, statefulset]
}

/// A CloudNativePG `Cluster` (+ Barman Cloud `ObjectStore` and a `ScheduledBackup` when a backup
/// store is configured; since CloudNativePG 1.26 object-store backups go through that plugin).
pub(crate) fn cloud_native_pg(ctx: &Ctx) -> Vec<Child> {
    let spec = &ctx.plant.spec.database.cloud_native_pg;
    let name = ctx.names.cnpg_cluster();
    let store = format!("{name}-store");
    let labels = ctx.labels("postgres", "database");
    let mut storage = json!({"size": spec.storage_size});
    if let Some(class) = &spec.storage_class {
        storage["storageClass"] = json!(class);
    }
    let mut cluster_spec = json!({
        "instances": spec.instances,
        "storage": storage,
        "bootstrap": {"initdb": {"database": "mes", "owner": "mes"}},
        "enableSuperuserAccess": false,
    });
    let mut out = Vec::new();
    if let Some(backup) = &spec.backup {
        cluster_spec["plugins"] = json!([{
            "name": BARMAN_PLUGIN,
            "isWALArchiver": true,
            "parameters": {"barmanObjectName": store},
        }]);
        let mut configuration = json!({
            "destinationPath": backup.destination_path,
            "s3Credentials": {
                "accessKeyId": {"name": backup.credentials_secret, "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": backup.credentials_secret, "key": "ACCESS_SECRET_KEY"},
            },
            "wal": {"compression": "gzip"},
        });
        if let Some(endpoint) = &backup.endpoint_url {
            configuration["endpointURL"] = json!(endpoint);
        }
        out.push(Child {
            api_version: "barmancloud.cnpg.io/v1",
            kind: "ObjectStore",
            plural: "objectstores",
            name: store.clone(),
            body: json!({
                "apiVersion": "barmancloud.cnpg.io/v1",
                "kind": "ObjectStore",
                "metadata": ctx.meta(&store, &labels),
                "spec": {"configuration": configuration, "retentionPolicy": backup.retention_policy},
            }),
        });
        let scheduled = format!("{name}-daily");
        out.push(Child {
            api_version: CNPG_API_VERSION,
            kind: "ScheduledBackup",
            plural: "scheduledbackups",
            name: scheduled.clone(),
            body: json!({
                "apiVersion": CNPG_API_VERSION,
                "kind": "ScheduledBackup",
                "metadata": ctx.meta(&scheduled, &labels),
                "spec": {
                    "schedule": backup.schedule,
                    "backupOwnerReference": "self",
                    "cluster": {"name": name},
                    "method": "plugin",
                    "pluginConfiguration": {"name": BARMAN_PLUGIN},
                },
            }),
        });
        if let Some(pitr) = &spec.pitr {
            cluster_spec["bootstrap"] = json!({"recovery": {
                "source": "origin",
                "database": "mes",
                "owner": "mes",
                "recoveryTarget": {"targetTime": pitr.target_time},
            }});
            cluster_spec["externalClusters"] = json!([{
                "name": "origin",
                "plugin": {
                    "name": BARMAN_PLUGIN,
                    "parameters": {"barmanObjectName": store, "serverName": name},
                },
            }]);
        }
    }
    out.insert(
        0,
        Child {
            api_version: CNPG_API_VERSION,
            kind: "Cluster",
            plural: "clusters",
            name: name.clone(),
            body: json!({
                "apiVersion": CNPG_API_VERSION,
                "kind": "Cluster",
                "metadata": ctx.meta(&name, &labels),
                "spec": cluster_spec,
            }),
        },
    );
    out
}
