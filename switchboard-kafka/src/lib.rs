//! Switchboard's Kafka backend: an idempotent, pipelined [`LogProducer`](switchboard_core::LogProducer), consumer groups as a
//! `Stream` of deliveries with explicit, in-order acks, and topics created through the admin
//! API. Built on rdkafka with a bundled librdkafka (no system library needed).
//!
//! ```no_run
//! use futures::StreamExt;
//! use switchboard_core::{Envelope, Group, LogConsumer, LogProducer, Topic, TopicAdmin};
//! use switchboard_kafka::{KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer};
//!
//! # #[tokio::main] async fn main() -> Result<(), switchboard_core::Error> {
//! let config = KafkaConfig::from_env(); // KAFKA_BROKERS, default 127.0.0.1:9092
//! let topic = Topic::new("switchboard.events")?;
//! KafkaAdmin::new(&config)?.create_topic(&topic, 4).await?;
//!
//! let producer = KafkaProducer::new(&config)?;
//! let position = producer
//!     .append(Envelope::new(topic.clone(), "hello").with_key("customer-7"))
//!     .await?;
//! println!("stored at {position}");
//!
//! let mut deliveries = KafkaConsumer::new(&config)
//!     .join(&Group::new("processor")?, &[topic])
//!     .await?;
//! while let Some(delivery) = deliveries.next().await {
//!     let delivery = delivery?;
//!     println!("got {:?}", delivery.envelope().payload());
//!     delivery.ack().await?; // stored now, committed within the commit interval
//! }
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - **At least once.** A record is handed out until a member acks it; offsets are committed
//!   only up to the lowest unacked record of each partition, so an ack of n+1 while n is out
//!   never commits past n.
//! - **Order per key.** A key picks the partition (murmur2, as Java clients do); a partition
//!   is read by one member at a time, in order; a nack seeks back so that the nacked record
//!   and everything after it in its partition come again in order.
//! - **No loss on rebalance or shutdown.** A revoke commits the acked offsets synchronously
//!   before the partitions go; so does dropping a stream.
//! - **A dead group leader does not stall the group.** A member whose rebalance does not
//!   complete within [`KafkaConfig::rebalance_stall_timeout`] asks the coordinator who leads;
//!   a recorded leader that is no longer a member (tansu 0.6 keeps it for good) is stood in
//!   for once so that a live member leads. Apache Kafka needs and gets no repair.
//! - **Idempotent appends.** `enable.idempotence=true` and `acks=all`: a retry inside the
//!   client stores a record once, in order.
//!
//! See `docs/backends.md (Kafka)` for configuration and how to run the tests against a broker.

mod admin;
mod codec;
#[cfg(test)]
mod codec_props;
mod config;
mod consumer;
mod context;
mod coordinator;
mod error;
mod producer;

pub use admin::KafkaAdmin;
pub use codec::ID_HEADER;
pub use config::{AssignmentStrategy, KafkaConfig};
pub use consumer::{KafkaConsumer, KafkaDeliveries};
pub use error::KafkaBackendError;
pub use producer::KafkaProducer;
pub use switchboard_core;
