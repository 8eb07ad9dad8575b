//! The transactional outbox: enqueue envelopes in the application's own transaction, and let
//! [`OutboxRelay`]s forward them once it commits.
//!
//! ```no_run
//! use serde_json::json;
//! use switchboard_core::{forward::Publish, mem::MemBus, Envelope, Subject};
//! use switchboard_postgres::{outbox::{self, OutboxRelay}, PgConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = PgConfig::from_env().connect().await?;
//! switchboard_postgres::migrate(&pool).await?; // creates the `outbox` table
//!
//! // The row and the message commit together, or neither does.
//! let mut tx = pool.begin().await?;
//! sqlx::query("INSERT INTO events (source, topic) VALUES ('shop', 'orders')").execute(&mut *tx).await?;
//! let created = Envelope::json(Subject::new("orders.created")?, &json!({ "order": 7 }))?.with_key("order-7");
//! outbox::enqueue(&mut tx, &created).await?;
//! tx.commit().await?;
//!
//! // Any number of relays, in any process, share the work.
//! let relay = OutboxRelay::new(pool.clone(), Publish(MemBus::new()));
//! relay.run(std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! The table (migration `0003_create_outbox`) holds one row per envelope: its id, subject,
//! key, headers, payload and time, the enqueue time and, once forwarded, `delivered_at`. An
//! insert trigger runs `pg_notify('switchboard_outbox', '')`, delivered to listening relays at
//! commit and never for a rolled-back transaction.

mod enqueue;
mod relay;
mod row;

pub use enqueue::{enqueue, enqueue_many};
pub use relay::{BatchReport, Delivered, OUTBOX_CHANNEL, OutboxRelay, RelayConfig};
