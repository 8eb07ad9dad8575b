//! [`Ring`]: one pattern's messages, stored once, and a cursor per subscription.
//!
//! A publish stores the message once for every cursor with room; each cursor reads in order,
//! cloning what it reads, and the last reader takes the message itself. A cursor holds at most
//! `capacity` unread messages: a message that would go over is missed by that cursor alone, and
//! counted. Its next read reports what it missed, then it goes on with what it held, and takes
//! new messages again as soon as it has room.
//!
//! Checking room costs a publish nothing until the earliest moment a cursor can be full
//! (`next_check`); only then does it look at the cursors.

use std::task::Waker;

use super::{cursor::Cursor, slots::Slots};
use crate::Envelope;

/// What a cursor reads next.
#[derive(Debug)]
pub(super) enum Next {
    Message(Envelope),
    /// Messages missed since the last report.
    Missed(u64),
    /// Nothing now, and nothing will come: the bus is gone.
    Ended,
    /// Nothing now.
    Empty,
}

/// The messages of one pattern and the cursors reading them.
pub(super) struct Ring {
    slots: Slots,
    /// Sequence number of the next message published.
    tail: u64,
    capacity: u64,
    /// Indexed by subscription id; a departed subscription leaves a hole for the next one.
    cursors: Vec<Option<Cursor>>,
    /// Cursors that take new messages (not full).
    counted: u32,
    /// The first of the cursors the next message wakes: a list through `Cursor::next_waiting`,
    /// so waiting costs no allocation.
    first_waiting: Option<u32>,
    /// No counted cursor can be full before this sequence number.
    next_check: u64,
    ended: bool,
}

impl Ring {
    /// A ring whose cursors hold at most `capacity` messages (at least 1).
    pub(super) fn new(capacity: usize) -> Ring {
        Ring {
            slots: Slots::default(),
            tail: 0,
            capacity: capacity.max(1) as u64,
            cursors: Vec::new(),
            counted: 0,
            first_waiting: None,
            next_check: u64::MAX,
            ended: false,
        }
    }

    /// A new cursor, reading from the next message published; returns its id.
    pub(super) fn join(&mut self) -> usize {
        let cursor = Cursor::new(self.tail, self.slots.end());
        self.counted += 1;
        self.next_check = self.next_check.min(cursor.full_at(self.capacity));
        if let Some(id) = self.cursors.iter().position(Option::is_none) {
            self.cursors[id] = Some(cursor);
            return id;
        }
        // One at a time while few: a pattern with a single subscription stays one small block.
        if self.cursors.len() < 4 {
            self.cursors.reserve_exact(1);
        }
        self.cursors.push(Some(cursor));
        self.cursors.len() - 1
    }

    /// Removes cursor `id`; returns the messages it was the last reader of, to be dropped
    /// outside the lock.
    pub(super) fn leave(&mut self, id: usize) -> Vec<Envelope> {
        self.stop_waiting(id);
        let cursor = self.cursors[id].take().expect("a cursor leaves once");
        if !cursor.is_full() {
            self.counted -= 1;
        }
        let mut unread = Vec::new();
        cursor.held(self.tail, |from, to| {
            self.slots.release(from, to, &mut unread);
        });
        // Ids are places: only the holes at the end can go. A crowd that left gives back room.
        while self.cursors.last().is_some_and(Option::is_none) {
            self.cursors.pop();
        }
        if self.cursors.len() * 4 <= self.cursors.capacity() {
            self.cursors.shrink_to(self.cursors.len() * 2);
        }
        unread
    }

    /// Stores `msg` for every cursor with room; a full cursor misses it. Returns it when no
    /// cursor takes it, to be dropped outside the lock.
    #[inline]
    pub(super) fn publish(&mut self, msg: Envelope) -> Option<Envelope> {
        let seq = self.tail;
        if seq >= self.next_check {
            self.check_room(seq);
        }
        self.tail += 1;
        if self.counted == 0 {
            return Some(msg);
        }
        self.slots.push(seq, msg, self.counted);
        None
    }

    /// Marks full every counted cursor that has no room for message `seq`.
    fn check_room(&mut self, seq: u64) {
        let mut next_check = u64::MAX;
        for cursor in self.cursors.iter_mut().flatten() {
            if cursor.is_full() {
                continue;
            }
            let full_at = cursor.full_at(self.capacity);
            if seq >= full_at {
                cursor.fill(seq);
                self.counted -= 1;
            } else {
                next_check = next_check.min(full_at);
            }
        }
        self.next_check = next_check;
    }

