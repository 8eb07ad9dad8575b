//! Per-partition bookkeeping of one member: which offsets are out, which are acked, and the
//! offset that is safe to commit.
//!
//! The commit point of a partition is its lowest delivered-but-unacked offset, or one past
//! the highest delivered offset when nothing is outstanding. So an ack of n+1 while n is out
//! never commits past n, and offsets the log skips (compaction, transaction markers) never
//! hold the commit point back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use switchboard_core::Topic;

/// A partition of a topic.
pub(crate) type PartitionKey = (Topic, i32);

/// Which assignment (generation) and which rewind (epoch) of a partition a fetched record
/// belongs to. A record whose stamp is no longer current was fetched before a revoke or a
/// nack's seek and will be fetched again; it is dropped rather than handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) generation: u64,
    pub(crate) epoch: u64,
}

#[derive(Debug)]
struct Partition {
    stamp: Stamp,
    /// Handed out and not acked, whatever epoch they were handed out in.
    unacked: BTreeSet<i64>,
    /// Acked offsets at or above the commit point: skipped if fetched again after a seek.
    acked: BTreeSet<i64>,
    /// One past the highest offset handed out.
    position: Option<i64>,
    /// Hand-outs of offsets at or above the commit point.
    attempts: BTreeMap<i64, u32>,
    /// The last commit point given out to store or commit.
    stored: Option<i64>,
    /// Whether `stored` moved since the offsets were last stored in librdkafka.
    unstored: bool,
    /// The last commit point committed synchronously.
    committed: Option<i64>,
    /// Where the current epoch's seek went: records below it do not come again in this epoch.
    rewound_to: Option<i64>,
}

impl Partition {
    fn new(stamp: Stamp) -> Self {
        Partition {
            stamp,
            unacked: BTreeSet::new(),
            acked: BTreeSet::new(),
            position: None,
            attempts: BTreeMap::new(),
            stored: None,
            unstored: false,
            committed: None,
            rewound_to: None,
        }
    }

    fn commit_point(&self) -> Option<i64> {
        self.unacked.first().copied().or(self.position)
    }

    /// See [`Tracker::hand_out`]; the stamp is checked already.
    fn hand_out(&mut self, offset: i64) -> Option<u32> {
        if self.acked.contains(&offset) || self.commit_point().is_some_and(|point| offset < point) {
            return None;
        }
        if self.position.is_none() {
            // Where this assignment starts: the group's committed offset already says so.
            self.stored.get_or_insert(offset);
        }
        self.unacked.insert(offset);
        self.position = Some(self.position.map_or(offset + 1, |p| p.max(offset + 1)));
        let attempt = self.attempts.entry(offset).or_insert(0);
        *attempt += 1;
        Some(*attempt)
    }
}

/// What an ack changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Acked {
    /// The member has shut down: its commit is done, the ack changes nothing.
    Closed,
    /// The partition was revoked since: the ack changes nothing here.
    Stale,
    /// Recorded; the commit point did not move.
    Held,
    /// Recorded; store this new commit point.
    Advanced(i64),
}

/// The bookkeeping of every partition one member owns.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    partitions: HashMap<PartitionKey, Partition>,
    next_stamp: u64,
    /// Set by the shutdown commit: later acks are refused.
    closed: bool,
}

impl Tracker {
    fn fresh(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }

    /// The partition is now ours; anything known about an earlier assignment is forgotten.
    pub(crate) fn assign(&mut self, key: PartitionKey) {
        let generation = self.fresh();
        let stamp = Stamp {
            generation,
            epoch: generation,
        };
        self.partitions.insert(key, Partition::new(stamp));
    }

    /// The partition is no longer ours. Returns the commit point to commit before letting it
    /// go, if it was not committed already.
    pub(crate) fn revoke(&mut self, key: &PartitionKey) -> Option<i64> {
        let partition = self.partitions.remove(key)?;
        let point = partition.commit_point()?;
        (partition.committed != Some(point)).then_some(point)
    }

    /// The stamp for a record of `key` fetched now; `None` if the partition is not ours.
    pub(crate) fn stamp(&self, key: &PartitionKey) -> Option<Stamp> {
        self.partitions.get(key).map(|p| p.stamp)
    }

    /// A fetched record is about to be handed out: returns its attempt number, or `None` if
    /// it must be dropped (stale stamp, or already acked).
    pub(crate) fn hand_out(
        &mut self,
        key: &PartitionKey,
        stamp: Stamp,
        offset: i64,
    ) -> Option<u32> {
        let partition = self.partitions.get_mut(key)?;
        if partition.stamp != stamp {
            return None;
        }
        partition.hand_out(offset)
    }

    /// [`hand_out`](Self::hand_out) under the partition's current stamp, for a record taken
    /// from its queue under this same lock (so no nack's seek came in between).
    pub(crate) fn hand_out_now(&mut self, key: &PartitionKey, offset: i64) -> Option<(Stamp, u32)> {
        let partition = self.partitions.get_mut(key)?;
        Some((partition.stamp, partition.hand_out(offset)?))
    }

