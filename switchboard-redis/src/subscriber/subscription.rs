//! [`RedisSubscription`]: the stream of one subscription.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures::Stream;
use switchboard_core::{Envelope, Error, Result};
use tokio::sync::mpsc;

use super::hub::Hub;
use crate::channel::Target;

/// One subscription of a [`RedisSubscriber`](crate::RedisSubscriber): a stream of the matching
/// messages, in the order the server pushed them.
///
/// When the subscription's queue (see
/// [`RedisConfig::subscriber_capacity`](crate::RedisConfig::subscriber_capacity)) is full, new
/// messages are dropped for this subscription only; the next item is then one
/// [`Error::Lagged`] saying how many it missed, and the stream goes on. Dropping the stream
/// unsubscribes (the server subscription ends once no local subscription needs it).
pub struct RedisSubscription {
    rx: mpsc::Receiver<Envelope>,
    missed: Arc<AtomicU64>,
    _release: Release,
}

impl std::fmt::Debug for RedisSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSubscription")
            .field("target", &self._release.target)
            .finish_non_exhaustive()
    }
}

impl RedisSubscription {
    pub(super) fn new(
        rx: mpsc::Receiver<Envelope>,
        missed: Arc<AtomicU64>,
        hub: Arc<Hub>,
        target: Target,
        id: u64,
    ) -> Self {
        RedisSubscription {
            rx,
            missed,
            _release: Release { hub, target, id },
        }
    }
}

impl Stream for RedisSubscription {
    type Item = Result<Envelope>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let missed = self.missed.swap(0, Ordering::Relaxed);
        if missed > 0 {
            switchboard_core::metric::lagged(crate::SYSTEM, missed);
            return Poll::Ready(Some(Err(Error::Lagged { missed })));
        }
        self.rx.poll_recv(cx).map(|msg| {
            msg.map(|msg| {
                switchboard_core::metric::delivered("pubsub", crate::SYSTEM);
                Ok(msg)
            })
        })
    }
}

/// Removes the subscription from its hub when the stream is dropped.
struct Release {
    hub: Arc<Hub>,
    target: Target,
    id: u64,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.hub.release(&self.target, self.id);
    }
}
