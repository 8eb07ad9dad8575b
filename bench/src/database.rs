//! A fresh database per run on the PostgreSQL of `DATABASE_URL`, dropped at the end.

use sqlx::{Connection, Executor, PgConnection};
use switchboard_postgres::DEFAULT_DATABASE_URL;

/// A database of its own, `sb_bench_<uuid>`, with the migrations not yet applied.
#[derive(Debug)]
pub struct Database {
    admin_url: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl Database {
    /// Creates it on the server of `DATABASE_URL` (default: the development server); panics
    /// saying what to start when the server is unreachable.
    pub async fn create() -> Database {
        let admin_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "PostgreSQL is not reachable at {admin_url} ({err}): start it \
                 (`source scripts/services.sh && sb_ensure_postgres`; scripts/bench does)"
                )
            });
        let name = format!("sb_bench_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Database {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }

    /// Drops it, closing whatever is still connected.
    pub async fn drop(self) {
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
    }
}
