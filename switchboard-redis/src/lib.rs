//! Switchboard on Redis: [`KeyValue`](switchboard_core::KeyValue) with TTL inside a namespace,
//! at-most-once [`Publisher`](switchboard_core::Publisher) /
//! [`Subscriber`](switchboard_core::Subscriber) that re-subscribe by themselves after a
//! reconnect, and an at-least-once durable log on Redis Streams ([`RedisLog`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use futures::StreamExt;
//! use switchboard_core::{Envelope, Key, KeyValue, Namespace, Pattern, Publisher, Subject, Subscriber};
//! use switchboard_redis::{Redis, RedisConfig};
//!
//! # #[tokio::main] async fn main() -> switchboard_core::Result<()> {
//! let redis = Redis::connect(RedisConfig::new("redis://127.0.0.1:6379")).await?;
//!
//! // Key/value with TTL: stored as `switchboard:cache:greeting`.
//! let kv = redis.key_value(Namespace::new("cache")?);
//! kv.set(&Key::new("greeting")?, "hello".into(), Some(Duration::from_secs(60))).await?;
//!
//! // Pub/sub with NATS-style wildcards.
//! let mut orders = redis.subscriber().await?.subscribe(&Pattern::new("orders.>")?).await?;
//! redis.publisher().publish(Envelope::new(Subject::new("orders.eu.created")?, "order 1")).await?;
//! let msg = orders.next().await.unwrap()?;
//! assert_eq!(msg.payload().as_ref(), b"order 1");
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! | transport | guarantee |
//! |---|---|
//! | [`RedisKeyValue`] | read-your-writes; `SET … PX` sets value and TTL atomically; no key reaches another namespace |
//! | [`RedisPublisher`] / [`RedisSubscriber`] | at-most-once; nothing is replayed after a reconnect; a slow subscription drops and yields [`Error::Lagged`](switchboard_core::Error::Lagged) |
//! | [`RedisLog`] | at-least-once with explicit ack; members of a group share entries, not partitions |
//!
//! Errors are [`switchboard_core::Error`]: a server that cannot be reached, or a connection
//! that dropped, is [`Error::Unavailable`](switchboard_core::Error::Unavailable) (transient);
//! a bad URL, prefix or timing is [`Error::InvalidInput`](switchboard_core::Error::InvalidInput);
//! failures this crate recognises in a reply carry a [`RedisBackendError`] as their source.
//!
//! # Wire format
//!
//! Redis pub/sub carries bytes only, so by default each message travels as a frame: the magic
//! `SBF1`, a big-endian `u32` header length, a JSON header
//! `{"id":"<uuid>","ts":<ns since epoch>,"key":"…","h":{…}}` and the raw payload. Channels
//! that plain Redis clients read can carry the bare payload instead
//! ([`RedisConfig::wire_forms`], [`WireForm`]); subscribers accept both, and a message without
//! the magic is a plain payload. The channel is the subject, under
//! [`RedisConfig::channel_prefix`] if one is set. A log entry is a field per piece of the
//! envelope (`payload`, `switchboard-id`, …; see [`switchboard_core::header`]).

mod channel;
mod client;
mod config;
mod error;
mod frame;
mod kv;
mod log;
mod publisher;
mod subscriber;
mod wire;

/// The `messaging.system` and `backend` label of Redis spans and metrics.
const SYSTEM: &str = "redis";

pub use client::Redis;
pub use config::{DEFAULT_KEY_PREFIX, RedisConfig};
pub use error::RedisBackendError;
pub use kv::RedisKeyValue;
pub use log::{MAX_PARTITIONS, RedisDeliveries, RedisLog};
pub use publisher::RedisPublisher;
pub use subscriber::{RedisSubscriber, RedisSubscription};
pub use wire::WireForm;

pub use redis;

/// Entry points for the fuzz targets (`fuzz/`); not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use switchboard_core::{Envelope, Subject};

    /// Decodes a pub/sub frame received on `subject`; it must never panic.
    pub fn decode_frame(subject: Subject, frame: &[u8]) -> Option<Envelope> {
        crate::frame::decode(subject, bytes::Bytes::copy_from_slice(frame)).ok()
    }

    /// Encodes `msg` as it is published.
    pub fn encode_frame(msg: &Envelope) -> Vec<u8> {
        crate::frame::encode(msg)
    }
}
pub use switchboard_core;