    /// The next message for cursor `id` when reading it is all there is to do (see
    /// [`Cursor::is_plain`]). Otherwise, or when there is none, [`Ring::next`] says what comes.
    #[inline]
    pub(super) fn read(&mut self, id: usize) -> Option<Envelope> {
        let cursor = self.cursors[id].as_mut().expect("a live cursor");
        if !cursor.is_plain() || cursor.next >= self.tail {
            return None;
        }
        let msg = self.slots.read(cursor.next, &mut cursor.place);
        cursor.next += 1;
        Some(msg)
    }

    /// What cursor `id` reads next.
    pub(super) fn next(&mut self, id: usize) -> Next {
        let cursor = self.cursors[id].as_mut().expect("a live cursor");
        let missed = cursor.take_missed(self.tail);
        if missed > 0 {
            return Next::Missed(missed);
        }
        let end = cursor.pass_skips(self.tail);
        if cursor.next < end {
            let msg = self.slots.read(cursor.next, &mut cursor.place);
            if cursor.advance() {
                // It has room again: it takes messages from the next one on.
                self.counted += 1;
                self.next_check = self.next_check.min(cursor.full_at(self.capacity));
            }
            return Next::Message(msg);
        }
        if self.ended { Next::Ended } else { Next::Empty }
    }

    /// Cursor `id` found nothing: the next message (or the end) wakes `waker`. An idle ring
    /// gives back buffer room beyond `keep` messages.
    pub(super) fn wait(&mut self, id: usize, waker: &Waker, keep: usize) {
        let cursor = self.cursors[id].as_mut().expect("a live cursor");
        match &cursor.waker {
            Some(known) if known.will_wake(waker) => {}
            Some(_) => cursor.waker = Some(waker.clone()),
            None => {
                cursor.waker = Some(waker.clone());
                cursor.next_waiting = self.first_waiting.replace(id as u32);
            }
        }
        self.slots.shrink_to(keep);
    }

    /// Whether a cursor waits to be woken.
    #[inline]
    pub(super) fn has_waiting(&self) -> bool {
        self.first_waiting.is_some()
    }

    /// Moves wakers of waiting cursors into the empty places of `into`; returns whether more
    /// wait.
    pub(super) fn take_waiting(&mut self, into: &mut [Option<Waker>]) -> bool {
        for place in into.iter_mut().filter(|place| place.is_none()) {
            let Some(id) = self.first_waiting else {
                return false;
            };
            let cursor = self.cursors[id as usize]
                .as_mut()
                .expect("a waiting cursor");
            self.first_waiting = cursor.next_waiting.take();
            *place = cursor.waker.take();
        }
        self.has_waiting()
    }

    /// Takes cursor `id` out of the waiting list.
    fn stop_waiting(&mut self, id: usize) {
        let Some(cursor) = self.cursors[id].as_mut() else {
            return;
        };
        if cursor.waker.take().is_none() {
            return;
        }
        let after = cursor.next_waiting.take();
        let mut link = &mut self.first_waiting;
        while let Some(at) = *link {
            if at as usize == id {
                *link = after;
                return;
            }
            link = &mut self.cursors[at as usize]
                .as_mut()
                .expect("a waiting cursor")
                .next_waiting;
        }
    }

    /// No message will come any more: every cursor ends once it read what it holds.
    pub(super) fn end(&mut self) {
        self.ended = true;
    }

    #[cfg(test)]
    pub(super) fn slots(&self) -> &Slots {
        &self.slots
    }

