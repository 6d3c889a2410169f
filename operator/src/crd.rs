//! The custom resources (SPEC §6): `MesPlant` and `ProductionLine` in `mes.smartfactory.io/v1alpha1`.
//!
//! The OpenAPI schema comes from these types (schemars), with patterns, enums, minimums and
//! defaults; rules spanning several fields are CEL (`x-kubernetes-validations`). `crdgen` writes
//! the YAML under `crds/`.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const GROUP: &str = "mes.smartfactory.io";

// ---------------------------------------------------------------------------------------------
// MesPlant
// ---------------------------------------------------------------------------------------------

/// One plant's MES: database, mes-api, dashboard, infra-api and backups in one namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "mes.smartfactory.io",
    version = "v1alpha1",
    kind = "MesPlant",
    namespaced,
    status = "MesPlantStatus",
    shortname = "mp",
    category = "mes",
    printcolumn = r#"{"name":"PLANT","type":"string","jsonPath":".spec.plantCode"}"#,
    printcolumn = r#"{"name":"DATABASE","type":"string","jsonPath":".spec.database.mode"}"#,
    printcolumn = r#"{"name":"PHASE","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"READY","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MesPlantSpec {
    /// Two upper-case letters, e.g. `KR`; part of every LOT number.
    #[schemars(regex(pattern = r"^[A-Z]{2}$"))]
    pub plant_code: String,
    /// LOT number prefix.
    #[serde(default = "default_lot_prefix")]
    #[schemars(regex(pattern = r"^[A-Z0-9]{1,8}$"))]
    pub lot_prefix: String,
    /// IANA time zone of the plant (production date and shifts).
    #[serde(default = "default_timezone")]
    #[schemars(length(min = 1, max = 64))]
    pub timezone: String,
    #[serde(default)]
    pub shifts: ShiftsSpec,
    /// Image tag of mes-api, dashboard and infra-api.
    #[serde(default = "default_version")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"))]
    pub version: String,
    /// Registry and path the images are pulled from (`<registry>/mes-api:<version>`).
    #[serde(default = "default_image_registry")]
    #[schemars(length(min = 1, max = 255))]
    pub image_registry: String,
    #[serde(default)]
    pub database: DatabaseSpec,
    #[serde(default)]
    pub backend: BackendSpec,
    #[serde(default)]
    pub dashboard: DashboardSpec,
    #[serde(default)]
    pub infra: InfraSpec,
    #[serde(default)]
    pub auth: AuthSpec,
    #[serde(default)]
    pub backup: BackupSpec,
}

fn default_lot_prefix() -> String {
    "FN".into()
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_version() -> String {
    env!("CARGO_PKG_VERSION").into()
}
fn default_image_registry() -> String {
    "registry.smartfactory.io/mes".into()
}

/// Start of the day and night shifts (local time, `HH:MM`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShiftsSpec {
    #[serde(default = "default_day_start")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub day_start: String,
    #[serde(default = "default_night_start")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub night_start: String,
}

impl Default for ShiftsSpec {
    fn default() -> Self {
        Self {
            day_start: default_day_start(),
            night_start: default_night_start(),
        }
    }
}
fn default_day_start() -> String {
    "08:00".into()
}
fn default_night_start() -> String {
    "20:00".into()
}

/// Where PostgreSQL comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DatabaseMode {
    /// A single-instance StatefulSet rendered by the operator.
    #[default]
    Embedded,
    /// A `postgresql.cnpg.io/v1` Cluster (the CloudNativePG operator must be installed).
    CloudNativePG,
    /// An existing database; `DATABASE_URL` comes from a Secret.
    External,
}

impl std::fmt::Display for DatabaseMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Embedded => "Embedded",
            Self::CloudNativePG => "CloudNativePG",
            Self::External => "External",
        })
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("self.mode != 'External' || (has(self.external) && has(self.external.secretRef))").message("database.external.secretRef is required when database.mode is External"))]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    #[serde(default)]
    pub mode: DatabaseMode,
    #[serde(default)]
    pub embedded: EmbeddedDatabaseSpec,
    #[serde(default, rename = "cloudNativePG")]
    pub cloud_native_pg: CloudNativePgSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalDatabaseSpec>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedDatabaseSpec {
    /// PostgreSQL image (15 or newer).
    #[serde(default = "default_postgres_image")]
    pub image: String,
    #[serde(default = "default_storage_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub storage_size: String,
    /// Storage class of the data volume; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
    /// Delete the data volume with the MesPlant (default: the volume is kept).
    #[serde(default)]
    pub delete_volume_on_delete: bool,
}

