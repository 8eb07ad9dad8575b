//! Durable log: the Kafka / JetStream shape.
//!
//! # Semantics: at-least-once, explicit ack
//!
//! - [`LogProducer::append`] returns once the message is stored, with its [`Position`].
//! - Messages with the same key land in the same partition and keep their order there.
//! - Each consumer group sees every message; the members of one group split the partitions
//!   between them.
//! - A [`Delivery`] must be acked. [`Delivery::nack`] asks for it again after a delay; a delivery
//!   dropped without ack or nack counts as a nack without delay; deliveries still unacked when
//!   their consumer stream is dropped go to the group's next member. So a message can arrive
//!   more than once (check [`Delivery::attempt`]) but is never lost while the log holds it.
//! - One member sees the messages of one key in the order they were appended.
//!
//! What differs between backends is stated by each in [`LogCapabilities`] and checked by the
//! conformance kit: the promised guarantee where a backend states it, the weaker one otherwise.
//!
//! | capability | promised | otherwise |
//! |---|---|---|
//! | [`rewind_on_nack`](LogCapabilities::rewind_on_nack) | a nack rewinds its partition to the nacked message, as a Kafka consumer seeks back: later messages of that partition not acked yet come again after it, so per-key order holds across redeliveries | the nacked message alone comes back later; the others go on |
//! | [`per_key_order_multi_member`](LogCapabilities::per_key_order_multi_member) | with several members in a group, each key's messages go to one member, in order (partitions are assigned to one member each) | members share every partition: a key's messages may be split between members |

use std::{fmt, future::Future, time::Duration};

use futures::{Stream, StreamExt, future::BoxFuture, stream::BoxStream};

use crate::{Envelope, Group, Result, Topic, erased::dyn_twin};

/// Where a message landed: its partition and offset (JetStream: partition 0 and the stream
/// sequence).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Position {
    /// The partition.
    pub partition: u32,
    /// The offset within the partition.
    pub offset: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.partition, self.offset)
    }
}

/// Appends messages to a durable log.
pub trait LogProducer: Send + Sync {
    /// Appends `msg` to the topic named by its subject; returns where it was stored.
    fn append(&self, msg: Envelope) -> impl Future<Output = Result<Position>> + Send;
}

/// The ordering guarantees a durable log gives beyond at-least-once; see the
/// [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub struct LogCapabilities {
    /// A nack rewinds its partition: later unacked messages come again after the nacked one.
    pub rewind_on_nack: bool,
    /// Several members of one group keep each key's order (one member per partition).
    pub per_key_order_multi_member: bool,
}

impl LogCapabilities {
    /// At-least-once and nothing more: the contract every backend keeps.
    pub const AT_LEAST_ONCE: LogCapabilities = LogCapabilities {
        rewind_on_nack: false,
        per_key_order_multi_member: false,
    };
    /// Partitioned like Kafka: nacks rewind, and a key belongs to one member.
    pub const PARTITIONED: LogCapabilities = LogCapabilities {
        rewind_on_nack: true,
        per_key_order_multi_member: true,
    };
}

/// Joins consumer groups.
pub trait LogConsumer: Send + Sync {
    /// What this log guarantees beyond at-least-once.
    fn capabilities(&self) -> LogCapabilities;

    /// The deliveries of one group member.
    type Stream: Stream<Item = Result<Delivery>> + Send + Unpin + 'static;

    /// Joins `group` as a new member reading `topics`. Dropping the stream leaves the group.
    /// A new group starts at the oldest message the log still holds.
    fn join(
        &self,
        group: &Group,
        topics: &[Topic],
    ) -> impl Future<Output = Result<Self::Stream>> + Send;
}

/// Creates topics with a partition count (Kafka's admin client, a JetStream stream).
pub trait TopicAdmin: Send + Sync {
    /// Creates `topic` with `partitions` partitions; succeeds if it already exists.
    fn create_topic(
        &self,
        topic: &Topic,
        partitions: u32,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// How a backend settles one delivery. Implemented by backends, called through [`Delivery`].
pub trait Acknowledge: Send + 'static {
    /// The message was handled: do not deliver it again.
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<()>>;
    /// The message was not handled: deliver it again after `delay`.
    fn nack(self: Box<Self>, delay: Duration) -> BoxFuture<'static, Result<()>>;
    /// The delivery was dropped unsettled; must not block. Treated as a nack without delay.
    fn abandon(self: Box<Self>);
}

/// One message handed to a consumer group member, to be acked or nacked.
pub struct Delivery {
    backend: &'static str,
    envelope: Envelope,
    position: Position,
    attempt: u32,
    acker: Option<Box<dyn Acknowledge>>,
}

impl Delivery {
    /// Builds a delivery; backends call this with their `messaging.system` (the `backend`
    /// label of the delivery metrics).
    pub fn new(
        backend: &'static str,
        envelope: Envelope,
        position: Position,
        attempt: u32,
        acker: impl Acknowledge,
    ) -> Self {
        crate::metric::count_log(crate::metric::DELIVERED, backend);
        if attempt > 1 {
            crate::metric::count_log(crate::metric::REDELIVERED, backend);
        }
        Delivery {
            backend,
            envelope,
            position,
            attempt,
            acker: Some(Box::new(acker)),
        }
    }

    /// The message.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Where the message is stored.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The backend that delivered it (its `messaging.system`).
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// 1 on first delivery, then one more per redelivery.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Marks the message handled.
    pub async fn ack(mut self) -> Result<()> {
        crate::metric::count_log(crate::metric::ACKED, self.backend);
        match self.acker.take() {
            Some(acker) => acker.ack().await,
            None => Ok(()),
        }
    }

    /// Asks for the message again after `delay` (backends cap very long delays; the in-memory
    /// log at one day).
    pub async fn nack(mut self, delay: Duration) -> Result<()> {
        crate::metric::count_log(crate::metric::NACKED, self.backend);
        match self.acker.take() {
            Some(acker) => acker.nack(delay).await,
            None => Ok(()),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(acker) = self.acker.take() {
            crate::metric::count_log(crate::metric::NACKED, self.backend);
            acker.abandon();
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("envelope", &self.envelope)
            .field("position", &self.position)
            .field("attempt", &self.attempt)
            .finish()
    }
}

/// A boxed delivery stream, as returned by [`DynLogConsumer`].
pub type BoxDeliveryStream = BoxStream<'static, Result<Delivery>>;

dyn_twin! {
    /// A type-erased [`LogProducer`].
    pub struct DynLogProducer: LogProducer via ErasedLogProducer {
        fn append(&self, msg: Envelope) -> Result<Position>;
    }
}

dyn_twin! {
    /// A type-erased [`LogConsumer`].
    pub struct DynLogConsumer: LogConsumer via ErasedLogConsumer {
        type Stream = BoxDeliveryStream;
        sync fn capabilities(&self) -> LogCapabilities;
        fn join<'g, 't>(&self, group: &'g Group, topics: &'t [Topic]) -> Result<BoxDeliveryStream>
            => |stream: Result<_>| stream.map(StreamExt::boxed);
    }
}
