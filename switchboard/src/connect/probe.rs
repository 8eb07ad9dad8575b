//! Health probes of the connected servers, from the same handles the services use.

use std::{fmt, sync::Arc};

use futures::future::BoxFuture;
use switchboard_core::{Envelope, EventStore, Key, KeyValue, Namespace, Publisher, Subject};

use super::Backends;

/// What a probe returns.
pub type ProbeFuture = BoxFuture<'static, switchboard_core::Result<()>>;
pub(super) type ProbeFn = Arc<dyn Fn() -> ProbeFuture + Send + Sync>;

/// The subject the NATS probe publishes to (nobody needs to listen).
pub const PROBE_SUBJECT: &str = "switchboard.health.probe";

/// A server a service depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Server {
    /// The event store.
    Postgres,
    /// Key/value and plain-client pub/sub.
    Redis,
    /// Pub/sub and request/reply.
    Nats,
    /// The durable log.
    Kafka,
}

impl Server {
    /// Every server, in the order the page lists them.
    pub const ALL: [Server; 4] = [Server::Postgres, Server::Redis, Server::Nats, Server::Kafka];

    /// Its lowercase name (`postgres`…).
    pub const fn as_str(self) -> &'static str {
        match self {
            Server::Postgres => "postgres",
            Server::Redis => "redis",
            Server::Nats => "nats",
            Server::Kafka => "kafka",
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One server's health check: a cheap round trip through the handle the service uses.
#[derive(Clone)]
pub struct Probe {
    /// The server.
    pub server: Server,
    /// The backend behind it (`memory` when it is not configured).
    pub backend: &'static str,
    check: ProbeFn,
}

impl Probe {
    /// Runs the check once; bound it with a timeout.
    pub fn check(&self) -> ProbeFuture {
        (self.check)()
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("server", &self.server)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Backends {
    /// The health probe of `server`: a page of the store, a key read, a publish, the log's
    /// metadata. An in-memory stand-in is always healthy.
    pub fn probe(&self, server: Server) -> Probe {
        let (backend, check): (&'static str, ProbeFn) = match server {
            Server::Postgres => {
                let store = self.store.store.clone();
                (
                    self.store.backend,
                    Arc::new(move || {
                        let store = store.clone();
                        Box::pin(async move { store.page(None, 1).await.map(drop) })
                    }),
                )
            }
            Server::Redis => {
                let kv = self
                    .kv
                    .namespace(Namespace::new("health").expect("valid namespace"));
                (
                    self.kv.backend,
                    Arc::new(move || {
                        let kv = kv.clone();
                        Box::pin(async move {
                            kv.get(&Key::new("probe").expect("valid key"))
                                .await
                                .map(drop)
                        })
                    }),
                )
            }
            Server::Nats => {
                let publisher = self.bus.publisher.clone();
                (
                    self.bus.backend,
                    Arc::new(move || {
                        let publisher = publisher.clone();
                        Box::pin(async move {
                            let subject = Subject::new(PROBE_SUBJECT).expect("valid subject");
                            publisher.publish(Envelope::new(subject, "")).await
                        })
                    }),
                )
            }
            Server::Kafka => (
                self.log.backend,
                self.log
                    .probe
                    .clone()
                    .unwrap_or_else(|| Arc::new(|| Box::pin(async { Ok(()) }))),
            ),
        };
        Probe {
            server,
            backend,
            check,
        }
    }
}
