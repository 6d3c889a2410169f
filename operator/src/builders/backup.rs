//! Embedded mode's backup: a pg_dump CronJob writing custom-format dumps to a volume, deleting
//! dumps older than the retention. The volume is kept with the data volume's policy.

use serde_json::json;

use super::pod::{container_security, pod_security, resources};
use super::{Child, Ctx};

pub(crate) fn embedded(ctx: &Ctx) -> Vec<Child> {
    let plant = &ctx.plant.spec;
    let name = ctx.names.backup();
    let labels = ctx.labels("postgres-backup", "backup");
    let pvc_meta = if plant.database.embedded.delete_volume_on_delete {
        ctx.meta(&name, &labels)
    } else {
        ctx.meta_unowned(&name, &labels)
    };
    let mut claim_spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": plant.backup.storage_size}},
    });
    if let Some(class) = &plant.database.embedded.storage_class {
        claim_spec["storageClassName"] = json!(class);
    }
    let script = format!(
        "set -eu\n\
         pg_dump --format=custom --file=\"/backups/mes-$(date -u +%Y%m%dT%H%M%SZ).dump\" \"$DATABASE_URL\"\n\
         find /backups -name 'mes-*.dump' -mtime +{} -delete\n",
        plant.backup.retention_days
    );
    vec![
        Child {
            api_version: "v1",
            kind: "PersistentVolumeClaim",
            plural: "persistentvolumeclaims",
            name: name.clone(),
            body: json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": pvc_meta,
                "spec": claim_spec,
            }),
        },
        Child {
            api_version: "batch/v1",
            kind: "CronJob",
            plural: "cronjobs",
            name: name.clone(),
            body: json!({
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": ctx.meta(&name, &labels),
                "spec": {
                    "schedule": plant.backup.schedule,
                    "timeZone": plant.timezone,
                    "concurrencyPolicy": "Forbid",
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": {"spec": {
                        "backoffLimit": 2,
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "restartPolicy": "OnFailure",
                                "automountServiceAccountToken": false,
                                "securityContext": pod_security(999),
                                "containers": [{
                                    "name": "pg-dump",
                                    "image": plant.database.embedded.image,
                                    "command": ["/bin/sh", "-c", script],
                                    "env": [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": ctx.names.db(), "key": "DATABASE_URL"}}}],
                                    "securityContext": container_security(),
                                    "resources": resources(None, ("100m", "128Mi", "512Mi")),
                                    "volumeMounts": [
                                        {"name": "backups", "mountPath": "/backups"},
                                        {"name": "tmp", "mountPath": "/tmp"},
                                    ],
                                }],
                                "volumes": [
                                    {"name": "backups", "persistentVolumeClaim": {"claimName": name}},
                                    {"name": "tmp", "emptyDir": {}},
                                ],
                            },
                        },
                    }},
                },
            }),
        },
    ]
}