impl Default for EmbeddedDatabaseSpec {
    fn default() -> Self {
        Self {
            image: default_postgres_image(),
            storage_size: default_storage_size(),
            storage_class: None,
            resources: None,
            delete_volume_on_delete: false,
        }
    }
}
fn default_postgres_image() -> String {
    "docker.io/library/postgres:17.6".into()
}
fn default_storage_size() -> String {
    "10Gi".into()
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.pitr) || has(self.backup)").message("cloudNativePG.pitr needs cloudNativePG.backup (the object store to recover from)"))]
#[serde(rename_all = "camelCase")]
pub struct CloudNativePgSpec {
    #[serde(default = "default_instances")]
    #[schemars(range(min = 1, max = 9))]
    pub instances: i32,
    #[serde(default = "default_storage_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub storage_size: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Continuous backup (WAL archive + base backups) to an object store through the Barman Cloud
    /// plugin (CloudNativePG ≥ 1.26).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<CnpgBackupSpec>,
    /// Bootstrap the cluster by point-in-time recovery from the backup object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitr: Option<PitrSpec>,
}

impl Default for CloudNativePgSpec {
    fn default() -> Self {
        Self {
            instances: default_instances(),
            storage_size: default_storage_size(),
            storage_class: None,
            backup: None,
            pitr: None,
        }
    }
}
fn default_instances() -> i32 {
    3
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CnpgBackupSpec {
    /// e.g. `s3://bucket/plant-kr`.
    #[schemars(length(min = 1))]
    pub destination_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Secret with `ACCESS_KEY_ID` and `ACCESS_SECRET_KEY`.
    #[schemars(length(min = 1))]
    pub credentials_secret: String,
    /// Six-field cron (seconds first) of the ScheduledBackup.
    #[serde(default = "default_cnpg_schedule")]
    pub schedule: String,
    /// e.g. `30d`.
    #[serde(default = "default_retention_policy")]
    #[schemars(regex(pattern = r"^[1-9][0-9]*[dwm]$"))]
    pub retention_policy: String,
}
fn default_cnpg_schedule() -> String {
    "0 0 2 * * *".into()
}
fn default_retention_policy() -> String {
    "30d".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PitrSpec {
    /// RFC 3339 time to recover to.
    #[schemars(length(min = 1))]
    pub target_time: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDatabaseSpec {
    pub secret_ref: SecretKeyRef,
}

/// A key of a Secret in the plant's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default = "default_database_url_key")]
    pub key: String,
}
fn default_database_url_key() -> String {
    "DATABASE_URL".into()
}

/// Container resources (quantities as strings, e.g. `cpu: 250m`, `memory: 256Mi`); rendered
/// defaults apply when absent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesSpec {
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendSpec {
    #[serde(default = "default_backend_replicas")]
    #[schemars(range(min = 1, max = 20))]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
    /// Addresses or CIDR networks of the proxies in front of mes-api — the dashboard's pods and
    /// the ingress controller, i.e. usually the cluster's pod network (e.g. `10.244.0.0/16`).
    /// Their `X-Forwarded-For` names the client for login rate limits and the audit trail;
    /// when empty, every browser behind the dashboard counts as the dashboard's address. Never
    /// list the networks the browsers and stations themselves are on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub trusted_proxies: Vec<String>,
}
impl Default for BackendSpec {
    fn default() -> Self {
        Self {
            replicas: default_backend_replicas(),
            resources: None,
            trusted_proxies: Vec::new(),
        }
    }
}
fn default_backend_replicas() -> i32 {
    2
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSpec {
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 20))]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
    /// Expose the dashboard through an Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
}
impl Default for DashboardSpec {
    fn default() -> Self {
        Self {
            replicas: 1,
            resources: None,
            ingress: None,
        }
    }
}
fn one() -> i32 {
    1
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    #[schemars(regex(
        pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ))]
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// TLS Secret for `host`; plain HTTP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InfraSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_hubble")]
    pub hubble_relay_address: String,
    /// TLS towards Hubble Relay (Cilium's `hubble.relay.tls.server.enabled`); plain HTTP/2
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubble_tls: Option<HubbleTlsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}
impl Default for InfraSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            hubble_relay_address: default_hubble(),
            hubble_tls: None,
            resources: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HubbleTlsSpec {
    /// Secret in the plant's namespace with `ca.crt` (the CA that signed the relay's
    /// certificate) and, for mutual TLS, `tls.crt` and `tls.key` — the shape of Cilium's
    /// `hubble-relay-client-certs`.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// Present the Secret's `tls.crt`/`tls.key` to the relay (when its mTLS is on).
    #[serde(default)]
    pub mutual: bool,
    /// Name checked against the relay's certificate; default: the host of
    /// `hubbleRelayAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}
fn yes() -> bool {
    true
}
fn default_hubble() -> String {
    "hubble-relay.kube-system.svc:80".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// Secret holding the HS256 key under `secret`; the operator generates `<plant>-jwt` when
    /// absent and never rotates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_secret_ref: Option<String>,
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 60, max = 86400))]
    pub token_ttl_seconds: i32,
    /// Secret with `username` and `password` of the first admin; the operator generates
    /// `<plant>-admin` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_secret_ref: Option<String>,
}
impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            jwt_secret_ref: None,
            token_ttl_seconds: default_ttl(),
            admin_secret_ref: None,
        }
    }
}
fn default_ttl() -> i32 {
    3600
}

