//! Test helpers standing in for the controllers that do not run here: mark a Deployment or
//! StatefulSet ready as its controller would report it, and create the pods (with statuses and
//! log lines) a workload would own.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::KubeDouble;
use crate::apply::{self, Section};
use crate::logs::{ContainerLog, timestamp};
use crate::store::GroupResource;

/// How the pods of [`KubeDouble::create_pods_for`] look.
#[derive(Debug, Clone)]
pub struct PodTemplate {
    /// Number of pods; defaults to the workload's `spec.replicas` (1 when unset).
    pub count: Option<usize>,
    pub phase: String,
    pub ready: bool,
    pub restart_count: u32,
    /// Lines every container has logged.
    pub logs: Vec<String>,
    /// Lines of the previous container instance (served with `previous=true`).
    pub previous_logs: Option<Vec<String>>,
}

impl Default for PodTemplate {
    fn default() -> Self {
        Self {
            count: None,
            phase: "Running".into(),
            ready: true,
            restart_count: 0,
            logs: Vec::new(),
            previous_logs: None,
        }
    }
}

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Keeps a condition's transition time when its status did not change, so that marking an
/// already-ready workload again is a no-op write.
fn condition(old: &Value, type_: &str, reason: &str, message: &str) -> Value {
    let prev = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == type_ && c["status"] == "True")
        });
    let now = apply::now_rfc3339();
    let t = |k: &str| prev.and_then(|p| p.get(k)).cloned().unwrap_or(json!(now));
    json!({"type": type_, "status": "True", "reason": reason, "message": message,
           "lastUpdateTime": t("lastUpdateTime"), "lastTransitionTime": t("lastTransitionTime")})
}

/// A short stable hash, standing in for pod-template-hash / controller-revision-hash.
fn template_hash(v: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("{:x}", h)[..10].to_string()
}

fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"],
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    })
}

impl KubeDouble {
    fn write_status(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        status: Value,
    ) -> anyhow::Result<Value> {
        let info = self.resolve(api_version, kind)?;
        let mut inner = self.shared.store.lock();
        let old = inner.get(&info, ns, name).map_err(anyhow::Error::new)?;
        let mut new = old.value.clone();
        new["status"] = status;
        let key = (ns.to_string(), name.to_string());
        let stored = inner
            .system_write(
                &GroupResource::of(&info),
                &key,
                new,
                Section::Status,
                "kube-controller-manager",
            )
            .map_err(anyhow::Error::new)?;
        Ok(stored.value.clone())
    }

