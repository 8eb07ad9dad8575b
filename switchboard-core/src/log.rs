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
//! - A nack rewinds its partition to the nacked message, as a Kafka consumer seeks back:
//!   later messages of that partition that were not acked yet come again after it, so per-key
//!   order holds across redeliveries.

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

/// Joins consumer groups.
pub trait LogConsumer: Send + Sync {
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
    envelope: Envelope,
    position: Position,
    attempt: u32,
    acker: Option<Box<dyn Acknowledge>>,
}

impl Delivery {
    /// Builds a delivery; backends call this.
    pub fn new(
        envelope: Envelope,
        position: Position,
        attempt: u32,
        acker: impl Acknowledge,
    ) -> Self {
        Delivery {
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

    /// 1 on first delivery, then one more per redelivery.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Marks the message handled.
    pub async fn ack(mut self) -> Result<()> {
        match self.acker.take() {
            Some(acker) => acker.ack().await,
            None => Ok(()),
        }
    }

    /// Asks for the message again after `delay` (backends cap very long delays; the in-memory
    /// log at one day).
    pub async fn nack(mut self, delay: Duration) -> Result<()> {
        match self.acker.take() {
            Some(acker) => acker.nack(delay).await,
            None => Ok(()),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(acker) = self.acker.take() {
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
        fn join<'g, 't>(&self, group: &'g Group, topics: &'t [Topic]) -> Result<BoxDeliveryStream>
            => |stream: Result<_>| stream.map(StreamExt::boxed);
    }
}
