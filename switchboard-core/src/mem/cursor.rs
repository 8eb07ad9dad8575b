//! [`Cursor`]: one subscription's place in a [`Ring`](super::ring::Ring), and what it missed.

use std::{collections::VecDeque, mem, task::Waker};

/// One subscription's place in the ring.
pub(super) struct Cursor {
    /// Sequence number of the next message to read.
    pub(super) next: u64,
    /// Where in the ring's slots it should find it.
    pub(super) place: u64,
    /// What it missed and has not stepped over yet; none while it keeps up, so a subscription
    /// that never lags carries no more than this pointer for it.
    lag: Option<Box<Lag>>,
    /// Set while it waits; then it is in the ring's list of waiting cursors, before this one.
    pub(super) waker: Option<Waker>,
    pub(super) next_waiting: Option<u32>,
}

#[derive(Default)]
struct Lag {
    /// Runs of messages it missed (`from..to`), all at or after `next`, and their total length.
    skips: VecDeque<(u64, u64)>,
    skipped: u64,
    /// Missed and not reported yet.
    missed: u64,
    /// While it is full: the first message it missed. It takes no new message until it reads.
    full_since: Option<u64>,
}

impl Cursor {
    /// A cursor whose first message is `next`, stored at `place`.
    pub(super) fn new(next: u64, place: u64) -> Cursor {
        Cursor {
            next,
            place,
            lag: None,
            waker: None,
            next_waiting: None,
        }
    }

    /// Whether its next message, if there is one, is all it has to read: nothing missed to
    /// report or step over, and not full. A subscription that lags keeps reading this way
    /// between the runs it missed.
    #[inline]
    pub(super) fn is_plain(&self) -> bool {
        self.lag.as_ref().is_none_or(|lag| {
            lag.full_since.is_none()
                && lag.missed == 0
                && lag.skips.front().is_none_or(|&(from, _)| from != self.next)
        })
    }

    /// Whether it is full, taking no new messages.
    pub(super) fn is_full(&self) -> bool {
        self.lag
            .as_ref()
            .is_some_and(|lag| lag.full_since.is_some())
    }

    /// The sequence number of the message it would have no room for.
    pub(super) fn full_at(&self, capacity: u64) -> u64 {
        self.next + self.lag.as_ref().map_or(0, |lag| lag.skipped) + capacity
    }

    /// It has no room for message `seq`: it misses that one and every later one until it reads.
    pub(super) fn fill(&mut self, seq: u64) {
        self.lag.get_or_insert_default().full_since = Some(seq);
    }

    /// How many messages it missed since the last report, counting those published up to
    /// `tail` while it was full.
    pub(super) fn take_missed(&mut self, tail: u64) -> u64 {
        let Some(lag) = self.lag.as_mut() else {
            return 0;
        };
        if let Some(since) = lag.full_since
            && since < tail
        {
            lag.missed += tail - since;
            lag.skipped += tail - since;
            match lag.skips.back_mut() {
                Some(last) if last.1 == since => last.1 = tail,
                _ => lag.skips.push_back((since, tail)),
            }
            lag.full_since = Some(tail);
        }
        mem::take(&mut lag.missed)
    }

    /// Steps over the missed messages in front of it; returns where the messages it holds end
    /// (`tail`, or where it became full).
    pub(super) fn pass_skips(&mut self, tail: u64) -> u64 {
        let Some(lag) = self.lag.as_mut() else {
            return tail;
        };
        while let Some(&(from, to)) = lag.skips.front()
            && from == self.next
        {
            self.next = to;
            lag.skipped -= to - from;
            lag.skips.pop_front();
        }
        let end = lag.full_since.unwrap_or(tail);
        self.tidy();
        end
    }

    /// It read its next message; returns whether it was full (it has room again).
    pub(super) fn advance(&mut self) -> bool {
        self.next += 1;
        let was_full = self
            .lag
            .as_mut()
            .is_some_and(|lag| lag.full_since.take().is_some());
        self.tidy();
        was_full
    }

    /// Forgets the lag once nothing is left of it.
    fn tidy(&mut self) {
        if self
            .lag
            .as_ref()
            .is_some_and(|lag| lag.skips.is_empty() && lag.missed == 0 && lag.full_since.is_none())
        {
            self.lag = None;
        }
    }

    /// Calls `f` with each run `from..to` of the messages it holds, up to `tail`.
    pub(super) fn held(&self, tail: u64, mut f: impl FnMut(u64, u64)) {
        let mut from = self.next;
        let mut end = tail;
        if let Some(lag) = &self.lag {
            for &(skip_from, skip_to) in &lag.skips {
                f(from, skip_from);
                from = skip_to;
            }
            end = lag.full_since.unwrap_or(tail);
        }
        f(from, end);
    }
}
