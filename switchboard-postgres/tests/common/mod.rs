//! Test helpers: a fresh schema or database per test, dropped when the test ends.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection, PgPool};
use switchboard_postgres::{DEFAULT_DATABASE_URL, PgConfig};

/// `DATABASE_URL`, or the development default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into())
}

/// A name no other test uses: `sbtest_<uuid v7>`.
pub fn unique_name() -> String {
    format!("sbtest_{}", uuid::Uuid::now_v7().simple())
}

/// One connection to `url`; panics, saying what to start, when the server is unreachable.
pub async fn connect_or_explain(url: &str) -> PgConnection {
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => panic!(
            "cannot reach PostgreSQL at {url}: {err}. Start it with `scripts/test` \
             (or `source scripts/services.sh; sb_ensure_postgres`), or point DATABASE_URL at a \
             running server"
        ),
        Err(_) => panic!(
            "PostgreSQL at {url} did not answer within 10 s. Start it with `scripts/test` \
             (or `source scripts/services.sh; sb_ensure_postgres`), or point DATABASE_URL at a \
             running server"
        ),
    }
}

/// Runs `sql` on a fresh connection to `url` from a thread of its own, so it works inside
/// `Drop` whatever runtime (if any) is running.
fn run_detached(url: String, sql: String) {
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut conn = PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            conn.execute("SET lock_timeout = '10s'")
                .await
                .map_err(|e| e.to_string())?;
            conn.execute(sql.as_str())
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        })
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(err)) => eprintln!("test cleanup failed: {err}"),
        Err(_) => eprintln!("test cleanup panicked"),
    }
}

/// A schema of its own in the test database, with a pool whose `search_path` is that schema.
/// Dropped (with everything in it) when this value is dropped.
pub struct TestSchema {
    pub name: String,
    pub pool: PgPool,
    url: String,
}

impl TestSchema {
    /// A new empty schema.
    pub async fn new() -> Self {
        let url = database_url();
        let name = unique_name();
        let mut admin = connect_or_explain(&url).await;
        admin
            .execute(format!("CREATE SCHEMA {name}").as_str())
            .await
            .expect("create test schema");
        admin.close().await.ok();
        let pool = PgConfig::new(&url)
            .schema(&name)
            .expect("valid schema name")
            .max_connections(4)
            .connect()
            .await
            .expect("connect to the test schema");
        TestSchema { name, pool, url }
    }

    /// A new schema with every migration applied.
    pub async fn migrated() -> Self {
        let schema = Self::new().await;
        switchboard_postgres::migrate(&schema.pool)
            .await
            .expect("apply migrations");
        schema
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        run_detached(
            self.url.clone(),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

/// A database of its own on the test server, dropped when this value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn new() -> Self {
        let admin_url = database_url();
        let name = unique_name();
        let mut admin = connect_or_explain(&admin_url).await;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = match admin_url.rsplit_once('/') {
            Some((server, _db)) => format!("{server}/{name}"),
            None => panic!("DATABASE_URL `{admin_url}` has no database name"),
        };
        TestDatabase {
            name,
            url,
            admin_url,
        }
    }

    pub async fn pool(&self) -> PgPool {
        PgConfig::new(&self.url)
            .max_connections(2)
            .connect()
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        run_detached(
            self.admin_url.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Whether `table` exists in the pool's current schema.
pub async fn table_exists(pool: &PgPool, table: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .expect("query catalog")
}

/// Whether `events` has the column `column` in the pool's current schema.
pub async fn events_has_column(pool: &PgPool, column: &str) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'events' AND column_name = $1)",
    )
    .bind(column)
    .fetch_one(pool)
    .await
    .expect("query catalog")
}
