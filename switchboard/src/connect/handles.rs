//! The type-erased handles [`Backends`] holds, one group per capability.

use std::{fmt, sync::Arc};

use switchboard_core::{
    DynEventStore, DynKeyValue, DynLogConsumer, DynLogProducer, DynPublisher, DynRequester,
    DynResponder, DynSubscriber, Envelope, Namespace, Pattern, Publisher, Result, Subscriber,
    mem::{MemBus, MemEventStore, MemKv, MemLog},
    pubsub::BoxMessageStream,
};

use super::probe::ProbeFn;

/// The backend name of the in-memory transports.
pub const MEMORY: &str = "memory";

/// Pub/sub plus request/reply between services: NATS, or one in-memory bus.
#[derive(Clone, Debug)]
pub struct Bus {
    /// Publishes.
    pub publisher: DynPublisher,
    /// Subscribes.
    pub subscriber: DynSubscriber,
    /// Sends requests.
    pub requester: DynRequester,
    /// Serves requests.
    pub responder: DynResponder,
    /// `nats` or `memory`.
    pub backend: &'static str,
}

impl Bus {
    /// An in-memory bus.
    pub fn memory(bus: MemBus) -> Bus {
        Bus {
            publisher: DynPublisher::new(bus.clone()),
            subscriber: DynSubscriber::new(bus.clone()),
            requester: DynRequester::new(bus.clone()),
            responder: DynResponder::new(bus),
            backend: MEMORY,
        }
    }

    /// Publisher and subscriber as one transport.
    pub fn pubsub(&self) -> PubSub {
        PubSub {
            publisher: self.publisher.clone(),
            subscriber: self.subscriber.clone(),
            backend: self.backend,
        }
    }
}

/// A publisher and a subscriber of one transport; itself a [`Publisher`] and [`Subscriber`].
#[derive(Clone, Debug)]
pub struct PubSub {
    /// Publishes.
    pub publisher: DynPublisher,
    /// Subscribes.
    pub subscriber: DynSubscriber,
    /// `redis`, `nats` or `memory`.
    pub backend: &'static str,
}

impl Publisher for PubSub {
    async fn publish(&self, msg: Envelope) -> Result<()> {
        self.publisher.publish(msg).await
    }
}

impl Subscriber for PubSub {
    type Stream = BoxMessageStream;
    async fn subscribe(&self, pattern: &Pattern) -> Result<Self::Stream> {
        self.subscriber.subscribe(pattern).await
    }
}

/// Hands out key/value handles, one per [`Namespace`].
#[derive(Clone)]
pub struct KvFactory {
    make: Arc<dyn Fn(Namespace) -> DynKeyValue + Send + Sync>,
    /// `redis` or `memory`.
    pub backend: &'static str,
}

impl KvFactory {
    /// A factory calling `make` per namespace.
    pub fn new(
        backend: &'static str,
        make: impl Fn(Namespace) -> DynKeyValue + Send + Sync + 'static,
    ) -> Self {
        KvFactory {
            make: Arc::new(make),
            backend,
        }
    }

    /// The handle of `namespace`.
    pub fn namespace(&self, namespace: Namespace) -> DynKeyValue {
        (self.make)(namespace)
    }
}

impl fmt::Debug for KvFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvFactory")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The durable log: Kafka, or an in-memory log.
#[derive(Clone)]
pub struct Log {
    /// Appends.
    pub producer: DynLogProducer,
    /// Joins consumer groups.
    pub consumer: DynLogConsumer,
    /// `kafka` or `memory`.
    pub backend: &'static str,
    pub(super) probe: Option<ProbeFn>,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The event store: PostgreSQL, or in memory.
#[derive(Clone, Debug)]
pub struct Store {
    /// The store.
    pub store: DynEventStore,
    /// `postgres` or `memory`.
    pub backend: &'static str,
    /// The PostgreSQL store itself, for what needs its pool (the transactional outbox).
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub postgres: Option<switchboard_postgres::PgEventStore>,
}

/// A handle for every capability; what [`Backends::connect`] built from a [`ConnectConfig`]
/// (each unconfigured capability in memory).
///
/// [`ConnectConfig`]: super::ConnectConfig
#[derive(Clone, Debug)]
pub struct Backends {
    /// Pub/sub and request/reply between services.
    pub bus: Bus,
    /// Pub/sub for plain clients on the key/value server; apart from [`Backends::bus`].
    pub pubsub: PubSub,
    /// Key/value.
    pub kv: KvFactory,
    /// The event store.
    pub store: Store,
    /// The durable log.
    pub log: Log,
}

impl Backends {
    /// Everything in memory, for one process (the embedded default).
    pub fn embedded() -> Backends {
        let plain = MemBus::new();
        let kv = MemKv::new();
        let log = MemLog::new();
        Backends {
            bus: Bus::memory(MemBus::new()),
            pubsub: PubSub {
                publisher: DynPublisher::new(plain.clone()),
                subscriber: DynSubscriber::new(plain),
                backend: MEMORY,
            },
            kv: KvFactory::new(MEMORY, move |ns| DynKeyValue::new(kv.namespace(ns))),
            store: Store {
                store: DynEventStore::new(MemEventStore::new()),
                backend: MEMORY,
                #[cfg(feature = "postgres")]
                postgres: None,
            },
            log: Log {
                producer: DynLogProducer::new(log.clone()),
                consumer: DynLogConsumer::new(log),
                backend: MEMORY,
                probe: None,
            },
        }
    }
}
