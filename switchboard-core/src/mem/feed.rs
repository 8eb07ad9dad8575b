//! [`Feed`]: a [`Ring`] behind its lock, shared by a pattern's publishers and subscriptions.
//!
//! The lock is held to store or read one message; wakers are woken, and messages nobody reads
//! any more are dropped, after it is released.

use std::{
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
    task::Waker,
};

use super::ring::{Next, Ring};
use crate::{Envelope, lagging::KEEP_WHEN_IDLE};

/// Wakers taken per lock: tokio's broadcast takes the same number.
const WAKE_BATCH: usize = 32;

/// One pattern's ring and the count of its subscriptions.
pub(super) struct Feed {
    ring: Mutex<Ring>,
    /// Subscriptions reading it: a feed with none is dropped from the bus.
    subscriptions: AtomicUsize,
}

impl Feed {
    /// A feed whose subscriptions hold at most `capacity` messages each.
    pub(super) fn new(capacity: usize) -> Feed {
        Feed {
            ring: Mutex::new(Ring::new(capacity)),
            subscriptions: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn ring(&self) -> MutexGuard<'_, Ring> {
        // No code that can panic runs under the lock, but a poisoned ring is still a ring: keep
        // delivering.
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether no subscription reads it.
    pub(super) fn is_abandoned(&self) -> bool {
        self.subscriptions.load(Ordering::Acquire) == 0
    }

    /// A new subscription's cursor id.
    pub(super) fn join(&self) -> usize {
        let mut ring = self.ring();
        self.subscriptions.fetch_add(1, Ordering::AcqRel);
        ring.join()
    }

    /// Subscription `id` is gone.
    pub(super) fn leave(&self, id: usize) {
        let unread = {
            let mut ring = self.ring();
            self.subscriptions.fetch_sub(1, Ordering::AcqRel);
            ring.leave(id)
        };
        drop(unread);
    }

    /// Stores `msg` for every subscription with room, and wakes those waiting.
    #[inline]
    pub(super) fn publish(&self, msg: Envelope) {
        let mut ring = self.ring();
        let unread = ring.publish(msg);
        if ring.has_waiting() {
            self.wake_waiting(ring);
        } else {
            drop(ring);
        }
        drop(unread);
    }

    /// No message will come any more.
    pub(super) fn end(&self) {
        let mut ring = self.ring();
        ring.end();
        if ring.has_waiting() {
            self.wake_waiting(ring);
        }
    }

    /// The next message for subscription `id`, when reading it is all there is to do.
    #[inline]
    pub(super) fn read(&self, id: usize) -> Option<Envelope> {
        self.ring().read(id)
    }

    /// What subscription `id` reads next; when nothing, `waker` is woken by what comes.
    pub(super) fn next(&self, id: usize, waker: &Waker) -> Next {
        let mut ring = self.ring();
        let next = ring.next(id);
        if let Next::Empty = next {
            ring.wait(id, waker, KEEP_WHEN_IDLE);
        }
        next
    }

    /// Heap held for its cursors and messages.
    #[cfg(test)]
    pub(super) fn heap(&self) -> usize {
        self.ring().heap()
    }

    /// Wakes the waiting subscriptions, a batch per lock.
    fn wake_waiting<'a>(&'a self, mut ring: MutexGuard<'a, Ring>) {
        let mut wakers: [Option<Waker>; WAKE_BATCH] = [const { None }; WAKE_BATCH];
        loop {
            let more = ring.take_waiting(&mut wakers);
            drop(ring);
            wakers
                .iter_mut()
                .filter_map(Option::take)
                .for_each(Waker::wake);
            if !more {
                return;
            }
            ring = self.ring();
        }
    }
}
