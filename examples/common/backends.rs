//! Picks each flow's transport from the configuration: a backend whose URL is set is used for
//! real, anything else runs on the in-memory transports of `switchboard-core`.

use std::{fmt, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use switchboard_core::{
    BoxError, DynEventStore, DynKeyValue, DynLogConsumer, DynLogProducer, DynPublisher,
    DynRequester, DynResponder, DynSubscriber, Envelope, EventStore, Key, KeyValue, Namespace,
    Publisher, Subject,
    mem::{MemBus, MemEventStore, MemKv, MemLog},
};

use super::{config::Config, health::Dependency};

/// Pub/sub plus request/reply: NATS, or one in-memory bus.
#[derive(Clone)]
pub(crate) struct Bus {
    pub(crate) publisher: DynPublisher,
    pub(crate) subscriber: DynSubscriber,
    pub(crate) requester: DynRequester,
    pub(crate) responder: DynResponder,
    pub(crate) backend: &'static str,
}

/// Pub/sub for the Redis panel: Redis, or an in-memory bus of its own.
#[derive(Clone)]
pub(crate) struct PubSub {
    pub(crate) publisher: DynPublisher,
    pub(crate) subscriber: DynSubscriber,
    pub(crate) backend: &'static str,
}

/// Hands out key/value handles, one per namespace.
#[derive(Clone)]
pub(crate) struct KvFactory {
    make: Arc<dyn Fn(Namespace) -> DynKeyValue + Send + Sync>,
    pub(crate) backend: &'static str,
}

impl KvFactory {
    pub(crate) fn namespace(&self, namespace: &str) -> DynKeyValue {
        (self.make)(Namespace::new(namespace).expect("namespaces in code are valid"))
    }
}

/// The durable log: Kafka, or an in-memory log.
#[derive(Clone)]
pub(crate) struct Log {
    pub(crate) producer: DynLogProducer,
    pub(crate) consumer: DynLogConsumer,
    pub(crate) backend: &'static str,
}

/// The event store: Postgres, or in memory.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) store: DynEventStore,
    pub(crate) backend: &'static str,
}

/// Every transport one service may use.
#[derive(Clone)]
pub(crate) struct Backends {
    pub(crate) bus: Bus,
    pub(crate) redis_pubsub: PubSub,
    pub(crate) kv: KvFactory,
    pub(crate) store: Store,
    pub(crate) log: Log,
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backends")
            .field("bus", &self.bus.backend)
            .field("redis_pubsub", &self.redis_pubsub.backend)
            .field("kv", &self.kv.backend)
            .field("store", &self.store.backend)
            .field("log", &self.log.backend)
            .finish()
    }
}

/// A backend that could not be set up at startup.
#[derive(Debug)]
pub(crate) struct BackendError {
    key: &'static str,
    source: BoxError,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot use the backend configured by `{}`", self.key)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

pub(crate) const MEMORY: &str = "memory";

impl Backends {
    /// Everything in memory: one process runs all the flows.
    pub(crate) fn embedded() -> Backends {
        let bus = MemBus::new();
        let redis_bus = MemBus::new();
        let kv = MemKv::new();
        let log = MemLog::new();
        Backends {
            bus: Bus {
                publisher: DynPublisher::new(bus.clone()),
                subscriber: DynSubscriber::new(bus.clone()),
                requester: DynRequester::new(bus.clone()),
                responder: DynResponder::new(bus),
                backend: MEMORY,
            },
            redis_pubsub: PubSub {
                publisher: DynPublisher::new(redis_bus.clone()),
                subscriber: DynSubscriber::new(redis_bus),
                backend: MEMORY,
            },
            kv: KvFactory {
                make: Arc::new(move |ns| DynKeyValue::new(kv.namespace(ns))),
                backend: MEMORY,
            },
            store: Store {
                store: DynEventStore::new(MemEventStore::new()),
                backend: MEMORY,
            },
            log: Log {
                producer: DynLogProducer::new(log.clone()),
                consumer: DynLogConsumer::new(log),
                backend: MEMORY,
            },
        }
    }

    /// Connects every backend whose URL is set; the others stay in memory.
    pub(crate) async fn connect(config: &Config) -> Result<Backends, BackendError> {
        let backends = Backends::embedded();
        if config.postgres.url.is_some() {
            return Err(not_built("postgres.url"));
        }
        if config.redis.url.is_some() {
            return Err(not_built("redis.url"));
        }
        if config.nats.url.is_some() {
            return Err(not_built("nats.url"));
        }
        if config.kafka.brokers.is_some() {
            return Err(not_built("kafka.brokers"));
        }
        Ok(backends)
    }

    /// Logs which backend each flow uses.
    pub(crate) fn log_flows(&self, service: &str, flows: &[&str]) {
        for flow in flows {
            let backend = match *flow {
                "postgres" => self.store.backend,
                "redis" => self.kv.backend,
                "redis-pubsub" => self.redis_pubsub.backend,
                "nats" | "firehose" | "websocket-bridge" => self.bus.backend,
                "kafka" => self.log.backend,
                _ => "in-process",
            };
            tracing::info!(service, flow = *flow, backend, "flow backend");
        }
    }

    /// The health probe of one dependency.
    pub(crate) fn dependency(&self, name: &'static str) -> Dependency {
        match name {
            "postgres" => {
                let store = self.store.store.clone();
                Dependency::probed(name, self.store.backend, move || {
                    let store = store.clone();
                    Box::pin(async move { store.page(None, 1).await.map(drop) }) as Probe
                })
            }
            "redis" => {
                let kv = self.kv.namespace("health");
                Dependency::probed(name, self.kv.backend, move || {
                    let kv = kv.clone();
                    Box::pin(async move {
                        kv.get(&Key::new("probe").expect("valid key"))
                            .await
                            .map(drop)
                    }) as Probe
                })
            }
            "nats" => {
                let publisher = self.bus.publisher.clone();
                Dependency::probed(name, self.bus.backend, move || {
                    let publisher = publisher.clone();
                    Box::pin(async move {
                        let subject = Subject::new("switchboard.health.probe").expect("valid");
                        publisher.publish(Envelope::new(subject, "")).await
                    }) as Probe
                })
            }
            _ if self.log.backend == MEMORY => {
                Dependency::probed(name, MEMORY, || Box::pin(async { Ok(()) }) as Probe)
            }
            _ => Dependency::unprobed(name, self.log.backend),
        }
    }
}

type Probe = BoxFuture<'static, switchboard_core::Result<()>>;

/// How long a health probe may take.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

fn not_built(key: &'static str) -> BackendError {
    BackendError {
        key,
        source: "this build runs the in-memory transports only; unset the key".into(),
    }
}
