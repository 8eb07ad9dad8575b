//! Switchboard on NATS: core pub/sub with `*` and `>` wildcards, request/reply with queue
//! groups, and a durable log on JetStream.
//!
//! ```no_run
//! use std::time::Duration;
//! use bytes::Bytes;
//! use futures::StreamExt;
//! use switchboard_core::{
//!     BoxError, Envelope, LogConsumer, LogProducer, Pattern, Publisher, RequestService,
//!     Responder, Subject, Subscriber, Group,
//! };
//! use switchboard_nats::{JetStreamLog, NatsBus, NatsConfig};
//! use tower::{service_fn, ServiceExt};
//!
//! # #[tokio::main] async fn main() -> switchboard_core::Result<()> {
//! let client = NatsConfig::new("nats://127.0.0.1:4222").connect().await?;
//! let bus = NatsBus::new(client.clone());
//!
//! // Pub/sub: the subscription is active when `subscribe` returns.
//! let mut orders = bus.subscribe(&Pattern::new("orders.>")?).await?;
//! bus.publish(Envelope::new(Subject::new("orders.eu.created")?, "order 1")).await?;
//! let got = orders.next().await.unwrap()?;
//!
//! // Request/reply: serve a tower::Service in a queue group, call through one.
//! let echo = service_fn(|msg: Envelope| async move { Ok::<_, BoxError>(msg.payload().clone()) });
//! let subject = Subject::new("switchboard.request")?;
//! let _serving = bus.serve(&subject, Some(&Group::new("notifiers")?), echo).await?;
//! let reply = RequestService::new(bus.clone())
//!     .with_timeout(Duration::from_secs(1))
//!     .oneshot(Envelope::new(subject, "ping"))
//!     .await?;
//! println!("reply in {:?}", reply.rtt);
//!
//! // Durable log: append waits for the PubAck; a group reads with explicit ack.
//! let log = JetStreamLog::new(client);
//! let topic = Subject::new("switchboard.events")?;
//! let position = log.append(Envelope::new(topic.clone(), "event")).await?;
//! let mut member = log.join(&Group::new("processor")?, &[topic]).await?;
//! let delivery = member.next().await.unwrap()?;
//! delivery.ack().await?;
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! | type | traits | delivery |
//! |---|---|---|
//! | [`NatsBus`] | `Publisher`, `Subscriber` | at-most-once; a subscription that falls more than [`BusConfig::subscriber_capacity`] behind misses the overflow and yields one `Error::Lagged` |
//! | [`NatsBus`] | `Requester`, `Responder` | at-most-once; no responder is a fast `Error::NoResponders` (the server's 503) |
//! | [`JetStreamLog`] | `LogProducer`, `LogConsumer`, `TopicAdmin` | at-least-once with explicit ack; one partition per stream |
//! | [`JetStreamKv`] | `KeyValue` (per [`Namespace`](switchboard_core::Namespace)) | read-your-writes; TTL kept with the value |
//!
//! The client reconnects by itself (forever, by default): subscriptions, responders and
//! JetStream members resume after a server restart without being made anew.
//!
//! # Wire format
//!
//! An [`Envelope`](switchboard_core::Envelope)'s key travels in the header [`KEY_HEADER`] of
//! the shared vocabulary ([`switchboard_core::header`], matched in any case on read); its
//! headers as NATS headers (names of printable ASCII without `:`, values without line breaks:
//! anything else is `InvalidInput`); the payload as the body. Its id and timestamp travel as
//! [`ID_HEADER`] and [`TIMESTAMP_HEADER`] on JetStream (the id is also the `Nats-Msg-Id`), and
//! on core NATS only with [`BusConfig::send_id_and_timestamp`]: by default the receiver gives a
//! message a fresh id and the time it arrived, and a message without key, headers or trace
//! context is a bare `PUB`. Messages from plain NATS publishers are accepted the same way.

mod bus;
mod codec;
#[cfg(test)]
mod codec_props;
mod concurrent;
mod connect;
mod error;
mod jetstream;
mod kv;
mod request;
mod settle;
mod subject;

pub use async_nats;
pub use bus::{BusConfig, NatsBus, NatsSubscription};
pub use codec::{ID_HEADER, KEY_HEADER, TIMESTAMP_HEADER};
pub use connect::{NatsConfig, connect};
pub use error::NatsError;
pub use jetstream::{JetStreamConfig, JetStreamDeliveries, JetStreamLog, StorageType};
pub use kv::{JetStreamKeyValue, JetStreamKv};
pub use switchboard_core;
