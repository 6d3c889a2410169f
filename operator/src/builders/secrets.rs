//! Secrets the operator generates once: the JWT signing key and the bootstrap admin.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::json;

use super::{Child, Ctx};

/// Fresh random values for Secrets created on first reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedValues {
    pub jwt_key: String,
    pub admin_password: String,
    pub db_password: String,
}

impl GeneratedValues {
    pub fn random() -> Self {
        let token = |n| -> String {
            rand::rng()
                .sample_iter(&Alphanumeric)
                .take(n)
                .map(char::from)
                .collect()
        };
        Self {
            jwt_key: token(64),
            admin_password: token(24),
            db_password: token(32),
        }
    }
}

/// An Opaque Secret created once.
pub(crate) fn secret(ctx: &Ctx, name: &str, component: &str, data: serde_json::Value) -> Child {
    Child {
        api_version: "v1",
        kind: "Secret",
        plural: "secrets",
        name: name.to_string(),
        body: json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": ctx.meta(name, &ctx.labels("mes", component)),
            "type": "Opaque",
            "stringData": data,
        }),
    }
}

/// The JWT and admin Secrets, unless the spec names existing ones.
pub(crate) fn generated(ctx: &Ctx, values: &GeneratedValues) -> Vec<Child> {
    let auth = &ctx.plant.spec.auth;
    let mut out = Vec::new();
    if auth.jwt_secret_ref.is_none() {
        out.push(secret(
            ctx,
            &ctx.names.jwt_secret(),
            "auth",
            json!({"secret": values.jwt_key}),
        ));
    }
    if auth.admin_secret_ref.is_none() {
        out.push(secret(
            ctx,
            &ctx.names.admin_secret(),
            "auth",
            json!({"username": "admin", "password": values.admin_password}),
        ));
    }
    out
}

pub(crate) fn jwt_secret_name(ctx: &Ctx) -> String {
    ctx.plant
        .spec
        .auth
        .jwt_secret_ref
        .clone()
        .unwrap_or_else(|| ctx.names.jwt_secret())
}

pub(crate) fn admin_secret_name(ctx: &Ctx) -> String {
    ctx.plant
        .spec
        .auth
        .admin_secret_ref
        .clone()
        .unwrap_or_else(|| ctx.names.admin_secret())
}
