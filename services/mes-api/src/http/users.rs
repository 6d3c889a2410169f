//! Users (ADMIN): list, create, read, update, deactivate.
//!
//! Users are never deleted, because audit rows and process records name them; DELETE deactivates.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Role, password};
use crate::db;
use crate::error::{ApiError, ApiResponse, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, RequestContext};
use crate::http::page::{Page, Paging};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct UserView {
    pub id: i32,
    pub username: String,
    pub full_name: Option<String>,
    #[schema(value_type = Role)]
    pub role: String,
    pub is_active: bool,
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const USER_COLUMNS: &str = "id, username, full_name, role, is_active, last_login_at, created_at";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<Page<UserView>>))))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Page<UserView>> {
    let paging = Paging::from_query(q.page, q.page_size)?;
    let role = q.role.map(Role::as_str);
    let filter = "($1::text IS NULL OR role = $1) AND ($2::bool IS NULL OR is_active = $2)";
    let total: i64 = sqlx::query_scalar(sql!("SELECT count(*) FROM users WHERE {filter}"))
        .bind(role)
        .bind(q.active)
        .fetch_one(&state.db)
        .await?;
    let items = sqlx::query_as(sql!(
        "SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(role)
    .bind(q.active)
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(&state.db)
    .await?;
    Ok(ApiResponse::ok(paging.wrap(items, total)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub full_name: Option<String>,
    pub role: Role,
}

fn check_username(username: &str) -> Result<(), ApiError> {
    let ok = (2..=50).contains(&username.len())
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "username must be 2-50 characters: letters, digits, `_`, `.`, `-`",
        )
        .with_details(json!({ "field": "username" })))
    }
}

fn check_full_name(full_name: Option<&str>) -> Result<(), ApiError> {
    match full_name {
        Some(n) if n.chars().count() > 100 => Err(ApiError::validation(
            "full_name is longer than 100 characters",
        )
        .with_details(json!({ "field": "full_name" }))),
        _ => Ok(()),
    }
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    password::check_policy(&password)?;
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)?
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = inline(crate::error::Envelope<UserView>)),
              (status = 409, body = crate::error::ErrorEnvelope, description = "USER_EXISTS"),
              (status = 422, body = crate::error::ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<UserView> {
    check_username(&req.username)?;
    check_full_name(req.full_name.as_deref())?;
    let hashed = hash_password(req.password).await?;
    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let user: Option<UserView> = sqlx::query_as(sql!(
        "INSERT INTO users (username, hashed_password, full_name, role) VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO NOTHING RETURNING {USER_COLUMNS}"
    ))
    .bind(&req.username)
    .bind(hashed)
    .bind(&req.full_name)
    .bind(req.role.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let user = user.ok_or_else(|| {
        ApiError::conflict(
            "USER_EXISTS",
            format!("user `{}` already exists", req.username),
        )
    })?;
    tx.commit().await?;
    Ok(ApiResponse::created(user))
}

async fn fetch(state: &AppState, id: i32) -> Result<UserView, ApiError> {
    sqlx::query_as(sql!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", format!("no user with id {id}")))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i32, Path)), security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<UserView>)), (status = 404, body = crate::error::ErrorEnvelope)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i32>,
) -> ApiResult<UserView> {
    Ok(ApiResponse::ok(fetch(&state, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub password: Option<String>,
    pub is_active: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i32, Path)), request_body = UpdateUser,
    security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<UserView>)), (status = 404, body = crate::error::ErrorEnvelope)))]
pub async fn update(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiPath(id): ApiPath<i32>,
    ApiJson(req): ApiJson<UpdateUser>,
) -> ApiResult<UserView> {
    check_full_name(req.full_name.as_deref())?;
    let hashed = match req.password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    refuse_self_lockout(&ctx, id, req.role, req.is_active)?;
    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let user: Option<UserView> = sqlx::query_as(sql!(
        "UPDATE users SET full_name = COALESCE($2, full_name), role = COALESCE($3, role),
                hashed_password = COALESCE($4, hashed_password), is_active = COALESCE($5, is_active),
                updated_at = now()
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(&req.full_name)
    .bind(req.role.map(Role::as_str))
    .bind(hashed)
    .bind(req.is_active)
    .fetch_optional(&mut *tx)
    .await?;
    let user =
        user.ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", format!("no user with id {id}")))?;
    tx.commit().await?;
    refresh_access(&state).await;
    Ok(ApiResponse::ok(user))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = i32, Path)), security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<UserView>)), (status = 404, body = crate::error::ErrorEnvelope)))]
pub async fn deactivate(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiPath(id): ApiPath<i32>,
) -> ApiResult<UserView> {
    refuse_self_lockout(&ctx, id, None, Some(false))?;
    let mut tx = db::begin_write(&state.db, &ctx).await?;
    let user: Option<UserView> = sqlx::query_as(sql!(
        "UPDATE users SET is_active = false, updated_at = now() WHERE id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let user =
        user.ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", format!("no user with id {id}")))?;
    tx.commit().await?;
    refresh_access(&state).await;
    Ok(ApiResponse::ok(user))
}

/// An ADMIN cannot deactivate or demote themselves: the plant would risk losing its last admin.
fn refuse_self_lockout(
    ctx: &RequestContext,
    id: i32,
    role: Option<Role>,
    active: Option<bool>,
) -> Result<(), ApiError> {
    let own = matches!(&ctx.principal()?.kind, crate::auth::PrincipalKind::User { id: me, .. } if *me == id);
    if own && (active == Some(false) || role.is_some_and(|r| r != Role::Admin)) {
        return Err(ApiError::conflict(
            "SELF_LOCKOUT",
            "you cannot deactivate or demote your own account",
        ));
    }
    Ok(())
}

/// Makes a deactivation effective on this replica at once (others within the refresh interval).
async fn refresh_access(state: &AppState) {
    if let Err(e) = state.access.refresh(&state.db).await {
        tracing::warn!(error = %e, "could not refresh access control");
    }
}