    /// Fills a Deployment's status as the deployment controller does once all replicas are
    /// available. Marking an already-ready Deployment again changes nothing.
    pub fn mark_deployment_ready(&self, ns: &str, name: &str) -> anyhow::Result<Value> {
        let d = self
            .get("apps/v1", "Deployment", ns, name)
            .with_context(|| format!("deployment {ns}/{name}"))?;
        let r = replicas(&d);
        let status = json!({
            "observedGeneration": d.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            "replicas": r, "updatedReplicas": r, "readyReplicas": r, "availableReplicas": r,
            "conditions": [
                condition(&d, "Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                condition(&d, "Progressing", "NewReplicaSetAvailable", &format!("ReplicaSet \"{name}\" has successfully progressed.")),
            ],
        });
        self.write_status("apps/v1", "Deployment", ns, name, status)
    }

    /// Fills a StatefulSet's status as the statefulset controller does once all pods are ready.
    pub fn mark_statefulset_ready(&self, ns: &str, name: &str) -> anyhow::Result<Value> {
        let s = self
            .get("apps/v1", "StatefulSet", ns, name)
            .with_context(|| format!("statefulset {ns}/{name}"))?;
        let r = replicas(&s);
        let revision = format!("{name}-{}", template_hash(&s["spec"]["template"]));
        let status = json!({
            "observedGeneration": s.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            "replicas": r, "readyReplicas": r, "currentReplicas": r, "updatedReplicas": r,
            "availableReplicas": r, "currentRevision": revision, "updateRevision": revision,
            "collisionCount": 0,
        });
        self.write_status("apps/v1", "StatefulSet", ns, name, status)
    }

    /// Creates the pods a workload owns (for a Deployment, through a ReplicaSet as the real
    /// controllers do), with statuses and log lines. Returns the pod names.
    pub fn create_pods_for(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        tpl: &PodTemplate,
    ) -> anyhow::Result<Vec<String>> {
        let api_version = match kind {
            "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet" => "apps/v1",
            "Job" => "batch/v1",
            other => anyhow::bail!("create_pods_for does not know workload kind {other}"),
        };
        let workload = self
            .get(api_version, kind, ns, name)
            .with_context(|| format!("{kind} {ns}/{name}"))?;
        let template = workload
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(json!({}));
        let hash = template_hash(&template);
        let count = tpl.count.unwrap_or(replicas(&workload).max(0) as usize);
        let mut labels = template
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        let (owner, prefix) = if kind == "Deployment" {
            labels["pod-template-hash"] = json!(hash);
            let rs_name = format!("{name}-{hash}");
            let rs = match self.get("apps/v1", "ReplicaSet", ns, &rs_name) {
                Some(rs) => rs,
                None => {
                    let mut rs_template = template.clone();
                    rs_template["metadata"]["labels"] = labels.clone();
                    let mut selector = workload
                        .pointer("/spec/selector")
                        .cloned()
                        .unwrap_or(json!({}));
                    selector["matchLabels"]["pod-template-hash"] = json!(hash);
                    self.seed(json!({
                        "apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": rs_name, "namespace": ns, "labels": labels,
                                     "ownerReferences": [owner_ref(&workload)]},
                        "spec": {"replicas": count, "selector": selector, "template": rs_template},
                        "status": {"replicas": count, "readyReplicas": count, "availableReplicas": count},
                    }))?
                }
            };
            (rs, format!("{rs_name}-"))
        } else {
            (workload.clone(), format!("{name}-"))
        };
        let containers: Vec<Value> = template
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut names = Vec::new();
        for i in 0..count {
            let pod_name = if kind == "StatefulSet" {
                format!("{prefix}{i}")
            } else {
                format!("{prefix}{}", crate::store::random_suffix())
            };
            let mut pod_labels = labels.clone();
            if kind == "StatefulSet" {
                pod_labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
                pod_labels["controller-revision-hash"] = json!(format!("{name}-{hash}"));
            }
            let now = apply::now_rfc3339();
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| {
                    let state = if tpl.phase == "Running" {
                        json!({"running": {"startedAt": now}})
                    } else {
                        json!({"waiting": {"reason": "ContainerCreating"}})
                    };
                    json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": tpl.ready,
                           "started": tpl.phase == "Running", "restartCount": tpl.restart_count, "state": state})
                })
                .collect();
            let ready = if tpl.ready { "True" } else { "False" };
            let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
            spec["nodeName"] = json!("kube-double-node");
            self.seed(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns, "labels": pod_labels,
                             "ownerReferences": [owner_ref(&owner)]},
                "spec": spec,
                "status": {
                    "phase": tpl.phase, "podIP": format!("10.0.{}.{}", i / 250, i % 250 + 2),
                    "hostIP": "10.1.0.1", "startTime": now,
                    "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": now},
                                   {"type": "ContainersReady", "status": ready, "lastTransitionTime": now}],
                    "containerStatuses": statuses,
                },
            }))?;
            for c in &containers {
                let container = c["name"].as_str().unwrap_or("").to_string();
                for line in &tpl.logs {
                    self.append_log(ns, &pod_name, &container, line);
                }
                if let Some(prev) = &tpl.previous_logs {
                    self.set_previous_log(ns, &pod_name, &container, prev);
                }
            }
            names.push(pod_name);
        }
        Ok(names)
    }

    /// Appends one line to a container's log (wakes `follow=true` readers).
    pub fn append_log(&self, ns: &str, pod: &str, container: &str, line: &str) {
        self.shared.logs.with(|logs| {
            logs.entry((ns.into(), pod.into(), container.into()))
                .or_insert_with(ContainerLog::default)
                .current
                .push((timestamp(), line.to_string()));
        });
    }

    pub fn set_previous_log(&self, ns: &str, pod: &str, container: &str, lines: &[String]) {
        self.shared.logs.with(|logs| {
            logs.entry((ns.into(), pod.into(), container.into()))
                .or_insert_with(ContainerLog::default)
                .previous = Some(lines.iter().map(|l| (timestamp(), l.clone())).collect());
        });
    }

    /// Marks a container's log as complete: `follow=true` streams end after the last line.
    pub fn finish_log(&self, ns: &str, pod: &str, container: &str) {
        self.shared.logs.with(|logs| {
            logs.entry((ns.into(), pod.into(), container.into()))
                .or_insert_with(ContainerLog::default)
                .finished = true;
        });
    }
}
