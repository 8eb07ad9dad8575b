//! The member's librdkafka context: on every revoke, acked offsets are committed
//! synchronously before the partitions are let go.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use rdkafka::{
    ClientContext, Offset, Statistics, TopicPartitionList,
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance},
    error::{KafkaError, KafkaResult},
    types::RDKafkaErrorCode,
};
use switchboard_core::{Group, Topic, metric};
use tracing::{debug, info, warn};

use super::{
    queues::Queues,
    tracker::{PartitionKey, Tracker},
};
use crate::context;

/// What the member task, its stream, its acks and its rebalance callbacks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) group: Group,
    /// How long a closing member waits to have left the group.
    pub(crate) leave_timeout: Duration,
    tracker: Mutex<Tracker>,
    topics: HashMap<String, Topic>,
    /// Since when librdkafka has been in a rebalance (joining or syncing), from its statistics.
    unsettled_since: Mutex<Option<Instant>>,
    /// The partitions whose consumer-lag gauge this member set, to zero when it lets them go.
    lagging: Mutex<HashSet<PartitionKey>>,
    /// Each assigned partition's own queue.
    pub(crate) queues: Queues,
}

impl Shared {
    pub(crate) fn new(group: Group, topics: &[Topic], leave_timeout: Duration) -> Self {
        Shared {
            group,
            leave_timeout,
            tracker: Mutex::default(),
            unsettled_since: Mutex::default(),
            lagging: Mutex::default(),
            queues: Queues::default(),
            topics: topics
                .iter()
                .map(|t| (t.as_str().to_owned(), t.clone()))
                .collect(),
        }
    }

