//! [`lagging_channel`]: the bounded queue behind an at-most-once subscription.
//!
//! The sender never waits: a message that does not fit is dropped for this subscription only
//! and counted. The receiver is the subscription's `Stream`; after a loss its next item is one
//! [`Error::Lagged`] saying how many messages it missed, then the stream goes on. Every
//! pub/sub backend (the in-memory bus, NATS, Redis) delivers through one, which also records
//! the pub/sub `delivered` and `dropped` metrics under the backend's name.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures::Stream;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::{Error, Result, metric};

/// A queue of at most `capacity` items (at least 1) whose overflow is counted, not waited for;
/// `backend` labels its metrics (`messaging.system`, e.g. `nats`).
pub fn lagging_channel<T>(
    capacity: usize,
    backend: &'static str,
) -> (LaggingSender<T>, Lagging<T>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let missed = Arc::new(AtomicU64::new(0));
    let sender = LaggingSender {
        tx,
        missed: missed.clone(),
    };
    (
        sender,
        Lagging {
            rx,
            missed,
            backend,
        },
    )
}

/// The sending half of a [`lagging_channel`]; cheap to clone.
#[derive(Debug)]
pub struct LaggingSender<T> {
    tx: mpsc::Sender<T>,
    missed: Arc<AtomicU64>,
}

impl<T> Clone for LaggingSender<T> {
    fn clone(&self) -> Self {
        LaggingSender {
            tx: self.tx.clone(),
            missed: self.missed.clone(),
        }
    }
}

impl<T> LaggingSender<T> {
    /// Queues `item` without waiting; a full queue drops it and counts it as missed. Returns
    /// `false` once the receiver is gone (nothing is counted then).
    pub fn send(&self, item: T) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.missed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the receiver is gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The receiving half of a [`lagging_channel`]: a stream of the queued items, with one
/// [`Error::Lagged`] after each run of missed ones. Ends when every sender is dropped.
#[derive(Debug)]
pub struct Lagging<T> {
    rx: mpsc::Receiver<T>,
    missed: Arc<AtomicU64>,
    backend: &'static str,
}

impl<T> Stream for Lagging<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let missed = self.missed.swap(0, Ordering::Relaxed);
        if missed > 0 {
            metric::lagged(self.backend, missed);
            return Poll::Ready(Some(Err(Error::Lagged { missed })));
        }
        let backend = self.backend;
        self.rx.poll_recv(cx).map(|item| {
            item.map(|item| {
                metric::delivered("pubsub", backend);
                Ok(item)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn overflow_is_counted_then_the_stream_goes_on() {
        let (tx, mut rx) = lagging_channel(2, "test");
        for i in 0..5 {
            assert!(tx.send(i));
        }
        assert!(matches!(
            rx.next().await,
            Some(Err(Error::Lagged { missed: 3 }))
        ));
        assert_eq!(rx.next().await.unwrap().unwrap(), 0);
        assert_eq!(rx.next().await.unwrap().unwrap(), 1);
        assert!(tx.send(5));
        assert_eq!(rx.next().await.unwrap().unwrap(), 5);
        drop(tx);
        assert!(rx.next().await.is_none());
    }

    #[tokio::test]
    async fn a_dropped_receiver_closes_the_sender() {
        let (tx, rx) = lagging_channel::<u8>(1, "test");
        drop(rx);
        assert!(tx.is_closed());
        assert!(!tx.send(1));
        tx.closed().await;
    }
}
