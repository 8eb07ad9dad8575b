//! Switchboard: signals between systems. Pub/sub, request/reply, durable logs, key/value and an
//! event store behind one set of traits, with in-memory transports that are the embedded
//! default and real backends behind cargo features.
//!
//! This crate re-exports [`switchboard_core`] (the traits, [`Envelope`], tower layers, the
//! firehose, the in-memory transports) and, per feature, each backend crate:
//!
//! | feature | module | backend |
//! |---|---|---|
//! | *(always)* | [`mem`] | in-memory transports for every trait |
//! | `postgres` | `postgres` | event store on sqlx, migrations, transactional outbox |
//! | `redis` | `redis` | key/value with TTL, pub/sub, Streams as a durable log |
//! | `nats` | `nats` | pub/sub, request/reply, JetStream |
//! | `kafka` | `kafka` | idempotent producer, consumer groups (rdkafka) |
//! | `ws` | `ws` | WebSocket hub and SSE helpers for axum |
//! | `flows` | `flows` | the demo system's flows: processor pipeline, notifier echo |
//!
//! `cargo add switchboard --features nats` compiles async-nats and nothing of rdkafka or sqlx.
//! [`connect`] turns URLs into type-erased handles for whichever backends are compiled in.
//!
//! ```
//! use futures::StreamExt;
//! use switchboard::{mem::MemBus, Envelope, Pattern, Publisher, Subject, Subscriber};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> switchboard::Result<()> {
//! let bus = MemBus::new(); // or switchboard::nats::NatsBus with the `nats` feature
//! let mut orders = bus.subscribe(&Pattern::new("orders.*")?).await?;
//! bus.publish(Envelope::new(Subject::new("orders.created")?, "hello")).await?;
//! assert_eq!(orders.next().await.unwrap()?.payload().as_ref(), b"hello");
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use switchboard_core::*;

pub mod connect;

/// The PostgreSQL event store: [`switchboard_postgres`].
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use switchboard_postgres as postgres;

/// Redis key/value, pub/sub and Streams: [`switchboard_redis`].
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use switchboard_redis as redis;

/// NATS pub/sub, request/reply and JetStream: [`switchboard_nats`].
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub use switchboard_nats as nats;

/// Kafka producer and consumer groups: [`switchboard_kafka`].
#[cfg(feature = "kafka")]
#[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
pub use switchboard_kafka as kafka;

/// WebSocket hub and SSE helpers: [`switchboard_ws`].
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub use switchboard_ws as ws;

/// The demo system's flows: [`switchboard_flows`].
#[cfg(feature = "flows")]
#[cfg_attr(docsrs, doc(cfg(feature = "flows")))]
pub use switchboard_flows as flows;