    /// Records the ack of `offset`, handed out in `generation`.
    pub(crate) fn ack(&mut self, key: &PartitionKey, generation: u64, offset: i64) -> Acked {
        if self.closed {
            return Acked::Closed;
        }
        let Some(partition) = self.partitions.get_mut(key) else {
            return Acked::Stale;
        };
        if partition.stamp.generation != generation || !partition.unacked.remove(&offset) {
            return Acked::Stale;
        }
        let Some(point) = partition.commit_point() else {
            return Acked::Held;
        };
        // Only acks above the commit point are kept (an in-order ack never is); below it,
        // nothing is fetched again.
        if offset >= point {
            partition.acked.insert(offset);
        }
        prune_below(&mut partition.acked, point);
        while let Some(entry) = partition.attempts.first_entry()
            && *entry.key() < point
        {
            entry.remove();
        }
        if partition.stored.is_some_and(|stored| stored >= point) {
            return Acked::Held;
        }
        partition.stored = Some(point);
        partition.unstored = true;
        Acked::Advanced(point)
    }

    /// A nack of `offset` handed out under `stamp`: starts a new epoch and returns `true` if
    /// the partition must seek back to `offset`; `false` if the nack is stale (a revoke took
    /// the delivery back, or an earlier nack's seek went to or below it).
    ///
    /// Nacks can arrive out of offset order (calls in parallel finish in any order): a nack
    /// from an earlier epoch still seeks back when the current epoch's seek went past it,
    /// else that record would never come again and would hold the commit point for good.
    pub(crate) fn rewind(&mut self, key: &PartitionKey, stamp: Stamp, offset: i64) -> bool {
        let epoch = self.fresh();
        let Some(partition) = self.partitions.get_mut(key) else {
            return false;
        };
        if partition.stamp.generation != stamp.generation || !partition.unacked.contains(&offset) {
            return false;
        }
        let comes_again = partition.rewound_to.is_some_and(|to| to <= offset);
        if partition.stamp.epoch != stamp.epoch && comes_again {
            return false;
        }
        partition.stamp.epoch = epoch;
        partition.rewound_to = Some(offset);
        true
    }

    /// Whether `generation` is still the current assignment of `key`.
    pub(crate) fn is_current(&self, key: &PartitionKey, generation: u64) -> bool {
        self.partitions
            .get(key)
            .is_some_and(|p| p.stamp.generation == generation)
    }

    /// The commit points that moved since the last call, to store in librdkafka (whose
    /// auto-commit sends them): many acks, one store.
    pub(crate) fn take_unstored(&mut self) -> Vec<(PartitionKey, i64)> {
        self.partitions
            .iter_mut()
            .filter(|(_, p)| p.unstored)
            .filter_map(|(key, p)| {
                p.unstored = false;
                Some((key.clone(), p.stored?))
            })
            .collect()
    }

    /// Points [`take_unstored`](Self::take_unstored) gave out that could not be stored: the
    /// next call gives them again, unless their partition was revoked or moved on since.
    pub(crate) fn store_again(&mut self, points: &[(PartitionKey, i64)]) {
        for (key, point) in points {
            if let Some(partition) = self.partitions.get_mut(key)
                && partition.stored == Some(*point)
            {
                partition.unstored = true;
            }
        }
    }

    /// The commit points of the shutdown commit; acks after it are refused.
    pub(crate) fn close(&mut self) -> Vec<(PartitionKey, i64)> {
        self.closed = true;
        self.uncommitted()
    }

    /// Commit points not yet committed synchronously.
    pub(crate) fn uncommitted(&self) -> Vec<(PartitionKey, i64)> {
        self.partitions
            .iter()
            .filter_map(|(key, p)| {
                let point = p.commit_point()?;
                (p.committed != Some(point)).then(|| (key.clone(), point))
            })
            .collect()
    }

    /// Notes that `point` was committed synchronously for `key`.
    pub(crate) fn committed(&mut self, key: &PartitionKey, point: i64) {
        if let Some(partition) = self.partitions.get_mut(key) {
            partition.committed = Some(point);
        }
    }
}

