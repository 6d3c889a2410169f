//! Database access shared by every resource: pool, migrations, and write transactions that
//! carry the application user into the audit triggers.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::ApiError;
use crate::extract::RequestContext;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Any 64-bit constant works as long as every replica uses the same one.
const MIGRATION_LOCK: i64 = 0x4d45_535f_4d49_4752; // "MES_MIGR"

pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.application_name("mes-api"))
        .await
}

/// Applies pending migrations while holding an advisory lock, so replicas starting together
/// migrate once (sqlx also locks, but an explicit lock documents and guarantees it).
pub async fn migrate(db: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = db.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    let result = MIGRATOR.run(&mut *conn).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    result
}

/// True when every embedded migration is recorded as applied.
pub async fn migrations_applied(db: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(db)
        .await?;
    Ok(applied as usize >= MIGRATOR.iter().count())
}

/// Begins a write transaction whose audit rows name `ctx`'s user, address and request id.
pub async fn begin_write(
    db: &PgPool,
    ctx: &RequestContext,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "SELECT set_config('mes.user', $1, true), set_config('mes.ip', $2, true),
                set_config('mes.user_agent', $3, true), set_config('mes.request_id', $4, true)",
    )
    .bind(&ctx.actor)
    .bind(ctx.ip.map(|ip| ip.to_string()).unwrap_or_default())
    .bind(ctx.user_agent.as_deref().unwrap_or_default())
    .bind(ctx.request_id.as_deref().unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// The name of the constraint a database error violated, if any.
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
