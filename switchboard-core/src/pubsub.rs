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

use std::{future::Future, sync::Arc};

use futures::{FutureExt, Stream, StreamExt, future::BoxFuture, stream::BoxStream};

use crate::{Envelope, Pattern, Result};

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

trait ErasedPublisher: Send + Sync {
    fn publish(&self, msg: Envelope) -> BoxFuture<'_, Result<()>>;
}

impl<P: Publisher> ErasedPublisher for P {
    fn publish(&self, msg: Envelope) -> BoxFuture<'_, Result<()>> {
        Publisher::publish(self, msg).boxed()
    }
}

trait ErasedSubscriber: Send + Sync {
    fn subscribe<'a>(&'a self, pattern: &'a Pattern) -> BoxFuture<'a, Result<BoxMessageStream>>;
}

impl<S: Subscriber> ErasedSubscriber for S {
    fn subscribe<'a>(&'a self, pattern: &'a Pattern) -> BoxFuture<'a, Result<BoxMessageStream>> {
        Box::pin(async move { Ok(Subscriber::subscribe(self, pattern).await?.boxed()) })
    }
}

/// A type-erased [`Publisher`], for choosing the backend at run time.
#[derive(Clone)]
pub struct DynPublisher(Arc<dyn ErasedPublisher>);

impl DynPublisher {
    /// Erases the type of `publisher`.
    pub fn new(publisher: impl Publisher + 'static) -> Self {
        DynPublisher(Arc::new(publisher))
    }
}

impl Publisher for DynPublisher {
    fn publish(&self, msg: Envelope) -> impl Future<Output = Result<()>> + Send {
        self.0.publish(msg)
    }
}

/// A type-erased [`Subscriber`], for choosing the backend at run time.
#[derive(Clone)]
pub struct DynSubscriber(Arc<dyn ErasedSubscriber>);

impl DynSubscriber {
    /// Erases the type of `subscriber`.
    pub fn new(subscriber: impl Subscriber + 'static) -> Self {
        DynSubscriber(Arc::new(subscriber))
    }
}

impl Subscriber for DynSubscriber {
    type Stream = BoxMessageStream;
    async fn subscribe(&self, pattern: &Pattern) -> Result<Self::Stream> {
        self.0.subscribe(pattern).await
    }
}

impl std::fmt::Debug for DynPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynPublisher")
    }
}

impl std::fmt::Debug for DynSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynSubscriber")
    }
}
