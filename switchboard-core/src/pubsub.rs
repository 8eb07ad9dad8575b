//! Publish/subscribe: fire-and-forget fan-out to every matching subscriber.
//!
//! # Semantics: at-most-once
//!
//! - A message reaches every subscription whose [`Pattern`] matches its subject and that was
//!   active (its `subscribe` call had returned) when the message was published.
//! - Nothing is stored: a subscriber that is disconnected or not yet subscribed misses it.
//! - Order is kept per publisher and subject.
//! - A subscriber that falls behind is never allowed to block the publisher: each backend
//!   documents its bound. The in-memory transport drops the overflow for that subscriber only
//!   and yields one [`Error::Lagged`](crate::Error::Lagged) item saying how many it missed.
//! - Dropping the stream unsubscribes.
//! - Subject, payload, key and headers arrive as sent. The id and timestamp do where the
//!   backend states [`BusCapabilities::keeps_id_and_timestamp`]; elsewhere the receiver gives
//!   the message a fresh id and the time it arrived. The same holds for requests.

use std::{future::Future, sync::Arc};

use futures::{Stream, StreamExt, stream::BoxStream};

use crate::{Envelope, Pattern, Result, erased::dyn_twin};

/// What a pub/sub or request/reply transport carries of an [`Envelope`] beyond its subject,
/// payload, key and headers, which every one carries. The conformance kit checks each backend
/// against what it states (`docs/conformance.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BusCapabilities {
    /// The id and timestamp the sender gave the envelope arrive with it; otherwise the
    /// receiver gives it a fresh id and the time it arrived.
    pub keeps_id_and_timestamp: bool,
}

impl BusCapabilities {
    /// Every field arrives as sent.
    pub const WHOLE_ENVELOPE: BusCapabilities = BusCapabilities {
        keeps_id_and_timestamp: true,
    };
    /// The id and timestamp are the receiver's.
    pub const WITHOUT_ID_AND_TIMESTAMP: BusCapabilities = BusCapabilities {
        keeps_id_and_timestamp: false,
    };
}

/// Publishes messages to subjects.
pub trait Publisher: Send + Sync {
    /// Publishes `msg` to its subject. Returns once the backend has taken the message; delivery
    /// to subscribers is at-most-once.
    fn publish(&self, msg: Envelope) -> impl Future<Output = Result<()>> + Send;
}

/// Subscribes to subjects by pattern.
pub trait Subscriber: Send + Sync {
    /// The stream of messages of one subscription.
    type Stream: Stream<Item = Result<Envelope>> + Send + Unpin + 'static;

    /// Subscribes to every subject that `pattern` matches. When this returns, the subscription
    /// is active: every message published afterwards is delivered to it.
    fn subscribe(&self, pattern: &Pattern) -> impl Future<Output = Result<Self::Stream>> + Send;
}

impl<P: Publisher + ?Sized> Publisher for Arc<P> {
    fn publish(&self, msg: Envelope) -> impl Future<Output = Result<()>> + Send {
        (**self).publish(msg)
    }
}

impl<S: Subscriber + ?Sized> Subscriber for Arc<S> {
    type Stream = S::Stream;
    fn subscribe(&self, pattern: &Pattern) -> impl Future<Output = Result<Self::Stream>> + Send {
        (**self).subscribe(pattern)
    }
}

/// A boxed subscription stream, as returned by [`DynSubscriber`].
pub type BoxMessageStream = BoxStream<'static, Result<Envelope>>;

dyn_twin! {
    /// A type-erased [`Publisher`], for choosing the backend at run time.
    pub struct DynPublisher: Publisher via ErasedPublisher {
        fn publish(&self, msg: Envelope) -> Result<()>;
    }
}

dyn_twin! {
    /// A type-erased [`Subscriber`], for choosing the backend at run time.
    pub struct DynSubscriber: Subscriber via ErasedSubscriber {
        type Stream = BoxMessageStream;
        fn subscribe<'p>(&self, pattern: &'p Pattern) -> Result<BoxMessageStream>
            => |stream: Result<_>| stream.map(StreamExt::boxed);
    }
}