/// pg_dump CronJob of the Embedded database (CloudNativePG backs up through its own ScheduledBackup).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Five-field cron.
    #[serde(default = "default_backup_schedule")]
    #[schemars(length(min = 9, max = 100))]
    pub schedule: String,
    /// Dumps kept on the backup volume.
    #[serde(default = "default_retention_days")]
    #[schemars(range(min = 1, max = 365))]
    pub retention_days: i32,
    #[serde(default = "default_backup_storage")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub storage_size: String,
}
impl Default for BackupSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            schedule: default_backup_schedule(),
            retention_days: default_retention_days(),
            storage_size: default_backup_storage(),
        }
    }
}
fn default_backup_schedule() -> String {
    "0 2 * * *".into()
}
fn default_retention_days() -> i32 {
    7
}
fn default_backup_storage() -> String {
    "20Gi".into()
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PlantPhase {
    Pending,
    Provisioning,
    Ready,
    Degraded,
    Deleting,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MesPlantStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PlantPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// DatabaseReady, BackendReady, DashboardReady, InfraReady, Ready.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<PlantEndpoints>,
    /// Codes of the ProductionLines synced into this plant.
    #[serde(default)]
    pub lines: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlantEndpoints {
    /// In-cluster URL of mes-api.
    pub api: String,
    pub dashboard: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra: Option<String>,
    /// External URL when an Ingress is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<String>,
}

/// The Kubernetes `metav1.Condition` shape.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// RFC 3339.
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// ProductionLine
// ---------------------------------------------------------------------------------------------

/// A production line's routing, synced into its plant's mes-api.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mes.smartfactory.io",
    version = "v1alpha1",
    kind = "ProductionLine",
    namespaced,
    status = "ProductionLineStatus",
    shortname = "pl",
    category = "mes",
    printcolumn = r#"{"name":"PLANT","type":"string","jsonPath":".spec.plantRef"}"#,
    printcolumn = r#"{"name":"LINE","type":"string","jsonPath":".spec.lineCode"}"#,
    printcolumn = r#"{"name":"PROCESSES","type":"integer","jsonPath":".status.processCount"}"#,
    printcolumn = r#"{"name":"WIP","type":"integer","jsonPath":".status.wip"}"#,
    printcolumn = r#"{"name":"YIELD","type":"number","jsonPath":".status.yieldPercent"}"#,
    printcolumn = r#"{"name":"SYNCED","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.processes.all(p, self.processes.exists_one(q, q.code == p.code))").message("process codes must be unique"))]
#[x_kube(validation = Rule::new("self.processes.all(p, self.processes.exists_one(q, q.sequence == p.sequence) && p.sequence <= size(self.processes))").message("process sequences must be unique and contiguous from 1"))]
#[x_kube(validation = Rule::new("self.stations.all(s, self.processes.exists(p, p.code == s.processCode))").message("every station's processCode must name a process of this line"))]
#[serde(rename_all = "camelCase")]
pub struct ProductionLineSpec {
    /// Name of the MesPlant (same namespace) this line belongs to.
    #[schemars(length(min = 1, max = 253))]
    pub plant_ref: String,
    #[schemars(regex(pattern = r"^[A-Z0-9][A-Z0-9-]{0,15}$"))]
    pub line_code: String,
    #[schemars(length(min = 1, max = 128))]
    pub display_name: String,
    #[schemars(length(min = 1, max = 32))]
    pub processes: Vec<ProcessSpec>,
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub stations: Vec<StationSpec>,
    /// Model codes this line builds; empty: any.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub product_models: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessSpec {
    #[schemars(regex(pattern = r"^[A-Z0-9_]{1,16}$"))]
    pub code: String,
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Position in the routing, 1..=n.
    #[schemars(range(min = 1, max = 32))]
    pub sequence: i32,
    #[schemars(range(min = 1))]
    pub standard_cycle_time_seconds: i32,
    /// JSON Schema of this process's `process_specific_data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub data_schema: Option<JsonText>,
}

/// A free-form JSON document held as compact text. Data schemas are only passed through to
/// mes-api; as `serde_json::Value` trees they cost several times their size, and a thousand
/// lines' schemas were most of the operator's memory. (De)serializes as the JSON it holds, in
/// any format; keys are sorted, so equal documents compare equal.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonText(String);

impl JsonText {
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        Self(value.to_string())
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::from)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StationSpec {
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    #[schemars(length(min = 1, max = 16))]
    pub process_code: String,
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub equipment_ids: Vec<String>,
}

fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductionLineStatus {
    /// Synced, Ready.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Number of processes of the synced routing (printer column PROCESSES; a printer column
    /// shows only the first value of a list, so it cannot count `spec.processes` itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<i32>,
    /// Generation last written to mes-api.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wip: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_today: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yield_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_per_hour: Option<f64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn minimal_plant_gets_defaults() {
        let spec: MesPlantSpec =
            serde_json::from_value(serde_json::json!({"plantCode": "KR"})).unwrap();
        assert_eq!(spec.lot_prefix, "FN");
        assert_eq!(spec.database.mode, DatabaseMode::Embedded);
        assert_eq!(spec.backend.replicas, 2);
        assert!(spec.infra.enabled);
        assert_eq!(spec.auth.token_ttl_seconds, 3600);
        assert_eq!(spec.shifts.day_start, "08:00");
    }

    #[test]
    fn json_text_round_trips_and_compares_by_content() {
        let a: JsonText =
            serde_json::from_str(r#"{"type": "object", "b": [1, {"c": null}]}"#).unwrap();
        let b: JsonText = serde_json::from_str(r#"{"b":[1,{"c":null}],"type":"object"}"#).unwrap();
        assert_eq!(a, b, "key order does not matter");
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!({"type": "object", "b": [1, {"c": null}]})
        );
        let from_yaml: JsonText = yaml_serde::from_str("type: object\nminimum: 1.5\n").unwrap();
        assert_eq!(
            from_yaml.to_value(),
            serde_json::json!({"type": "object", "minimum": 1.5})
        );
    }

    #[test]
    fn schema_carries_patterns_and_cel_rules() {
        let plant = serde_json::to_string(&MesPlant::crd()).unwrap();
        assert!(plant.contains(r#""pattern":"^[A-Z]{2}$""#));
        assert!(plant.contains("database.external.secretRef is required"));
        assert!(plant.contains(r#""enum":["Embedded","CloudNativePG","External"]"#));
        let line = serde_json::to_string(&ProductionLine::crd()).unwrap();
        assert!(line.contains("process codes must be unique"));
        assert!(line.contains("x-kubernetes-preserve-unknown-fields"));
    }
}
