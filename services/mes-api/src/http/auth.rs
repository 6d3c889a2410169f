//! `POST /auth/login` and `GET /auth/me`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{PrincipalKind, Role, password};
use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, RequestContext};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub user: UserSummary,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct UserSummary {
    pub id: i32,
    pub username: String,
    pub full_name: Option<String>,
    pub role: Role,
}

#[derive(sqlx::FromRow)]
struct Credentials {
    id: i32,
    username: String,
    full_name: Option<String>,
    role: String,
    hashed_password: String,
    is_active: bool,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = inline(crate::error::Envelope<LoginResponse>)),
              (status = 401, body = crate::error::ErrorEnvelope, description = "INVALID_CREDENTIALS"),
              (status = 429, body = crate::error::ErrorEnvelope, description = "RATE_LIMITED")))]
pub async fn login(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<LoginResponse> {
    if req.username.is_empty()
        || req.username.len() > 50
        || req.password.len() > password::MAX_LENGTH * 4
    {
        return Err(invalid_credentials());
    }
    let addr = ctx.ip.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if let Err(wait) = state.login_limiter.check(&req.username, addr) {
        let secs = wait.as_secs().max(1);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("too many login attempts; retry in {secs} s"),
        )
        .with_details(json!({ "retry_after_seconds": secs }));
        e.retry_after = Some(secs);
        return Err(e);
    }

    let row: Option<Credentials> = sqlx::query_as(
        "SELECT id, username, full_name, role, hashed_password, is_active FROM users WHERE username = $1",
    )
    .bind(&req.username)
    .fetch_optional(&state.db)
    .await?;

    let supplied = req.password.clone();
    let verified = match &row {
        Some(user) => {
            let hash = user.hashed_password.clone();
            tokio::task::spawn_blocking(move || password::verify(&supplied, &hash))
                .await
                .map_err(ApiError::internal)?
        }
        None => {
            tokio::task::spawn_blocking(move || password::burn_verify(&supplied))
                .await
                .map_err(ApiError::internal)?;
            false
        }
    };
    let user = match row {
        Some(user) if verified => user,
        _ => return Err(invalid_credentials()),
    };
    if !user.is_active {
        return Err(ApiError::unauthorized(
            "USER_INACTIVE",
            "this user has been deactivated",
        ));
    }
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::internal("unknown role in users table"))?;

    let login_ctx = RequestContext {
        actor: user.username.clone(),
        ..ctx
    };
    let mut tx = crate::db::begin_write(&state.db, &login_ctx).await?;
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let now = chrono::Utc::now().timestamp();
    let access_token = state
        .jwt
        .issue(user.id, &user.username, role, now)
        .map_err(ApiError::internal)?;
    Ok(ApiResponse::ok(LoginResponse {
        access_token,
        token_type: "bearer".into(),
        expires_in: state.jwt.ttl().as_secs(),
        user: UserSummary {
            id: user.id,
            username: user.username,
            full_name: user.full_name,
            role,
        },
    }))
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("INVALID_CREDENTIALS", "user name or password is wrong")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `user` or `station`.
    pub kind: String,
    pub id: i32,
    pub name: String,
    pub role: Role,
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<Me>)), (status = 401, body = crate::error::ErrorEnvelope)))]
pub async fn me(ctx: RequestContext) -> ApiResult<Me> {
    let principal = ctx.principal()?;
    let (kind, id, name) = match &principal.kind {
        PrincipalKind::User { id, username } => ("user", *id, username.clone()),
        PrincipalKind::Station { token_id, name } => ("station", *token_id, name.clone()),
    };
    Ok(ApiResponse::ok(Me {
        kind: kind.into(),
        id,
        name,
        role: principal.role,
    }))
}