    pub(crate) fn tracker(&self) -> MutexGuard<'_, Tracker> {
        lock(&self.tracker)
    }

    /// Notes librdkafka's group join state (`steady` once a rebalance is complete).
    fn note_join_state(&self, join_state: &str) {
        let mut since = lock(&self.unsettled_since);
        if join_state == "steady" {
            *since = None;
        } else {
            since.get_or_insert_with(Instant::now);
        }
    }

    /// How long the member has been in a rebalance that has not completed, if it is in one.
    pub(crate) fn unsettled_for(&self) -> Option<Duration> {
        lock(&self.unsettled_since).map(|since| since.elapsed())
    }

    /// Starts the rebalance clock again, after the group was looked at.
    pub(crate) fn restart_unsettled_clock(&self) {
        if let Some(since) = lock(&self.unsettled_since).as_mut() {
            *since = Instant::now();
        }
    }

    /// Sets the lag gauge of each partition this member owns, from librdkafka's statistics.
    fn record_lag(&self, statistics: &Statistics) {
        let tracker = self.tracker();
        let mut lagging = lock(&self.lagging);
        for (topic, stats) in &statistics.topics {
            // librdkafka reports unassigned partitions with lag -1, and an internal one as -1.
            for partition in stats.partitions.values() {
                let Some(key) = self.key(topic, partition.partition) else {
                    continue;
                };
                if partition.consumer_lag >= 0 && tracker.stamp(&key).is_some() {
                    self.set_lag(&key, partition.consumer_lag as f64);
                    lagging.insert(key);
                }
            }
        }
    }

    /// Zeroes the lag gauge of partitions this member no longer owns (`None`: all of them, on
    /// close), so a partition that moved to another process is not reported twice.
    pub(crate) fn forget_lag(&self, keys: Option<&[PartitionKey]>) {
        let mut lagging = lock(&self.lagging);
        let gone: Vec<PartitionKey> = match keys {
            Some(keys) => keys
                .iter()
                .filter(|k| lagging.remove(*k))
                .cloned()
                .collect(),
            None => lagging.drain().collect(),
        };
        for key in &gone {
            self.set_lag(key, 0.0);
        }
    }

    fn set_lag(&self, (topic, partition): &PartitionKey, lag: f64) {
        metric::consumer_lag(
            "kafka",
            self.group.as_str(),
            topic.as_str(),
            *partition,
            lag,
        );
    }

    /// Our partition key for a partition librdkafka names.
    pub(crate) fn key(&self, topic: &str, partition: i32) -> Option<PartitionKey> {
        self.topics.get(topic).map(|t| (t.clone(), partition))
    }

    /// Commits `points` synchronously and notes them as committed.
    pub(crate) fn commit<C: ConsumerContext>(
        &self,
        consumer: &impl Consumer<C>,
        points: &[(PartitionKey, i64)],
        why: &'static str,
    ) -> KafkaResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::with_capacity(points.len());
        for ((topic, partition), point) in points {
            offsets.add_partition_offset(topic.as_str(), *partition, Offset::Offset(*point))?;
        }
        // Stored as well: acks are stored in librdkafka a little later (member::STORE_EVERY),
        // and librdkafka commits what is stored when it lets the partitions go, which must
        // not take the commit back to an older point.
        if let Err(err) = consumer.store_offsets(&offsets) {
            debug!(group = %self.group, error = %err, "storing the offsets to commit");
        }
        consumer.commit(&offsets, CommitMode::Sync)?;
        let mut tracker = self.tracker();
        for (key, point) in points {
            tracker.committed(key, *point);
            info!(group = %self.group, topic = %key.0, partition = key.1, offset = point, why, "offsets committed");
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The consumer context of one group member.
pub(crate) struct MemberContext {
    pub(crate) shared: Arc<Shared>,
}

impl MemberContext {
    fn keys(&self, partitions: &TopicPartitionList) -> Vec<PartitionKey> {
        partitions
            .elements()
            .iter()
            .filter_map(|e| self.shared.key(e.topic(), e.partition()))
            .collect()
    }
}

impl ClientContext for MemberContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        context::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        context::client_error(&error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        if let Some(group) = &statistics.cgrp {
            self.shared.note_join_state(&group.join_state);
        }
        self.shared.record_lag(&statistics);
    }
}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let group = &self.shared.group;
        match rebalance {
            Rebalance::Assign(partitions) => {
                let assigned = self.keys(partitions);
                let mut tracker = self.shared.tracker();
                for key in &assigned {
                    info!(%group, topic = %key.0, partition = key.1, "partition assigned");
                    tracker.assign(key.clone());
                }
                drop(tracker);
                // Before the assignment below starts fetching them.
                self.shared.queues.split(&assigned);
            }
            Rebalance::Revoke(partitions) => {
                let revoked = self.keys(partitions);
                let points: Vec<(PartitionKey, i64)> = {
                    let mut tracker = self.shared.tracker();
                    revoked
                        .iter()
                        .filter_map(|key| {
                            info!(%group, topic = %key.0, partition = key.1, "partition revoked");
                            tracker.revoke(key).map(|point| (key.clone(), point))
                        })
                        .collect()
                };
                self.shared.forget_lag(Some(&revoked));
                if consumer.assignment_lost() {
                    // Another member may own them already and have committed further.
                    warn!(%group, "assignment lost; acked offsets not committed, they will be redelivered");
                } else if let Err(err) = self.shared.commit(consumer, &points, "revoke") {
                    warn!(%group, error = %err, "commit on revoke failed; those deliveries will be redelivered");
                }
            }
            Rebalance::Error(err) => warn!(%group, error = %err, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance
            && partitions.count() > 0
        {
            // A partition paused by a delayed nack under an earlier assignment starts afresh.
            if let Err(err) = consumer.resume(partitions) {
                debug!(group = %self.shared.group, error = %err, "resume after assign");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                debug!(group = %self.shared.group, partitions = offsets.count(), "offsets committed in the background")
            }
            // Nothing new was acked since the last commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(err) => {
                warn!(group = %self.shared.group, error = %err, "background commit failed; it is retried with the next one")
            }
        }
    }
}
