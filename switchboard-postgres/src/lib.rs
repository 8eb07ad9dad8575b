//! PostgreSQL backend for Switchboard: an [`EventStore`](switchboard_core::EventStore) on a
//! sqlx [`PgPool`](sqlx::PgPool), with embedded migrations and the `sb-migrate` tool.
//!
//! ```no_run
//! use serde_json::json;
//! use switchboard_core::{EventStore, NewEvent};
//! use switchboard_postgres::{PgConfig, PgEventStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = PgConfig::from_env().connect().await?; // DATABASE_URL
//! switchboard_postgres::migrate(&pool).await?; // applies pending migrations; a no-op after
//! let store = PgEventStore::new(pool);
//!
//! let event = NewEvent::new("kafka", "switchboard.events", json!({ "n": 1 }))?
//!     .with_idempotency_key("switchboard.events/0/42")?;
//! let first = store.insert(event.clone()).await?;
//! let again = store.insert(event).await?; // at-least-once redelivery
//! assert_eq!((again.id, again.created), (first.id, false));
//!
//! let page = store.page(None, 20).await?; // newest first
//! let older = store.page(page.next, 20).await?; // keyset: `WHERE id < cursor`
//! # let _ = older; Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - **Idempotent insert.** A unique index on `idempotency_key` makes inserts of one key,
//!   concurrent or repeated, store one row; every caller gets its id, and only one sees
//!   `created: true`.
//! - **Keyset pagination.** `WHERE id < $cursor ORDER BY id DESC LIMIT $n`, page size capped
//!   at [`MAX_PAGE_SIZE`](switchboard_core::store::MAX_PAGE_SIZE): stable under concurrent
//!   inserts, and as fast on the last page as on the first.
//! - **Batch insert** in one statement (`UNNEST` of column arrays), honouring idempotency keys,
//!   with one outcome per input in input order.
//! - **Errors** map onto [`switchboard_core::Error`]: connection loss, pool timeout and I/O are
//!   [`Error::Unavailable`](switchboard_core::Error::Unavailable) (transient); a value the
//!   database rejects is [`Error::InvalidInput`](switchboard_core::Error::InvalidInput).
//!
//! # Transactional outbox
//!
//! [`outbox::enqueue`] writes envelopes in the application's own transaction;
//! [`outbox::OutboxRelay`]s forward them once it commits, to any `LogProducer` or `Publisher`,
//! in order per key, at least once, sharing the work with `FOR UPDATE SKIP LOCKED` and woken
//! by LISTEN/NOTIFY. See [`outbox`].
//!
//! # Schemas
//!
//! The store and the migrations use the connection's `search_path`: point
//! [`PgConfig::schema`] at a schema to keep several stores (or test runs) in one database.

mod announce;
mod batch;
mod config;
mod create;
mod error;
mod migrate;
pub mod outbox;
mod row;
mod store;

pub use batch::INSERT_BATCH;
pub use config::{DEFAULT_DATABASE_URL, PgConfig};
pub use create::{NewMigration, create_migration};
pub use error::PgError;
pub use migrate::{MIGRATOR, MigrationInfo, applied_migrations, migrate, revert_last};
pub use store::PgEventStore;
pub use switchboard_core;