/// Drops the offsets below `point`, without building a new set as `split_off` does.
fn prune_below(offsets: &mut BTreeSet<i64>, point: i64) {
    while offsets.first().is_some_and(|&offset| offset < point) {
        offsets.pop_first();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PartitionKey {
        (Topic::new("t").unwrap(), 0)
    }

    fn out(tracker: &mut Tracker, offsets: std::ops::Range<i64>) -> Stamp {
        let stamp = tracker.stamp(&key()).unwrap();
        for offset in offsets {
            assert_eq!(tracker.hand_out(&key(), stamp, offset), Some(1));
        }
        stamp
    }

    #[test]
    fn out_of_order_ack_does_not_pass_the_gap() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let stamp = out(&mut tracker, 10..13);
        assert_eq!(tracker.ack(&key(), stamp.generation, 11), Acked::Held);
        assert_eq!(tracker.ack(&key(), stamp.generation, 12), Acked::Held);
        assert_eq!(tracker.uncommitted(), [(key(), 10)]);
        assert_eq!(
            tracker.ack(&key(), stamp.generation, 10),
            Acked::Advanced(13)
        );
        assert_eq!(tracker.revoke(&key()), Some(13));
    }

    #[test]
    fn offsets_the_log_skips_do_not_hold_the_commit_point() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let stamp = tracker.stamp(&key()).unwrap();
        tracker.hand_out(&key(), stamp, 4);
        tracker.hand_out(&key(), stamp, 9);
        assert_eq!(tracker.ack(&key(), stamp.generation, 4), Acked::Advanced(9));
        assert_eq!(
            tracker.ack(&key(), stamp.generation, 9),
            Acked::Advanced(10)
        );
    }

    #[test]
    fn nack_rewinds_and_drops_records_fetched_before_it() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let old = out(&mut tracker, 0..3);
        assert!(tracker.rewind(&key(), old, 1));
        assert!(
            !tracker.rewind(&key(), old, 2),
            "a second nack of the old epoch is stale"
        );
        // Record 2 of the old epoch was still queued: dropped.
        assert_eq!(tracker.hand_out(&key(), old, 2), None);
        let new = tracker.stamp(&key()).unwrap();
        assert_eq!(new.generation, old.generation);
        assert_eq!(tracker.hand_out(&key(), new, 1), Some(2));
        assert_eq!(tracker.hand_out(&key(), new, 2), Some(2));
        assert_eq!(tracker.ack(&key(), new.generation, 0), Acked::Advanced(1));
    }

    #[test]
    fn an_earlier_offset_nacked_after_a_later_one_still_seeks_back() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let old = out(&mut tracker, 0..3);
        assert!(tracker.rewind(&key(), old, 2));
        // The nack of 0 (same epoch as 2, settled later) must not be lost to the seek to 2.
        assert!(tracker.rewind(&key(), old, 0), "0 would never come again");
        let newest = tracker.stamp(&key()).unwrap();
        assert_eq!(tracker.hand_out(&key(), newest, 0), Some(2));
        // And a stale nack at or above the newest seek is still ignored.
        assert!(!tracker.rewind(&key(), old, 1));
        assert_eq!(
            tracker.ack(&key(), newest.generation, 0),
            Acked::Advanced(1)
        );
    }

    #[test]
    fn acked_records_fetched_again_after_a_seek_are_skipped() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let old = out(&mut tracker, 0..3);
        assert_eq!(tracker.ack(&key(), old.generation, 2), Acked::Held);
        assert!(tracker.rewind(&key(), old, 0));
        let new = tracker.stamp(&key()).unwrap();
        assert_eq!(tracker.hand_out(&key(), new, 0), Some(2));
        assert_eq!(tracker.hand_out(&key(), new, 1), Some(2));
        assert_eq!(tracker.hand_out(&key(), new, 2), None, "acked already");
        tracker.ack(&key(), new.generation, 0);
        assert_eq!(tracker.ack(&key(), new.generation, 1), Acked::Advanced(3));
    }

    #[test]
    fn revoke_makes_later_acks_stale_and_reassignment_starts_over() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let old = out(&mut tracker, 0..2);
        tracker.ack(&key(), old.generation, 0);
        assert_eq!(tracker.revoke(&key()), Some(1));
        assert_eq!(tracker.ack(&key(), old.generation, 1), Acked::Stale);
        tracker.assign(key());
        assert!(!tracker.is_current(&key(), old.generation));
        assert_eq!(tracker.hand_out(&key(), old, 1), None);
        let new = tracker.stamp(&key()).unwrap();
        assert_eq!(tracker.hand_out(&key(), new, 1), Some(1));
    }

    #[test]
    fn many_acks_one_store() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let stamp = out(&mut tracker, 0..3);
        assert!(tracker.take_unstored().is_empty());
        tracker.ack(&key(), stamp.generation, 0);
        tracker.ack(&key(), stamp.generation, 1);
        assert_eq!(tracker.take_unstored(), [(key(), 2)]);
        assert!(tracker.take_unstored().is_empty(), "stored already");
        tracker.ack(&key(), stamp.generation, 2);
        let points = tracker.take_unstored();
        assert_eq!(points, [(key(), 3)]);
        tracker.store_again(&points);
        assert_eq!(
            tracker.take_unstored(),
            [(key(), 3)],
            "a failed store is retried"
        );
    }

    #[test]
    fn nothing_to_commit_twice() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let stamp = out(&mut tracker, 0..1);
        tracker.ack(&key(), stamp.generation, 0);
        assert_eq!(tracker.uncommitted(), [(key(), 1)]);
        tracker.committed(&key(), 1);
        assert!(tracker.uncommitted().is_empty());
        assert_eq!(tracker.revoke(&key()), None);
    }

    #[test]
    fn acks_after_the_shutdown_commit_are_refused() {
        let mut tracker = Tracker::default();
        tracker.assign(key());
        let stamp = out(&mut tracker, 0..2);
        tracker.ack(&key(), stamp.generation, 0);
        assert_eq!(tracker.close(), [(key(), 1)]);
        assert_eq!(tracker.ack(&key(), stamp.generation, 1), Acked::Closed);
    }
}
