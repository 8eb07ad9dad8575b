//! One librdkafka queue per assigned partition, read by the member task only while its
//! backlog has room.
//!
//! A record the member does not take stays in its partition's fetch queue, and librdkafka
//! stops fetching that partition once the queue holds `queued.min.messages` records or
//! `queued.max.messages.kbytes`: back pressure without pausing. A pause throws away what was
//! fetched ahead and fetches it again (on tansu 0.6 that refetch also lands inside batches,
//! docs/backends.md), so a busy reader kept the partitions pausing and refetching.
//!
//! The queues are split off in the assign callback, before librdkafka starts fetching the
//! partition, so no record of it goes to the consumer's main queue. librdkafka keeps a split
//! queue split across revokes and reassignments, so a partition is split once per member and
//! its queue kept until the member shuts down. Records fetched before a revoke or a seek are
//! dropped by librdkafka's version barrier and, behind it, by the tracker's stamps.

use std::{
    collections::HashSet,
    fmt,
    future::poll_fn,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, OnceLock, Weak},
    task::Poll,
};

use futures::{Stream, StreamExt as _, stream};
use rdkafka::{consumer::stream_consumer::StreamPartitionQueue, error::KafkaResult};
use tokio::sync::{Notify, futures::Notified};
use tracing::warn;

use super::{
    member::{self, Fetched, Member},
    rebalance::{MemberContext, Shared},
    tracker::PartitionKey,
};

type PartitionQueue = StreamPartitionQueue<MemberContext>;

/// What a partition queue gave: a record (`None` if the partition is no longer ours) or an
/// error librdkafka reported for the partition.
pub(crate) type Popped = KafkaResult<Option<Fetched>>;

/// The partition queues split off one member's consumer, until its task takes them.
#[derive(Default)]
pub(crate) struct Queues {
    member: OnceLock<Weak<Member>>,
    split: Mutex<Split>,
    added: Notify,
}

/// Each queue holds the consumer, which it keeps open; so they are held here only until the
/// member task takes them, and the task lets go of them before it closes the consumer.
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
            self.added.notify_one();
        }
    }

    /// Resolves once queues were split off since the member task last took them.
    pub(crate) fn added(&self) -> Notified<'_> {
        self.added.notified()
    }

    /// Lets go of the queues not taken yet, before the consumer closes.
    pub(crate) fn clear(&self) {
        self.lock().new.clear();
    }
}

type Lane = Pin<Box<dyn Stream<Item = Popped> + Send>>;

/// The member task's readers of the partition queues.
#[derive(Default)]
pub(crate) struct Lanes {
    lanes: Vec<Lane>,
    /// The lane polled first next time, so that no partition starves the others.
    first: usize,
}

impl Lanes {
    /// Starts reading the queues split off since the last call.
    pub(crate) fn add_split(&mut self, shared: &Arc<Shared>) {
        let new = std::mem::take(&mut shared.queues.lock().new);
        self.lanes
            .extend(new.into_iter().map(|queue| lane(queue, shared.clone())));
    }

    /// Takes up to `room` records from the queues that have some; pending while none has.
    pub(crate) async fn pull(&mut self, room: usize) -> Vec<Popped> {
        poll_fn(|cx| {
            let mut popped = Vec::new();
            let count = self.lanes.len();
            for n in 0..count {
                let lane = &mut self.lanes[(self.first + n) % count];
                while popped.len() < room {
                    match lane.poll_next_unpin(cx) {
                        Poll::Ready(Some(item)) => popped.push(item),
                        Poll::Ready(None) | Poll::Pending => break,
                    }
                }
            }
            self.first = self.first.wrapping_add(1);
            if popped.is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(popped)
            }
        })
        .await
    }
}

/// The records of one partition queue, stamped as they are taken: polled by the member task
/// only, so a record is taken and stamped either wholly before or wholly after a nack's seek.
fn lane(queue: PartitionQueue, shared: Arc<Shared>) -> Lane {
    Box::pin(stream::unfold(
        (queue, shared),
        |(queue, shared)| async move {
            let popped = match queue.recv().await {
                Ok(record) => Ok(member::fetched(&shared, &record)),
                Err(err) => Err(err),
            };
            Some((popped, (queue, shared)))
        },
    ))
}
