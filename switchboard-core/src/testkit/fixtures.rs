use std::{future::Future, time::Duration};

use crate::{
    BusCapabilities, EventStore, KeyValue, LogConsumer, LogProducer, Namespace, Publisher,
    Requester, Responder, Subscriber, Topic,
};

/// Hands out a backend's pub/sub transports.
pub trait PubSubFixture: Send + Sync + 'static {
    /// The publisher type.
    type Publisher: Publisher + Clone + 'static;
    /// The subscriber type.
    type Subscriber: Subscriber + Clone + 'static;
    /// A publisher.
    fn publisher(&self) -> Self::Publisher;
    /// A subscriber.
    fn subscriber(&self) -> Self::Subscriber;
    /// What the transports carry of an envelope; the cases check the promise where it is made
    /// and the weaker one otherwise.
    fn capabilities(&self) -> BusCapabilities {
        BusCapabilities::WHOLE_ENVELOPE
    }
}

/// Hands out a backend's request/reply transports.
pub trait RequestReplyFixture: Send + Sync + 'static {
    /// The requester type.
    type Requester: Requester + Clone + 'static;
    /// The responder type.
    type Responder: Responder + Clone + 'static;
    /// A requester.
    fn requester(&self) -> Self::Requester;
    /// A responder.
    fn responder(&self) -> Self::Responder;
    /// What a request carries of its envelope; see [`PubSubFixture::capabilities`].
    fn capabilities(&self) -> BusCapabilities {
        BusCapabilities::WHOLE_ENVELOPE
    }
}

/// Hands out a backend's durable log.
pub trait LogFixture: Send + Sync + 'static {
    /// The producer type.
    type Producer: LogProducer + Clone + 'static;
    /// The consumer type.
    type Consumer: LogConsumer + Clone + 'static;
    /// A producer.
    fn producer(&self) -> Self::Producer;
    /// A consumer.
    fn consumer(&self) -> Self::Consumer;
    /// Creates `topic` with `partitions` partitions and returns once it can be used.
    fn create_topic(&self, topic: &Topic, partitions: u32) -> impl Future<Output = ()> + Send;
    /// How long a group takes to hand out partitions after members join or leave.
    fn settle_time(&self) -> Duration {
        Duration::ZERO
    }
    /// The longest a redelivery may take after a nack, a drop or a member leaving.
    fn redelivery_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// Hands out key/value handles.
pub trait KeyValueFixture: Send + Sync + 'static {
    /// The handle type.
    type KeyValue: KeyValue + 'static;
    /// A handle confined to `namespace`.
    fn namespace(&self, namespace: Namespace) -> Self::KeyValue;
}

/// Hands out an event store that no other test uses.
pub trait EventStoreFixture: Send + Sync + 'static {
    /// The store type.
    type Store: EventStore + Clone + 'static;
    /// The isolated store.
    fn store(&self) -> Self::Store;
}
