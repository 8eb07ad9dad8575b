//! What every route shares: the transports of each flow, the firehose, the chat hub, the
//! page's CSRF token and the limits on visitors.

use std::sync::Arc;

use switchboard_core::{
    DynEventStore, DynKeyValue, DynLogProducer, DynPublisher, DynRequester, DynSubscriber,
    Firehose, Namespace,
    announce::{Announcing, DynAnnounceInsert},
    forward::Publish,
};

use switchboard_ws::Hub;

use crate::{
    chat,
    common::{
        backends::Backends, gateway_config::LimitsConfig, health::Health, shutdown::Shutdown,
    },
    limits::OpenConnections,
    peers::Peers,
    rates::Rates,
};

/// The key/value namespace of the Redis panel: its keys can never reach another namespace.
pub(crate) const WEB_NAMESPACE: &str = "web";

/// Shared by every route; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) store: DynEventStore,
    /// Inserts an event and announces it on `switchboard.events.created`: through the
    /// Postgres outbox in the row's transaction, or right after the insert in memory.
    pub(crate) announcer: DynAnnounceInsert,
    pub(crate) kv: DynKeyValue,
    pub(crate) redis_publisher: DynPublisher,
    pub(crate) redis_subscriber: DynSubscriber,
    pub(crate) bus_subscriber: DynSubscriber,
    /// The bus's backend, the `messaging.system` of the spans of what it delivers.
    pub(crate) bus_backend: &'static str,
    /// Live per-flow rates for the overview.
    pub(crate) rates: Rates,
    pub(crate) requester: DynRequester,
    pub(crate) producer: DynLogProducer,
    pub(crate) firehose: Firehose,
    pub(crate) hub: Hub,
    pub(crate) peers: Peers,
    pub(crate) health: Health,
    pub(crate) shutdown: Shutdown,
    pub(crate) csrf_token: String,
    pub(crate) limits: LimitsConfig,
    pub(crate) open_streams: OpenConnections,
    pub(crate) open_sockets: OpenConnections,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state from the chosen backends; starts the firehose and heartbeat listener.
    pub(crate) fn new(
        backends: &Backends,
        health: Health,
        shutdown: Shutdown,
        limits: &LimitsConfig,
    ) -> AppState {
        let firehose = Firehose::spawn(
            backends.bus.publisher.clone(),
            "gateway",
            Firehose::DEFAULT_CAPACITY,
        );
        let peers = Peers::listen(backends.bus.subscriber.clone(), shutdown.clone());
        AppState(Arc::new(Inner {
            store: backends.store.store.clone(),
            announcer: match &backends.store.postgres {
                Some(postgres) => DynAnnounceInsert::new(postgres.clone()),
                None => DynAnnounceInsert::new(Announcing::new(
                    backends.store.store.clone(),
                    Publish(backends.bus.publisher.clone()),
                )),
            },
            kv: backends
                .kv
                .namespace(Namespace::new(WEB_NAMESPACE).expect("valid namespace")),
            redis_publisher: backends.pubsub.publisher.clone(),
            redis_subscriber: backends.pubsub.subscriber.clone(),
            bus_subscriber: backends.bus.subscriber.clone(),
            bus_backend: backends.bus.backend,
            rates: Rates::default(),
            requester: backends.bus.requester.clone(),
            producer: backends.log.producer.clone(),
            hub: chat::hub(firehose.clone()),
            firehose,
            peers,
            health,
            shutdown,
            csrf_token: csrf_token(),
            open_streams: OpenConnections::new("SSE streams", limits.sse, limits.retry),
            open_sockets: OpenConnections::new("WebSockets", limits.ws, limits.retry),
            limits: limits.clone(),
        }))
    }
}

/// A per-process random token the page sends back in the `x-csrf-token` header.
fn csrf_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
