//! [`ConnectError`]: why a configuration could not become [`Backends`](super::Backends).

use std::fmt;

use switchboard_core::BoxError;

/// Why connecting failed. Every URL it names has its password masked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// A URL whose scheme names no backend.
    #[error("`{url}` names no backend: use postgres://, redis://, nats:// or kafka://")]
    UnknownScheme {
        /// The URL.
        url: String,
    },
    /// No configured server offers a capability that is needed.
    #[error("no configured server offers {capability} (configured: {})", .urls.join(", "))]
    Missing {
        /// The capability.
        capability: Capability,
        /// The configured URLs.
        urls: Vec<String>,
    },
    /// A backend is configured but this build does not include it.
    #[error("`{url}` needs the `{feature}` feature of the switchboard crate")]
    FeatureOff {
        /// The URL.
        url: String,
        /// The cargo feature to turn on.
        feature: &'static str,
    },
    /// Connecting to a configured server failed.
    #[error("cannot use the backend configured by `{key}` ({url})")]
    Backend {
        /// The setting that named the server (`nats.url`, `kafka.brokers`…).
        key: &'static str,
        /// The URL.
        url: String,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
}

/// What an application asks of its backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// Pub/sub between services (NATS).
    PubSub,
    /// Request/reply (NATS).
    Request,
    /// Key/value with TTL (Redis).
    KeyValue,
    /// Pub/sub for plain clients on the key/value server (Redis).
    PlainPubSub,
    /// The durable log (Kafka).
    Log,
    /// The event store (PostgreSQL).
    EventStore,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 6] = [
        Capability::PubSub,
        Capability::Request,
        Capability::KeyValue,
        Capability::PlainPubSub,
        Capability::Log,
        Capability::EventStore,
    ];
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::PubSub => "pub/sub",
            Capability::Request => "request/reply",
            Capability::KeyValue => "key/value",
            Capability::PlainPubSub => "plain-client pub/sub",
            Capability::Log => "a durable log",
            Capability::EventStore => "an event store",
        })
    }
}
