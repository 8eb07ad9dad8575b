//! The embedded migrations of top-level `migrations/`, and applying or reverting them.

use sqlx::{
    PgConnection, PgPool, Postgres,
    migrate::{Migrate, MigrateError, Migrator},
    pool::PoolConnection,
};

use crate::PgError;

/// The numbered migrations of the repository's `migrations/` directory, embedded at build
/// time. They create the `events` table in the first schema of the `search_path`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A migration that was applied or reverted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationInfo {
    /// Its number (the file name's prefix).
    pub version: i64,
    /// Its name, with underscores as spaces.
    pub description: String,
}

impl MigrationInfo {
    fn of(version: i64) -> Self {
        let description = MIGRATOR
            .iter()
            .find(|m| m.version == version)
            .map(|m| m.description.to_string())
            .unwrap_or_default();
        MigrationInfo {
            version,
            description,
        }
    }
}

/// Applies every pending migration and returns those it applied, in order; running it again
/// applies nothing. Concurrent callers on one database wait for each other.
pub async fn migrate(pool: &PgPool) -> Result<Vec<MigrationInfo>, PgError> {
    let mut conn = locked(pool).await?;
    let result = apply_pending(&mut conn).await;
    release(conn, result).await
}

/// Reverts the most recently applied migration, if any, and returns it.
pub async fn revert_last(pool: &PgPool) -> Result<Option<MigrationInfo>, PgError> {
    let mut conn = locked(pool).await?;
    let result = revert_newest(&mut conn).await;
    release(conn, result).await
}

async fn apply_pending(conn: &mut PgConnection) -> Result<Vec<MigrationInfo>, PgError> {
    let before = applied_versions(conn).await?;
    // `run_direct` is `run` on a connection; `run` through `Acquire` makes the future
    // not `Send` enough for `tokio::spawn` (launchbadge/sqlx#1015).
    MIGRATOR.run_direct(conn).await?;
    let applied: Vec<MigrationInfo> = applied_versions(conn)
        .await?
        .into_iter()
        .filter(|v| !before.contains(v))
        .map(MigrationInfo::of)
        .collect();
    for m in &applied {
        tracing::info!(version = m.version, description = %m.description, "applied migration");
    }
    Ok(applied)
}

async fn revert_newest(conn: &mut PgConnection) -> Result<Option<MigrationInfo>, PgError> {
    let mut applied = applied_versions(conn).await?;
    let Some(newest) = applied.pop() else {
        return Ok(None);
    };
    if let Some(dirty) = conn.dirty_version().await? {
        return Err(MigrateError::Dirty(dirty).into());
    }
    let down = MIGRATOR
        .iter()
        .find(|m| m.version == newest && m.migration_type.is_down_migration())
        .ok_or(MigrateError::VersionMissing(newest))?;
    // What `Migrator::undo` does for each version, done here on a plain connection so the
    // future stays `Send` (see `apply_pending`).
    conn.revert(down).await?;
    let reverted = MigrationInfo::of(newest);
    tracing::info!(version = reverted.version, description = %reverted.description, "reverted migration");
    Ok(Some(reverted))
}

/// A connection holding sqlx's migration lock, a session advisory lock that nests, so the
/// listing before and after applying sees no other migrator's work.
async fn locked(pool: &PgPool) -> Result<PoolConnection<Postgres>, PgError> {
    let mut conn = pool.acquire().await?;
    match conn.lock().await {
        Ok(()) => Ok(conn),
        Err(err) => {
            drop(conn.detach());
            Err(err.into())
        }
    }
}

/// Unlocks after success. After a failure the connection may still hold the lock, so it is
/// closed instead of going back to the pool, where it would block every later migrator.
async fn release<T>(
    mut conn: PoolConnection<Postgres>,
    result: Result<T, PgError>,
) -> Result<T, PgError> {
    let unlocked = match &result {
        Ok(_) => conn.unlock().await.map_err(PgError::from),
        Err(_) => Ok(()),
    };
    if result.is_err() || unlocked.is_err() {
        drop(conn.detach());
    }
    let value = result?;
    unlocked?;
    Ok(value)
}

/// The versions applied to the database (in the pool's schema), oldest first.
pub async fn applied_migrations(pool: &PgPool) -> Result<Vec<MigrationInfo>, PgError> {
    let mut conn = pool.acquire().await?;
    let versions = applied_versions(&mut conn).await?;
    Ok(versions.into_iter().map(MigrationInfo::of).collect())
}

async fn applied_versions(conn: &mut PgConnection) -> Result<Vec<i64>, PgError> {
    conn.ensure_migrations_table().await?;
    let mut versions: Vec<i64> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    versions.sort_unstable();
    Ok(versions)
}
