//! [`RedisSubscription`]: the stream of one subscription.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures::{Stream, StreamExt};
use switchboard_core::{Envelope, Result, lagging::Lagging};

use super::hub::Hub;
use crate::channel::Target;

/// One subscription of a [`RedisSubscriber`](crate::RedisSubscriber): a stream of the matching
/// messages, in the order the server pushed them.
///
/// When the subscription's queue (see
/// [`RedisConfig::subscriber_capacity`](crate::RedisConfig::subscriber_capacity)) is full, new
/// messages are dropped for this subscription only; the next item is then one
/// [`Error::Lagged`](switchboard_core::Error::Lagged) saying how many it missed, and the stream
/// goes on. Dropping the stream unsubscribes (the server subscription ends once no local
/// subscription needs it).
pub struct RedisSubscription {
    rx: Lagging<Envelope>,
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
    pub(super) fn new(rx: Lagging<Envelope>, hub: Arc<Hub>, target: Target, id: u64) -> Self {
        RedisSubscription {
            rx,
            _release: Release { hub, target, id },
        }
    }
}

impl Stream for RedisSubscription {
    type Item = Result<Envelope>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_next_unpin(cx)
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
