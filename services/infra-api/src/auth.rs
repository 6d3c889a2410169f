//! Bearer JWTs as issued by mes-api (same keys, claims and error codes); infra read for
//! SUPERVISOR and ADMIN, restarts for ADMIN only.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use mes_api::auth::Role;
use mes_api::auth::jwt::TokenError;
use mes_api::error::ApiError;

use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub user_id: i32,
    pub role: Role,
}

impl User {
    /// Infra read: SUPERVISOR and ADMIN.
    pub fn require_read(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Supervisor => Ok(()),
            Role::Operator => Err(ApiError::forbidden(
                "infra pages need the SUPERVISOR or ADMIN role",
            )),
        }
    }

    /// Restarts: ADMIN only.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::forbidden(
                "restarting a deployment needs the ADMIN role",
            )),
        }
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
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
        let claims = state.jwt.verify(token).map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized(
                "TOKEN_EXPIRED",
                "the access token has expired; log in again",
            ),
            TokenError::Invalid => {
                ApiError::unauthorized("INVALID_TOKEN", "the access token is not valid")
            }
        })?;
        Ok(User {
            name: claims.sub,
            user_id: claims.user_id,
            role: claims.role,
        })
    }
}
