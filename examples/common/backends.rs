//! Picks each flow's transport from the configuration: a backend whose URL is set is used for
//! real, anything else runs on the in-memory transports of `switchboard-core`.

use std::{fmt, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use switchboard_core::{
    BoxError, DynEventStore, DynKeyValue, DynLogConsumer, DynLogProducer, DynPublisher,
    DynRequester, DynResponder, DynSubscriber, Envelope, EventStore, Key, KeyValue, Namespace,
    Pattern, Publisher, Subject, Subscriber,
    mem::{MemBus, MemEventStore, MemKv, MemLog},
    pubsub::BoxMessageStream,
};

use super::{config::Config, connect, health::Dependency};

/// Pub/sub plus request/reply: NATS, or one in-memory bus.
#[derive(Clone)]
pub(crate) struct Bus {
    pub(crate) publisher: DynPublisher,
    pub(crate) subscriber: DynSubscriber,
    pub(crate) requester: DynRequester,
    pub(crate) responder: DynResponder,
    pub(crate) backend: &'static str,
}

impl Bus {
    /// Publisher and subscriber as one transport (what `Hub::bridge` takes).
    pub(crate) fn pubsub(&self) -> PubSub {
        PubSub {
            publisher: self.publisher.clone(),
            subscriber: self.subscriber.clone(),
            backend: self.backend,
        }
    }
}

/// A publisher and a subscriber of one transport.
#[derive(Clone)]
pub(crate) struct PubSub {
    pub(crate) publisher: DynPublisher,
    pub(crate) subscriber: DynSubscriber,
    pub(crate) backend: &'static str,
}

impl Publisher for PubSub {
    async fn publish(&self, msg: Envelope) -> switchboard_core::Result<()> {
        self.publisher.publish(msg).await
    }
}

impl Subscriber for PubSub {
    type Stream = BoxMessageStream;
    async fn subscribe(&self, pattern: &Pattern) -> switchboard_core::Result<Self::Stream> {
        self.subscriber.subscribe(pattern).await
    }
}

/// Hands out key/value handles, one per namespace.
#[derive(Clone)]
pub(crate) struct KvFactory {
    make: Arc<dyn Fn(Namespace) -> DynKeyValue + Send + Sync>,
    pub(crate) backend: &'static str,
}

impl KvFactory {
    pub(crate) fn new(
        backend: &'static str,
        make: impl Fn(Namespace) -> DynKeyValue + Send + Sync + 'static,
    ) -> Self {
        KvFactory {
            make: Arc::new(make),
            backend,
        }
    }

    pub(crate) fn namespace(&self, namespace: &str) -> DynKeyValue {
        (self.make)(Namespace::new(namespace).expect("namespaces in code are valid"))
    }
}

pub(crate) type ProbeFuture = BoxFuture<'static, switchboard_core::Result<()>>;
pub(crate) type ProbeFn = Arc<dyn Fn() -> ProbeFuture + Send + Sync>;

/// The durable log: Kafka, or an in-memory log.
#[derive(Clone)]
pub(crate) struct Log {
    pub(crate) producer: DynLogProducer,
    pub(crate) consumer: DynLogConsumer,
    pub(crate) backend: &'static str,
    pub(crate) probe: Option<ProbeFn>,
}

/// The event store: Postgres, or in memory.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) store: DynEventStore,
    pub(crate) backend: &'static str,
    /// The Postgres store, whose inserts can be announced through its outbox.
    pub(crate) postgres: Option<switchboard_postgres::PgEventStore>,
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
    pub(crate) key: &'static str,
    pub(crate) source: BoxError,
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

pub(crate) fn failed(key: &'static str) -> impl FnOnce(switchboard_core::Error) -> BackendError {
    move |err| BackendError {
        key,
        source: Box::new(err),
    }
}

pub(crate) const MEMORY: &str = "memory";

/// The backends a service needs; the others stay in memory even when configured.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Needs {
    pub(crate) postgres: bool,
    pub(crate) redis: bool,
    pub(crate) nats: bool,
    pub(crate) kafka: bool,
}

impl Needs {
    pub(crate) const ALL: Needs = Needs {
        postgres: true,
        redis: true,
        nats: true,
        kafka: true,
    };
}

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

    /// Connects every needed backend whose URL is set; the others stay in memory.
    pub(crate) async fn connect(config: &Config, needs: Needs) -> Result<Backends, BackendError> {
        let mut backends = Backends::embedded();
        if let (true, Some(url)) = (needs.postgres, &config.postgres.url) {
            backends.store = connect::postgres(url, config.postgres.migrate).await?;
        }
        if let (true, Some(url)) = (needs.redis, &config.redis.url) {
            let (kv, pubsub) = connect::redis(url).await?;
            backends.kv = kv;
            backends.redis_pubsub = pubsub;
        }
        if let (true, Some(url)) = (needs.nats, &config.nats.url) {
            backends.bus = connect::nats(url).await?;
        }
        if let (true, Some(_)) = (needs.kafka, &config.kafka.brokers) {
            backends.log = connect::kafka(&config.kafka, &config.service).await?;
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
                "nats" | "firehose" => self.bus.backend,
                "websocket" if self.bus.backend == MEMORY => "in-process hub",
                "websocket" => "hub bridged over nats",
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
                    Box::pin(async move { store.page(None, 1).await.map(drop) }) as ProbeFuture
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
                    }) as ProbeFuture
                })
            }
            "nats" => {
                let publisher = self.bus.publisher.clone();
                Dependency::probed(name, self.bus.backend, move || {
                    let publisher = publisher.clone();
                    Box::pin(async move {
                        let subject = Subject::new("switchboard.health.probe").expect("valid");
                        publisher.publish(Envelope::new(subject, "")).await
                    }) as ProbeFuture
                })
            }
            _ => match &self.log.probe {
                Some(probe) => {
                    let probe = probe.clone();
                    Dependency::probed(name, self.log.backend, move || probe())
                }
                None => Dependency::probed(name, self.log.backend, || {
                    Box::pin(async { Ok(()) }) as ProbeFuture
                }),
            },
        }
    }
}

/// How long a health probe may take.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
