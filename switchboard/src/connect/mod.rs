//! Connect by URL: from a [`ConnectConfig`] (or a list of URLs) to type-erased handles for
//! every capability, in memory where no server is configured, with health probes from the
//! same place.
//!
//! ```
//! use switchboard::connect::{Backends, Capability, ConnectConfig, ConnectError, Server};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ConnectError> {
//! // No URL: everything in memory.
//! let backends = Backends::connect(&ConnectConfig::from_urls::<&str>(&[])?).await?;
//! assert_eq!(backends.bus.backend, "memory");
//! assert_eq!(backends.probe(Server::Nats).backend, "memory");
//!
//! // A capability no configured server offers is an error naming both.
//! let config = ConnectConfig::from_urls(&["redis://127.0.0.1:6379"])?;
//! let err = config.require(&[Capability::KeyValue, Capability::Request]).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "no configured server offers request/reply (configured: redis://127.0.0.1:6379)"
//! );
//! # Ok(()) }
//! ```
//!
//! | server | URL | capabilities | feature |
//! |---|---|---|---|
//! | PostgreSQL | `postgres://…` | event store | `postgres` |
//! | Redis | `redis://…` | key/value, plain-client pub/sub | `redis` |
//! | NATS | `nats://…` (a comma-separated cluster list) | pub/sub, request/reply | `nats` |
//! | Kafka | `kafka://host:port,…` (or `kafka.brokers`) | durable log | `kafka` |
//!
//! A configured server whose feature is off is [`ConnectError::FeatureOff`]; one that cannot
//! be reached is [`ConnectError::Backend`], naming the setting and the URL (passwords masked).

mod config;
mod error;
mod handles;
mod probe;
mod servers;

pub use config::{
    ConnectConfig, KafkaConnect, NatsConnect, PostgresConnect, RedisConnect, de, mask,
};
pub use error::{Capability, ConnectError};
pub use handles::{Backends, Bus, KvFactory, Log, MEMORY, PubSub, Store};
pub use probe::{PROBE_SUBJECT, Probe, ProbeFuture, Server};
