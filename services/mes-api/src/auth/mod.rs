//! Authentication (JWT for people, API tokens for stations) and RBAC from the permission table.

pub mod jwt;
pub mod password;
pub mod rate_limit;
pub mod station_token;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    Admin,
    Supervisor,
    Operator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Supervisor, Role::Operator];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Supervisor => "SUPERVISOR",
            Role::Operator => "OPERATOR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a permission protects (seed 001 §7.2, plus MASTER data and AUDIT history).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Process,
    Lot,
    Serial,
    User,
    Report,
    Master,
    Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission(pub Resource, pub Action);

impl Resource {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PROCESS" => Self::Process,
            "LOT" => Self::Lot,
            "SERIAL" => Self::Serial,
            "USER" => Self::User,
            "REPORT" => Self::Report,
            "MASTER" => Self::Master,
            "AUDIT" => Self::Audit,
            _ => return None,
        })
    }
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CREATE" => Self::Create,
            "READ" => Self::Read,
            "UPDATE" => Self::Update,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }
}

/// Who is calling: a person (JWT) or a station (API token, always OPERATOR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    pub kind: PrincipalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    User { id: i32, username: String },
    Station { token_id: i32, name: String },
}

impl Principal {
    /// The name written to audit_log.changed_by and used to scope idempotency keys.
    pub fn actor(&self) -> String {
        match &self.kind {
            PrincipalKind::User { username, .. } => username.clone(),
            PrincipalKind::Station { name, .. } => format!("station:{name}"),
        }
    }
}

/// Snapshot of the permission table and of deactivated users, refreshed from the database
/// periodically, so that checking a request costs no query while an ADMIN's change reaches every
/// replica within [`ACCESS_REFRESH`].
#[derive(Debug, Default)]
pub struct AccessControl {
    snapshot: RwLock<AccessSnapshot>,
}

#[derive(Debug, Default)]
struct AccessSnapshot {
    grants: HashSet<(Role, Permission)>,
    inactive_users: HashSet<i32>,
}

pub const ACCESS_REFRESH: Duration = Duration::from_secs(5);

impl AccessControl {
    pub async fn load(db: &PgPool) -> Result<Self, sqlx::Error> {
        let me = Self::default();
        me.refresh(db).await?;
        Ok(me)
    }

    pub async fn refresh(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT role, resource, action FROM permissions")
                .fetch_all(db)
                .await?;
        let grants = rows
            .iter()
            .filter_map(|(role, resource, action)| {
                Some((
                    Role::parse(role)?,
                    Permission(Resource::parse(resource)?, Action::parse(action)?),
                ))
            })
            .collect();
        let inactive_users = sqlx::query_scalar("SELECT id FROM users WHERE NOT is_active")
            .fetch_all(db)
            .await?
            .into_iter()
            .collect();
        let mut snapshot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        *snapshot = AccessSnapshot {
            grants,
            inactive_users,
        };
        Ok(())
    }

    pub fn allows(&self, role: Role, permission: Permission) -> bool {
        let snapshot = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        snapshot.grants.contains(&(role, permission))
    }

    fn is_inactive(&self, user_id: i32) -> bool {
        let snapshot = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        snapshot.inactive_users.contains(&user_id)
    }
}

/// Keeps the access snapshot fresh for as long as the process runs.
pub fn spawn_access_refresh(access: Arc<AccessControl>, db: PgPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ACCESS_REFRESH);
        loop {
            tick.tick().await;
            if let Err(e) = access.refresh(&db).await {
                tracing::warn!(error = %e, "could not refresh the permission table");
            }
        }
    });
}

/// Resolves the bearer token of a request into a [`Principal`].
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let header = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "AUTH_REQUIRED",
            "an Authorization: Bearer token is required",
        )
    })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "INVALID_TOKEN",
                "the Authorization header must be `Bearer <token>`",
            )
        })?;

    if station_token::looks_like(token) {
        return state.station_tokens.resolve(&state.db, token).await;
    }
    let claims = state.jwt.verify(token).map_err(|e| match e {
        jwt::TokenError::Expired => ApiError::unauthorized(
            "TOKEN_EXPIRED",
            "the access token has expired; log in again",
        ),
        jwt::TokenError::Invalid => {
            ApiError::unauthorized("INVALID_TOKEN", "the access token is not valid")
        }
    })?;
    if state.access.is_inactive(claims.user_id) {
        return Err(ApiError::unauthorized(
            "USER_INACTIVE",
            "this user has been deactivated",
        ));
    }
    Ok(Principal {
        role: claims.role,
        kind: PrincipalKind::User {
            id: claims.user_id,
            username: claims.sub,
        },
    })
}

/// Route middleware: authenticates, checks `permission` against the table, and hands the
/// [`Principal`] to the handler as a request extension.
/// `None` admits any authenticated principal.
pub async fn require(
    State((state, permission)): State<(AppState, Option<Permission>)>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match authenticate(&state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Some(permission) = permission
        && !state.access.allows(principal.role, permission)
    {
        let Permission(resource, action) = permission;
        return ApiError::forbidden(format!(
            "role {} may not {action:?} {resource:?}",
            principal.role.as_str()
        ))
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}
