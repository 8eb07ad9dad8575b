//! One librdkafka queue per assigned partition, read by the stream itself.
//!
//! The stream's reader takes each record straight from its partition's queue, on its own
//! thread, as a raw consumer does: no hop through the member task. A record the reader does
//! not take stays in librdkafka, which stops fetching a partition once its queue holds
//! `queued.min.messages` records or `queued.max.messages.kbytes`: back pressure without
//! pausing. (A pause throws away what was fetched ahead and fetches it again; a reader slower
//! than the log kept the member refetching.)
//!
//! The queues are split off in the assign callback, before librdkafka starts fetching the
//! partition, so no record of it goes to the consumer's main queue, which the member task
//! reads all the time for rebalances. librdkafka keeps a split queue split across revokes and
//! reassignments, so a partition is split once per member and its queue kept until the
//! stream is closed. A record is taken from its queue and handed out under the tracker's lock,
//! which a nack holds while it rewinds and seeks: a record fetched before the seek is either
//! handed out before the nack or dropped by librdkafka's version barrier after it.

use std::{
    collections::HashSet,
    fmt,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, OnceLock, Weak},
    task::{Context, Poll},
};

use futures::{Stream, StreamExt as _, stream, task::AtomicWaker};
use rdkafka::{Message as _, consumer::stream_consumer::StreamPartitionQueue, error::KafkaResult};
use switchboard_core::Envelope;
use tracing::warn;

use super::{
    member::Member,
    rebalance::{MemberContext, Shared},
    tracker::PartitionKey,
};
use crate::codec;

type PartitionQueue = StreamPartitionQueue<MemberContext>;

/// A record taken from its partition's queue, not handed out yet.
pub(crate) struct Taken {
    pub(crate) envelope: Envelope,
    pub(crate) key: PartitionKey,
    pub(crate) offset: i64,
}

/// What a partition queue gave: a record (`None` if its topic is not ours) or an error
/// librdkafka reported for the partition.
pub(crate) type Popped = KafkaResult<Option<Taken>>;

/// Records taken from one lane before the next lane's turn, so that no partition starves the
/// others.
const TURN: usize = 64;

/// The partition queues split off one member's consumer, until the stream takes them.
#[derive(Default)]
pub(crate) struct Queues {
    member: OnceLock<Weak<Member>>,
    split: Mutex<Split>,
    /// The stream's reader, woken when queues are split off.
    reader: AtomicWaker,
}

/// Each queue holds the consumer, which it keeps open; so they are held here only until the
/// stream takes them, and the stream lets go of them before the consumer is closed.
#[derive(Default)]
struct Split {
    /// Every partition split off so far.
    partitions: HashSet<PartitionKey>,
    /// The queues the member task has not taken yet.
    new: Vec<PartitionQueue>,
}

impl fmt::Debug for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queues")
            .field("partitions", &self.lock().partitions.len())
            .finish_non_exhaustive()
    }
}

impl Queues {
    fn lock(&self) -> MutexGuard<'_, Split> {
        self.split.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The consumer to split queues off; set once, right after it is made.
    pub(crate) fn attach(&self, member: &Arc<Member>) {
        let _ = self.member.set(Arc::downgrade(member));
    }

    /// Splits off the queue of each partition in `keys` that has none yet. Called from the
    /// assign callback, before librdkafka starts fetching them.
    pub(crate) fn split(&self, keys: &[PartitionKey]) {
        let Some(member) = self.member.get().and_then(Weak::upgrade) else {
            return;
        };
        let mut split = self.lock();
        let before = split.new.len();
        for key in keys {
            if split.partitions.contains(key) {
                continue;
            }
            match member.split_partition_queue(key.0.as_str(), key.1) {
                Some(queue) => {
                    split.partitions.insert(key.clone());
                    split.new.push(queue);
                }
                // Its records then come through the main queue, which is read all the time.
                None => {
                    warn!(topic = %key.0, partition = key.1, "no queue of its own for a partition")
                }
            }
        }
        if split.new.len() > before {
            self.reader.wake();
        }
    }

    /// Lets go of the queues not taken yet, before the consumer closes.
    pub(crate) fn clear(&self) {
        self.lock().new.clear();
    }
}

type Lane = Pin<Box<dyn Stream<Item = Popped> + Send>>;

/// The stream's readers of the partition queues.
#[derive(Default)]
pub(crate) struct Lanes {
    lanes: Vec<Lane>,
    /// The lane read now, and how many records it gave in this turn.
    current: usize,
    taken: usize,
}

impl Lanes {
    /// Takes the next record of any lane, its partition's turn by turn. Pending while none
    /// has one; the reader is woken when a queue gets a record or a queue is split off.
    ///
    /// Call it holding the tracker's lock (see the module's doc).
    pub(crate) fn poll_take(&mut self, shared: &Arc<Shared>, cx: &mut Context<'_>) -> Poll<Popped> {
        shared.queues.reader.register(cx.waker());
        let new = std::mem::take(&mut shared.queues.lock().new);
        self.lanes
            .extend(new.into_iter().map(|queue| lane(queue, shared.clone())));
        if self.lanes.is_empty() {
            return Poll::Pending;
        }
        // One more than the lanes: the lane whose turn ended is read again last.
        for _ in 0..=self.lanes.len() {
            if self.taken < TURN
                && let Poll::Ready(Some(popped)) = self.lanes[self.current].poll_next_unpin(cx)
            {
                self.taken += 1;
                return Poll::Ready(popped);
            }
            self.current = (self.current + 1) % self.lanes.len();
            self.taken = 0;
        }
        Poll::Pending
    }
}

/// The records of one partition queue, as envelopes.
fn lane(queue: PartitionQueue, shared: Arc<Shared>) -> Lane {
    Box::pin(stream::unfold(
        (queue, shared),
        |(queue, shared)| async move {
            let popped = queue.recv().await.map(|record| {
                let key = shared.key(record.topic(), record.partition())?;
                Some(Taken {
                    envelope: codec::envelope(&key.0, &record),
                    offset: record.offset(),
                    key,
                })
            });
            Some((popped, (queue, shared)))
        },
    ))
}
