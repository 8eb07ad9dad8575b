//! [`lagging_channel`]: the bounded queue behind an at-most-once subscription.
//!
//! The sender never waits: a message that does not fit is dropped for this subscription only
//! and counted. The receiver is the subscription's `Stream`; after a loss its next item is one
//! [`Error::Lagged`] saying how many messages it missed, then the stream goes on. Every
//! pub/sub backend (the in-memory bus, NATS, Redis) delivers through one, which also records
//! the pub/sub `delivered` and `dropped` metrics under the backend's name.
//!
//! The queue is a `VecDeque` behind a mutex that the receiver swaps for its own buffer when
//! that runs dry, so it takes the lock once per batch, not per message. An empty queue holds
//! no buffer (its whole heap is one small shared block); buffers grow to the largest batch
//! seen, are reused from then on, and are given back when the receiver goes idle after a
//! burst of more than [`KEEP_WHEN_IDLE`] messages.
//!
//! The `delivered` counter is registered when the subscription is made, so install the
//! application's metrics recorder before subscribing (the services do it first thing).

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker, ready},
};

use futures::Stream;
use tokio::{sync::Notify, task::coop};

use crate::{Error, Result, metric};

/// Buffer room (in messages) an idle receiver keeps; beyond it, buffers are shrunk to this.
pub const KEEP_WHEN_IDLE: usize = 256;

struct State<T> {
    queue: VecDeque<T>,
    /// The receiver, when it found the queue empty.
    waker: Option<Waker>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Messages the receiver took out of `queue` and has not yielded yet: with `queue.len()`,
    /// what the subscription holds against its capacity.
    in_hand: AtomicUsize,
    missed: AtomicU64,
    senders: AtomicUsize,
    receiver_gone: AtomicBool,
    receiver_dropped: Notify,
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        // The lock is never held across code that can panic, but a poisoned queue is still a
        // queue: keep delivering.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A queue of at most `capacity` items (at least 1) whose overflow is counted, not waited for;
/// `backend` labels its metrics (`messaging.system`, e.g. `nats`).
pub fn lagging_channel<T>(
    capacity: usize,
    backend: &'static str,
) -> (LaggingSender<T>, Lagging<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            waker: None,
        }),
        capacity: capacity.max(1),
        in_hand: AtomicUsize::new(0),
        missed: AtomicU64::new(0),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        receiver_dropped: Notify::new(),
    });
    (
        LaggingSender {
            shared: shared.clone(),
        },
        Lagging {
            shared,
            ready: VecDeque::new(),
            backend,
            delivered: delivered_counter(backend),
        },
    )
}

/// `metric::delivered` for one subscription of `backend`, registered once: a `counter!` with
/// run-time labels builds its key (an allocation and a hash) on every call, which cost more
/// than the delivery.
pub(crate) fn delivered_counter(backend: &'static str) -> ::metrics::Counter {
    ::metrics::counter!(metric::DELIVERED, "flow" => "pubsub", "backend" => backend)
}

