//! MesPlant → the exact objects the operator keeps in the cluster. Pure functions, no IO: the
//! reconciler applies what these return, and the golden tests pin every field.

mod backend;
mod backup;
mod dashboard;
mod database;
mod infra;
mod pod;
mod secrets;

use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use crate::crd::{DatabaseMode, MesPlant};

pub use database::{CNPG_API_VERSION, database_url_source};
pub use secrets::GeneratedValues;

/// The field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "mes-operator";

/// One object the operator owns, ready to send as a server-side apply body.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// Resource plural, e.g. `deployments`.
    pub plural: &'static str,
    pub name: String,
    pub body: Value,
}

/// Everything one MesPlant renders to.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Applied on every reconcile (server-side apply is a no-op when nothing changed).
    pub apply: Vec<Child>,
    /// Created once when absent and never overwritten (generated credentials: rotating them
    /// silently would lock users and the database out).
    pub create_if_absent: Vec<Child>,
}

impl Rendered {
    pub fn all(&self) -> impl Iterator<Item = &Child> {
        self.create_if_absent.iter().chain(self.apply.iter())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BuildError {
    #[error("the MesPlant has no namespace")]
    NoNamespace,
    #[error("the MesPlant has no uid yet (not stored by the API server)")]
    NoUid,
    #[error("spec.database.mode is External but spec.database.external.secretRef is missing")]
    ExternalWithoutSecret,
    #[error("spec.backend.trustedProxies: `{0}` is neither an IP address nor a CIDR network")]
    InvalidTrustedProxy(String),
}

/// Child object names, derived from the plant's name.
#[derive(Debug, Clone)]
pub struct Names {
    pub plant: String,
}

impl Names {
    pub fn of(plant: &MesPlant) -> Self {
        Self {
            plant: plant.name_any(),
        }
    }
    pub fn api(&self) -> String {
        format!("{}-api", self.plant)
    }
    pub fn dashboard(&self) -> String {
        format!("{}-dashboard", self.plant)
    }
    pub fn infra(&self) -> String {
        format!("{}-infra", self.plant)
    }
    pub fn db(&self) -> String {
        format!("{}-db", self.plant)
    }
    pub fn cnpg_cluster(&self) -> String {
        format!("{}-pg", self.plant)
    }
    pub fn backup(&self) -> String {
        format!("{}-backup", self.plant)
    }
    pub fn jwt_secret(&self) -> String {
        format!("{}-jwt", self.plant)
    }
    pub fn admin_secret(&self) -> String {
        format!("{}-admin", self.plant)
    }
}

/// What every builder needs: the plant, its names, namespace and owner reference.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub plant: &'a MesPlant,
    pub names: Names,
    pub namespace: String,
    owner: Value,
}

impl<'a> Ctx<'a> {
    fn new(plant: &'a MesPlant) -> Result<Self, BuildError> {
        let namespace = plant.namespace().ok_or(BuildError::NoNamespace)?;
        let owner = plant.controller_owner_ref(&()).ok_or(BuildError::NoUid)?;
        let owner = serde_json::to_value(owner).unwrap_or(Value::Null);
        Ok(Self {
            plant,
            names: Names::of(plant),
            namespace,
            owner,
        })
    }

    /// `app.kubernetes.io/*` labels of one component.
    pub fn labels(&self, name: &str, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/instance": self.names.plant,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "mes",
            "app.kubernetes.io/version": self.plant.spec.version,
            "app.kubernetes.io/managed-by": FIELD_MANAGER,
        })
    }

    /// The immutable subset used in selectors.
    pub fn selector(&self, name: &str) -> Value {
        json!({
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/instance": self.names.plant,
        })
    }

    /// Metadata of an owned child.
    pub fn meta(&self, name: &str, labels: &Value) -> Value {
        json!({
            "name": name,
            "namespace": self.namespace,
            "labels": labels,
            "ownerReferences": [self.owner],
        })
    }

    /// Metadata of a child that outlives the plant (no owner reference).
    pub fn meta_unowned(&self, name: &str, labels: &Value) -> Value {
        json!({"name": name, "namespace": self.namespace, "labels": labels})
    }

    pub fn image(&self, component: &str) -> String {
        let spec = &self.plant.spec;
        format!(
            "{}/{component}:{}",
            spec.image_registry.trim_end_matches('/'),
            spec.version
        )
    }
}

/// Renders every object of `plant`. `generated` supplies fresh credentials for the Secrets that
/// are created once; it is ignored for Secrets that already exist.
pub fn render(plant: &MesPlant, generated: &GeneratedValues) -> Result<Rendered, BuildError> {
    let ctx = Ctx::new(plant)?;
    let spec = &plant.spec;
    let mut apply = Vec::new();
    let mut create_if_absent = secrets::generated(&ctx, generated);

    match spec.database.mode {
        DatabaseMode::Embedded => {
            create_if_absent.push(database::embedded_credentials(&ctx, generated));
            apply.extend(database::embedded(&ctx));
            if spec.backup.enabled {
                apply.extend(backup::embedded(&ctx));
            }
        }
        DatabaseMode::CloudNativePG => apply.extend(database::cloud_native_pg(&ctx)),
        DatabaseMode::External => {
            if spec.database.external.is_none() {
                return Err(BuildError::ExternalWithoutSecret);
            }
        }
    }
    apply.extend(backend::objects(&ctx)?);
    apply.extend(dashboard::objects(&ctx));
    if spec.infra.enabled {
        apply.extend(infra::objects(&ctx));
    }
    Ok(Rendered {
        apply,
        create_if_absent,
    })
}

/// Name of the Secret holding the plant's HS256 key (under `secret`): the referenced one, else the
/// generated `<plant>-jwt`.
pub fn jwt_secret_name(plant: &MesPlant) -> String {
    plant
        .spec
        .auth
        .jwt_secret_ref
        .clone()
        .unwrap_or_else(|| Names::of(plant).jwt_secret())
}

/// In-cluster endpoints reported in the plant's status.
pub fn endpoints(plant: &MesPlant) -> crate::crd::PlantEndpoints {
    let names = Names::of(plant);
    let ns = plant.namespace().unwrap_or_default();
    crate::crd::PlantEndpoints {
        api: format!("http://{}.{ns}.svc:8080", names.api()),
        dashboard: format!("http://{}.{ns}.svc:8080", names.dashboard()),
        infra: plant
            .spec
            .infra
            .enabled
            .then(|| format!("http://{}.{ns}.svc:8081", names.infra())),
        external: plant.spec.dashboard.ingress.as_ref().map(|i| {
            let scheme = if i.tls_secret_name.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", i.host)
        }),
    }
}

/// A Service selecting one component.
pub(crate) fn service(ctx: &Ctx, name: &str, app: &str, component: &str, port: i32) -> Child {
    Child {
        api_version: "v1",
        kind: "Service",
        plural: "services",
        name: name.to_string(),
        body: json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": ctx.meta(name, &ctx.labels(app, component)),
            "spec": {
                "type": "ClusterIP",
                "selector": ctx.selector(app),
                "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
            },
        }),
    }
}

#[cfg(test)]
mod tests;
