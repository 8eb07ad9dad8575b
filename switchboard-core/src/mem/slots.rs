//! [`Slots`]: the messages a [`Ring`](super::ring::Ring) still holds, by sequence number.

use std::collections::VecDeque;

use crate::Envelope;

/// Read messages may sit among unread ones up to this many beyond the unread count; then they
/// are swept out, which keeps the sweeps to O(1) per publish.
pub(super) const SLACK: usize = 64;

/// One message and the cursors yet to read it; the last of them takes it.
struct Slot {
    seq: u64,
    readers: u32,
    msg: Option<Envelope>,
}

/// Messages in sequence order. A message nobody was to read has no slot, so the sequence
/// numbers may have gaps; read messages leave from the front, or in a sweep when a cursor that
/// stopped taking messages keeps old ones while the others read past them.
#[derive(Default)]
pub(super) struct Slots {
    slots: VecDeque<Slot>,
    /// Slots whose message someone has yet to read.
    unread: usize,
    /// Slots ever dropped from the front: `popped + i` names slot `i` for good (until a sweep),
    /// which is how a reader finds its next message across gaps without a search.
    popped: u64,
}

impl Slots {
    /// Stores message `seq` (above every stored one) for `readers` cursors (at least one).
    #[inline]
    pub(super) fn push(&mut self, seq: u64, msg: Envelope, readers: u32) {
        if self.slots.len() >= 2 * self.unread + SLACK {
            self.slots.retain(|slot| slot.readers > 0);
        }
        if self.slots.capacity() == 0 {
            // Exactly one while messages come one at a time: what a quiet subscription keeps.
            self.slots.reserve_exact(1);
        }
        self.slots.push_back(Slot {
            seq,
            readers,
            msg: Some(msg),
        });
        self.unread += 1;
    }

    /// The place the next stored message will take (see `popped`).
    pub(super) fn end(&self) -> u64 {
        self.popped + self.slots.len() as u64
    }

    /// Where message `seq` is: at the reader's `place` after its last read, unless a sweep
    /// moved it; then at its offset from the front, unless there are gaps before it.
    #[inline]
    fn position(&self, seq: u64, place: u64) -> usize {
        let at = place.wrapping_sub(self.popped) as usize;
        if self.slots.get(at).is_some_and(|slot| slot.seq == seq) {
            return at;
        }
        let front = self.slots.front().map_or(seq, |slot| slot.seq);
        let guess = (seq - front) as usize;
        match self.slots.get(guess) {
            Some(slot) if slot.seq == seq => guess,
            _ => self
                .slots
                .binary_search_by_key(&seq, |slot| slot.seq)
                .expect("a cursor reads only messages stored for it"),
        }
    }

    /// Message `seq` for one of its readers: a clone, or the message itself for the last.
    /// `place` is where the reader found its last message, and becomes where it finds the
    /// next.
    #[inline]
    pub(super) fn read(&mut self, seq: u64, place: &mut u64) -> Envelope {
        let at = self.position(seq, *place);
        *place = self.popped + at as u64 + 1;
        let slot = &mut self.slots[at];
        slot.readers -= 1;
        let msg = if slot.readers > 0 {
            slot.msg.clone()
        } else if at > 0 {
            self.unread -= 1;
            slot.msg.take()
        } else {
            self.unread -= 1;
            let slot = self.slots.pop_front();
            self.popped += 1;
            self.trim();
            slot.and_then(|slot| slot.msg)
        };
        msg.expect("a message stays until its last reader took it")
    }

    /// A reader of the stored messages in `from..to` leaves without reading them; what it was
    /// the last reader of goes to `unread`, to be dropped outside the lock.
    pub(super) fn release(&mut self, from: u64, to: u64, unread: &mut Vec<Envelope>) {
        let start = self.slots.partition_point(|slot| slot.seq < from);
        for slot in self.slots.range_mut(start..) {
            if slot.seq >= to {
                break;
            }
            slot.readers -= 1;
            if slot.readers == 0 {
                self.unread -= 1;
                unread.extend(slot.msg.take());
            }
        }
        self.trim();
    }

    /// Drops the read slots at the front.
    #[inline]
    fn trim(&mut self) {
        while self.slots.front().is_some_and(|slot| slot.readers == 0) {
            self.slots.pop_front();
            self.popped += 1;
        }
    }

    /// Gives back buffer room beyond `keep` messages, once nothing is stored.
    pub(super) fn shrink_to(&mut self, keep: usize) {
        if self.slots.is_empty() {
            self.slots.shrink_to(keep);
        }
    }

    /// Slots held, read or not.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Heap held for messages.
    #[cfg(test)]
    pub(super) fn heap(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>()
    }
}