/// The sending half of a [`lagging_channel`]; cheap to clone.
pub struct LaggingSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::fmt::Debug for LaggingSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaggingSender")
            .field("capacity", &self.shared.capacity)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T> Clone for LaggingSender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        LaggingSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for LaggingSender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The receiver checks the count under the lock before it waits, so taking the lock
            // after the count reached zero either finds its waker or lets it see the zero.
            let waker = self.shared.state().waker.take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T> LaggingSender<T> {
    /// Queues `item` without waiting; a full queue drops it and counts it as missed. Returns
    /// `false` once the receiver is gone (nothing is counted then).
    pub fn send(&self, item: T) -> bool {
        let shared = &*self.shared;
        if shared.receiver_gone.load(Ordering::Acquire) {
            return false;
        }
        let waker = {
            let mut state = shared.state();
            if state.queue.len() + shared.in_hand.load(Ordering::Relaxed) >= shared.capacity {
                drop(state);
                shared.missed.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            state.queue.push_back(item);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.receiver_gone.load(Ordering::Acquire)
    }

    /// Resolves once the receiver is gone.
    pub async fn closed(&self) {
        loop {
            // Created before the check: a drop in between still wakes it.
            let dropped = self.shared.receiver_dropped.notified();
            if self.is_closed() {
                return;
            }
            dropped.await;
        }
    }
}

/// The receiving half of a [`lagging_channel`]: a stream of the queued items, with one
/// [`Error::Lagged`] after each run of missed ones. Ends when every sender is dropped.
pub struct Lagging<T> {
    shared: Arc<Shared<T>>,
    /// The batch taken from the queue, yielded before the queue is looked at again.
    ready: VecDeque<T>,
    backend: &'static str,
    delivered: ::metrics::Counter,
}

impl<T> std::fmt::Debug for Lagging<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lagging")
            .field("backend", &self.backend)
            .field("capacity", &self.shared.capacity)
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl<T> Unpin for Lagging<T> {}

impl<T> Lagging<T> {
    fn yield_ready(&mut self) -> Option<T> {
        let item = self.ready.pop_front()?;
        // Only the receiver writes `in_hand`: a store, not a read-modify-write.
        let in_hand = self.shared.in_hand.load(Ordering::Relaxed);
        self.shared.in_hand.store(in_hand - 1, Ordering::Relaxed);
        self.delivered.increment(1);
        Some(item)
    }
}

impl<T> Stream for Lagging<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Read before taking: a subscription that keeps up pays a load, not a swap.
        let missed = match self.shared.missed.load(Ordering::Relaxed) {
            0 => 0,
            _ => self.shared.missed.swap(0, Ordering::Relaxed),
        };
        if missed > 0 {
            metric::lagged(self.backend, missed);
            return Poll::Ready(Some(Err(Error::Lagged { missed })));
        }
        // Like tokio's own channels: a stream that is always ready still lets other tasks run.
        let progress = ready!(coop::poll_proceed(cx));
        if let Some(item) = self.yield_ready() {
            progress.made_progress();
            return Poll::Ready(Some(Ok(item)));
        }
        let this = &mut *self;
        let mut state = this.shared.state();
        if state.queue.is_empty() {
            if this.shared.senders.load(Ordering::Acquire) == 0 {
                return Poll::Ready(None);
            }
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            // Idle after a burst: give back what a quiet subscription does not need.
            state.queue.shrink_to(KEEP_WHEN_IDLE);
            drop(state);
            this.ready.shrink_to(KEEP_WHEN_IDLE);
            return Poll::Pending;
        }
        std::mem::swap(&mut state.queue, &mut this.ready);
        this.shared
            .in_hand
            .store(this.ready.len(), Ordering::Relaxed);
        drop(state);
        let item = this.yield_ready();
        progress.made_progress();
        Poll::Ready(item.map(Ok))
    }
}

impl<T> Drop for Lagging<T> {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
        self.shared.receiver_dropped.notify_waiters();
        // What is still queued goes now, not when the last sender goes.
        let queued = std::mem::take(&mut self.shared.state().queue);
        drop(queued);
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
    async fn the_bound_counts_what_the_receiver_took_but_did_not_yield() {
        let (tx, mut rx) = lagging_channel(3, "test");
        for i in 0..3 {
            assert!(tx.send(i));
        }
        // The receiver takes all three at once and yields one: two are still held.
        assert_eq!(rx.next().await.unwrap().unwrap(), 0);
        assert!(tx.send(3));
        assert!(tx.send(4));
        assert!(matches!(
            rx.next().await,
            Some(Err(Error::Lagged { missed: 1 }))
        ));
        for want in 1..=3 {
            assert_eq!(rx.next().await.unwrap().unwrap(), want);
        }
        drop(tx);
        assert!(rx.next().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_message_and_for_the_last_sender() {
        let (tx, mut rx) = lagging_channel::<u8>(4, "test");
        let extra = tx.clone();
        let waiting = tokio::spawn(async move {
            let first = rx.next().await.unwrap().unwrap();
            (first, rx.next().await.is_none())
        });
        tokio::task::yield_now().await;
        assert!(tx.send(9));
        drop(tx);
        drop(extra);
        assert_eq!(waiting.await.unwrap(), (9, true));
    }

    #[tokio::test]
    async fn a_dropped_receiver_closes_the_sender() {
        let (tx, rx) = lagging_channel::<u8>(1, "test");
        let waiting = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.closed().await })
        };
        tokio::task::yield_now().await;
        drop(rx);
        assert!(tx.is_closed());
        assert!(!tx.send(1));
        tx.closed().await;
        waiting.await.unwrap();
    }

    #[test]
    fn an_empty_queue_costs_one_small_block() {
        // The Arc's block (two counts and the shared state) is the only heap it holds.
        let block = std::mem::size_of::<Shared<crate::Envelope>>() + 2 * size_of::<usize>();
        assert!(block <= 512, "{block} bytes");
        let (_tx, rx) = lagging_channel::<crate::Envelope>(16 * 1024, "test");
        assert_eq!(rx.ready.capacity(), 0);
        assert_eq!(rx.shared.state().queue.capacity(), 0);
    }
}