    /// Heap held for cursors and messages.
    #[cfg(test)]
    pub(super) fn heap(&self) -> usize {
        self.cursors.capacity() * size_of::<Option<Cursor>>() + self.slots.heap()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::{Subject, mem::slots::SLACK};

    fn msg(n: u64) -> Envelope {
        Envelope::new(Subject::new("s").unwrap(), n.to_string())
    }

    fn number(next: Next) -> u64 {
        match next {
            Next::Message(m) => std::str::from_utf8(m.payload()).unwrap().parse().unwrap(),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn missed(next: Next) -> u64 {
        match next {
            Next::Missed(n) => n,
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    #[test]
    fn every_cursor_reads_every_message_and_the_ring_empties() {
        let mut ring = Ring::new(8);
        let (a, b) = (ring.join(), ring.join());
        for n in 0..5 {
            assert!(ring.publish(msg(n)).is_none());
        }
        for n in 0..5 {
            assert_eq!(number(ring.next(a)), n);
        }
        assert!(matches!(ring.next(a), Next::Empty));
        assert_eq!(ring.slots().len(), 5, "b has not read them yet");
        for n in 0..5 {
            assert_eq!(number(ring.next(b)), n);
        }
        assert_eq!(ring.slots().len(), 0);
    }

    #[test]
    fn a_full_cursor_misses_what_does_not_fit_and_takes_messages_again_after_a_read() {
        let mut ring = Ring::new(3);
        let (slow, fast) = (ring.join(), ring.join());
        for n in 0..5 {
            ring.publish(msg(n));
            assert_eq!(number(ring.next(fast)), n, "the fast one misses nothing");
        }
        assert_eq!(missed(ring.next(slow)), 2);
        assert_eq!(number(ring.next(slow)), 0);
        // Room for one: 5 is taken, 6 is missed.
        ring.publish(msg(5));
        ring.publish(msg(6));
        assert_eq!(missed(ring.next(slow)), 1);
        assert_eq!(number(ring.next(slow)), 1);
        assert_eq!(number(ring.next(slow)), 2);
        assert_eq!(number(ring.next(slow)), 5);
        assert!(matches!(ring.next(slow), Next::Empty));
        ring.publish(msg(7));
        assert_eq!(number(ring.next(slow)), 7);
        for n in 5..8 {
            assert_eq!(number(ring.next(fast)), n);
        }
        assert_eq!(ring.slots().len(), 0);
    }

    #[test]
    fn what_a_full_cursor_holds_does_not_keep_later_messages() {
        let mut ring = Ring::new(4);
        let (slow, fast) = (ring.join(), ring.join());
        for n in 0..1000 {
            ring.publish(msg(n));
            assert_eq!(number(ring.next(fast)), n);
        }
        assert!(
            ring.slots().len() <= 2 * 4 + SLACK,
            "what the slow one holds, and read ones up to the slack"
        );
        assert_eq!(missed(ring.next(slow)), 996);
        for n in 0..4 {
            assert_eq!(number(ring.next(slow)), n);
        }
        assert!(matches!(ring.next(slow), Next::Empty));
        assert_eq!(ring.slots().len(), 0);
    }

    #[test]
    fn a_departing_cursor_releases_what_it_held() {
        let mut ring = Ring::new(4);
        let (stays, leaves) = (ring.join(), ring.join());
        for n in 0..6 {
            ring.publish(msg(n));
        }
        assert_eq!(missed(ring.next(leaves)), 2);
        assert_eq!(number(ring.next(leaves)), 0);
        ring.publish(msg(6));
        // `leaves` holds 1..=3, shared with `stays`, and 6, which `stays` (full) missed.
        let unread = ring.leave(leaves);
        assert_eq!(unread.len(), 1);
        assert_eq!(missed(ring.next(stays)), 3);
        for n in 0..4 {
            assert_eq!(number(ring.next(stays)), n);
        }
        assert!(matches!(ring.next(stays), Next::Empty));
        assert_eq!(ring.slots().len(), 0);
        assert!(ring.leave(stays).is_empty());
        assert!(ring.publish(msg(7)).is_some(), "no cursor takes it");
    }

    #[test]
    fn the_bus_ending_ends_a_cursor_after_what_it_holds() {
        let mut ring = Ring::new(4);
        let id = ring.join();
        ring.publish(msg(0));
        ring.end();
        assert_eq!(number(ring.next(id)), 0);
        assert!(matches!(ring.next(id), Next::Ended));
    }

    /// What a subscription of a `lagging_channel` would see: its own queue of at most
    /// `capacity`, what does not fit counted and reported before the next message.
    #[derive(Default)]
    struct Model {
        queue: VecDeque<u64>,
        missed: u64,
    }

    /// What the stream does: a plain read, else what `next` says.
    fn poll(ring: &mut Ring, id: usize) -> Option<Result<u64, u64>> {
        let next = match ring.read(id) {
            Some(msg) => Next::Message(msg),
            None => ring.next(id),
        };
        match next {
            Next::Message(_) => Some(Ok(number(next))),
            Next::Missed(n) => Some(Err(n)),
            Next::Empty | Next::Ended => None,
        }
    }

    #[test]
    fn cursors_see_what_a_queue_per_subscription_would() {
        let mut reports = 0;
        for seed in 1..=40u64 {
            let capacity = 1 + (seed % 5) as usize;
            let mut ring = Ring::new(capacity);
            let mut cursors: Vec<(usize, Model)> = Vec::new();
            // xorshift: the same operations on every run.
            let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut random = move |below: u64| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % below
            };
            let mut published = 0;
            for _ in 0..3000 {
                match random(10) {
                    0 if cursors.len() < 5 => cursors.push((ring.join(), Model::default())),
                    1 if !cursors.is_empty() => {
                        let (id, _) = cursors.swap_remove(random(cursors.len() as u64) as usize);
                        drop(ring.leave(id));
                    }
                    2..=5 => {
                        for (_, model) in &mut cursors {
                            if model.queue.len() < capacity {
                                model.queue.push_back(published);
                            } else {
                                model.missed += 1;
                            }
                        }
                        drop(ring.publish(msg(published)));
                        published += 1;
                    }
                    _ if !cursors.is_empty() => {
                        let at = random(cursors.len() as u64) as usize;
                        let (id, model) = &mut cursors[at];
                        let want = match std::mem::take(&mut model.missed) {
                            0 => model.queue.pop_front().map(Ok),
                            missed => {
                                reports += 1;
                                Some(Err(missed))
                            }
                        };
                        assert_eq!(poll(&mut ring, *id), want, "seed {seed}");
                    }
                    _ => {}
                }
                let unread: usize = cursors.iter().map(|(_, m)| m.queue.len()).sum();
                assert!(ring.slots().len() <= 2 * unread + SLACK + 1, "seed {seed}");
            }
            for (id, model) in &mut cursors {
                let missed = std::mem::take(&mut model.missed);
                let want: Vec<_> = (missed > 0)
                    .then_some(Err(missed))
                    .into_iter()
                    .chain(model.queue.drain(..).map(Ok))
                    .collect();
                let got: Vec<_> = std::iter::from_fn(|| poll(&mut ring, *id)).collect();
                assert_eq!(got, want, "seed {seed}");
            }
            assert_eq!(
                ring.slots().len(),
                0,
                "seed {seed}: read messages are all gone"
            );
        }
        assert!(
            reports > 1000,
            "the runs overflowed often: {reports} reports"
        );
    }

    #[test]
    fn a_crowd_that_left_gives_back_its_room() {
        let mut ring = Ring::new(4);
        let ids: Vec<usize> = (0..1000).map(|_| ring.join()).collect();
        let heap = ring.heap();
        for &id in &ids[1..] {
            drop(ring.leave(id));
        }
        assert!(ring.heap() * 100 < heap, "{} of {heap} bytes", ring.heap());
        ring.publish(msg(0));
        assert_eq!(number(ring.next(ids[0])), 0);
    }

    #[test]
    fn a_departing_waiting_cursor_leaves_the_waiting_list() {
        let mut ring = Ring::new(4);
        let (a, b, c) = (ring.join(), ring.join(), ring.join());
        let waker = futures::task::noop_waker();
        for id in [a, b, c] {
            ring.wait(id, &waker, 0);
        }
        assert!(ring.leave(b).is_empty());
        let mut woken = [None, None, None];
        assert!(!ring.take_waiting(&mut woken));
        assert_eq!(woken.iter().flatten().count(), 2);
    }

    #[test]
    fn waiting_cursors_are_woken_once() {
        let mut ring = Ring::new(4);
        let (a, b) = (ring.join(), ring.join());
        let waker = futures::task::noop_waker();
        ring.wait(a, &waker, 0);
        ring.wait(a, &waker, 0);
        ring.wait(b, &waker, 0);
        let mut woken = [None, None];
        assert!(ring.take_waiting(&mut woken[..1]), "one more waits");
        assert!(!ring.take_waiting(&mut woken));
        assert!(woken.iter().all(Option::is_some));
        assert!(!ring.has_waiting());
    }
}
