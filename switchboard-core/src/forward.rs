//! [`Forward`]: where a message goes next — a durable log ([`Append`]) or a pub/sub subject
//! ([`Publish`]). The dead-letter layer and the Postgres outbox relay send through it, so either
//! can target any [`LogProducer`] or [`Publisher`].
//!
//! ```
//! use switchboard_core::{forward::{Append, Forward, Publish}, mem::{MemBus, MemLog}, Envelope, Subject};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> switchboard_core::Result<()> {
//! let msg = Envelope::new(Subject::new("orders.dead")?, "poison");
//! Append(MemLog::new()).forward(msg.clone()).await?; // appended, waits for the log
//! Publish(MemBus::new()).forward(msg).await?; // published, at-most-once
//! # Ok(()) }
//! ```

use std::{future::Future, sync::Arc};

use crate::{Envelope, LogProducer, Publisher, Result};

/// Sends a message on to its subject; returns once the destination has taken it.
///
/// Keep the envelope's id: destinations that deduplicate (JetStream's `Nats-Msg-Id`, a
/// consumer's [`DedupeLayer`](crate::consume::DedupeLayer)) use it to make a re-sent message
/// land once.
pub trait Forward: Send + Sync {
    /// Forwards `msg` to the subject (or topic) it names.
    fn forward(&self, msg: Envelope) -> impl Future<Output = Result<()>> + Send;
}

/// Forwards by appending to a durable log; done once the log has stored the message.
#[derive(Clone, Debug)]
pub struct Append<P>(pub P);

impl<P: LogProducer> Forward for Append<P> {
    async fn forward(&self, msg: Envelope) -> Result<()> {
        self.0.append(msg).await.map(drop)
    }
}

/// Forwards by publishing on a pub/sub transport.
#[derive(Clone, Debug)]
pub struct Publish<P>(pub P);

impl<P: Publisher> Forward for Publish<P> {
    fn forward(&self, msg: Envelope) -> impl Future<Output = Result<()>> + Send {
        self.0.publish(msg)
    }
}

impl<F: Forward + ?Sized> Forward for Arc<F> {
    fn forward(&self, msg: Envelope) -> impl Future<Output = Result<()>> + Send {
        (**self).forward(msg)
    }
}
