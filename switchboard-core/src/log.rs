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

use std::{fmt, future::Future, sync::Arc, time::Duration};

use futures::{FutureExt, Stream, StreamExt, future::BoxFuture, stream::BoxStream};

use crate::{Envelope, Group, Result, Topic};

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
        crate::metric::count_log(crate::metric::DELIVERED);
        if attempt > 1 {
            crate::metric::count_log(crate::metric::REDELIVERED);
        }
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
        crate::metric::count_log(crate::metric::ACKED);
        match self.acker.take() {
            Some(acker) => acker.ack().await,
            None => Ok(()),
        }
    }

    /// Asks for the message again after `delay` (backends cap very long delays; the in-memory
    /// log at one day).
    pub async fn nack(mut self, delay: Duration) -> Result<()> {
        crate::metric::count_log(crate::metric::NACKED);
        match self.acker.take() {
            Some(acker) => acker.nack(delay).await,
            None => Ok(()),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(acker) = self.acker.take() {
            crate::metric::count_log(crate::metric::NACKED);
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

trait ErasedLogProducer: Send + Sync {
    fn append(&self, msg: Envelope) -> BoxFuture<'_, Result<Position>>;
}

impl<P: LogProducer> ErasedLogProducer for P {
    fn append(&self, msg: Envelope) -> BoxFuture<'_, Result<Position>> {
        LogProducer::append(self, msg).boxed()
    }
}

trait ErasedLogConsumer: Send + Sync {
    fn join<'a>(
        &'a self,
        group: &'a Group,
        topics: &'a [Topic],
    ) -> BoxFuture<'a, Result<BoxDeliveryStream>>;
}

impl<C: LogConsumer> ErasedLogConsumer for C {
    fn join<'a>(
        &'a self,
        group: &'a Group,
        topics: &'a [Topic],
    ) -> BoxFuture<'a, Result<BoxDeliveryStream>> {
        Box::pin(async move { Ok(LogConsumer::join(self, group, topics).await?.boxed()) })
    }
}

/// A type-erased [`LogProducer`].
#[derive(Clone)]
pub struct DynLogProducer(Arc<dyn ErasedLogProducer>);

impl DynLogProducer {
    /// Erases the type of `producer`.
    pub fn new(producer: impl LogProducer + 'static) -> Self {
        DynLogProducer(Arc::new(producer))
    }
}

impl LogProducer for DynLogProducer {
    fn append(&self, msg: Envelope) -> impl Future<Output = Result<Position>> + Send {
        self.0.append(msg)
    }
}

/// A type-erased [`LogConsumer`].
#[derive(Clone)]
pub struct DynLogConsumer(Arc<dyn ErasedLogConsumer>);

impl DynLogConsumer {
    /// Erases the type of `consumer`.
    pub fn new(consumer: impl LogConsumer + 'static) -> Self {
        DynLogConsumer(Arc::new(consumer))
    }
}

impl LogConsumer for DynLogConsumer {
    type Stream = BoxDeliveryStream;
    async fn join(&self, group: &Group, topics: &[Topic]) -> Result<Self::Stream> {
        self.0.join(group, topics).await
    }
}

impl fmt::Debug for DynLogProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynLogProducer")
    }
}

impl fmt::Debug for DynLogConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynLogConsumer")
    }
}
