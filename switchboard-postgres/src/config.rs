//! Connecting: the pool settings and the schema the store works in.

use std::time::Duration;

use sqlx::{Executor, PgPool, postgres::PgPoolOptions};

use crate::PgError;

/// The default database URL, matching the development services.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How to build a [`PgPool`] for the event store.
///
/// ```no_run
/// # async fn run() -> Result<(), switchboard_postgres::PgError> {
/// use switchboard_postgres::PgConfig;
///
/// let pool = PgConfig::new("postgres://postgres@127.0.0.1:5432/test")
///     .schema("switchboard")?
///     .max_connections(10)
///     .connect()
///     .await?;
/// switchboard_postgres::migrate(&pool).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PgConfig {
    url: String,
    schema: Option<String>,
    max_connections: u32,
    acquire_timeout: Duration,
}

impl PgConfig {
    /// Settings for `url` (`postgres://user@host:port/database`), with 10 connections, a 5 s
    /// acquire timeout and the server's default `search_path`.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            schema: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// Settings from `DATABASE_URL`, or [`DEFAULT_DATABASE_URL`] when it is unset.
    pub fn from_env() -> Self {
        Self::new(std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into()))
    }

    /// Works in `schema`: every connection runs `SET search_path TO <schema>`, so the
    /// `events` table and the migrations bookkeeping live there. The schema must exist.
    pub fn schema(mut self, schema: &str) -> Result<Self, PgError> {
        check_schema_name(schema)?;
        self.schema = Some(schema.to_owned());
        Ok(self)
    }

    /// The largest number of open connections.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// How long a query waits for a free connection (or for the server) before failing
    /// with a transient error.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The pool options these settings stand for, to adjust further.
    pub fn pool_options(&self) -> PgPoolOptions {
        let options = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout);
        match self.schema.clone() {
            None => options,
            Some(schema) => options.after_connect(move |conn, _meta| {
                // The name was checked to be a plain identifier, so it needs no quoting.
                let sql = format!("SET search_path TO {schema}");
                Box::pin(async move { conn.execute(sql.as_str()).await.map(drop) })
            }),
        }
    }

    /// Opens the pool, failing if the server cannot be reached within the acquire timeout.
    pub async fn connect(&self) -> Result<PgPool, PgError> {
        Ok(self.pool_options().connect(&self.url).await?)
    }

    /// Builds the pool without connecting; the first query connects.
    pub fn connect_lazy(&self) -> Result<PgPool, PgError> {
        Ok(self.pool_options().connect_lazy(&self.url)?)
    }
}

/// Accepts plain lowercase identifiers only, so a schema name never needs quoting.
pub(crate) fn check_schema_name(name: &str) -> Result<(), PgError> {
    let valid = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if valid {
        Ok(())
    } else {
        Err(PgError::InvalidSchema {
            name: name.escape_debug().take(120).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["switchboard", "sbtest_0191", "_x"] {
            assert!(PgConfig::new("").schema(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Events",
            "a;drop",
            "a b",
            "a\"b",
            &"x".repeat(64),
        ] {
            assert!(
                matches!(
                    PgConfig::new("").schema(bad),
                    Err(PgError::InvalidSchema { .. })
                ),
                "{bad}"
            );
        }
    }
}
