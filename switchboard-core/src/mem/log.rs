//! [`MemLog`]: a partitioned, Kafka-shaped log with consumer groups, in process.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    hash::{DefaultHasher, Hash, Hasher},
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
    time::Duration,
};

use futures::{Future, Stream, future::BoxFuture};
use tokio::time::{Instant, Sleep};

use crate::{
    Acknowledge, Delivery, Envelope, Group, LogCapabilities, LogConsumer, LogProducer, Position,
    Result, Topic, TopicAdmin,
    mem::bus::SYSTEM,
    outgoing::{Operation, Sends},
};

/// Bounds and defaults of a [`MemLog`].
#[derive(Clone, Copy, Debug)]
pub struct LogConfig {
    /// Partitions of a topic created on first use.
    pub default_partitions: u32,
    /// Records kept per partition; the oldest is evicted beyond it.
    pub retention: usize,
    /// Deliveries of one partition handed out and not yet acked, at most.
    pub max_in_flight: usize,
    /// Largest payload accepted.
    pub max_payload: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            default_partitions: 4,
            retention: 100_000,
            max_in_flight: 256,
            max_payload: 1024 * 1024,
        }
    }
}

type PartitionKey = (Topic, u32);

/// Longer nack delays are cut to this (a day), so no delay can overflow the clock.
const MAX_NACK_DELAY: Duration = Duration::from_secs(24 * 3600);
type MemberId = u64;

#[derive(Default)]
struct PartitionLog {
    start: u64,
    records: VecDeque<Envelope>,
}

impl PartitionLog {
    fn end(&self) -> u64 {
        self.start + self.records.len() as u64
    }
}

/// Where one group stands in one partition.
#[derive(Default)]
struct Cursor {
    /// Every offset below this is acked.
    committed: u64,
    /// The next offset to hand out.
    fetch: u64,
    /// Acked offsets above `committed`.
    acked: BTreeSet<u64>,
    /// Offsets handed out and not settled: offset → attempt.
    in_flight: BTreeMap<u64, u32>,
    /// Deliveries so far of offsets not yet committed.
    attempts: HashMap<u64, u32>,
    paused_until: Option<Instant>,
    owner: Option<MemberId>,
}

impl Cursor {
    fn skip_to(&mut self, start: u64) {
        if self.committed < start {
            self.committed = start;
            self.acked = self.acked.split_off(&start);
            self.attempts.retain(|offset, _| *offset >= start);
            self.in_flight = self.in_flight.split_off(&start);
        }
        self.fetch = self.fetch.max(start);
    }

    fn ack(&mut self, offset: u64) {
        self.in_flight.remove(&offset);
        if offset < self.committed {
            return;
        }
        self.acked.insert(offset);
        while self.acked.remove(&self.committed) {
            self.attempts.remove(&self.committed);
            self.committed += 1;
        }
    }

    /// Seeks back to `offset`: it and every later unacked offset will be handed out again.
    fn rewind(&mut self, offset: u64, until: Option<Instant>) {
        if offset < self.committed || self.acked.contains(&offset) {
            return;
        }
        self.fetch = self.fetch.min(offset);
        self.in_flight.retain(|o, _| *o < offset);
        self.paused_until = until;
    }
}

#[derive(Default)]
struct GroupState {
    members: BTreeMap<MemberId, (Vec<Topic>, Option<Waker>)>,
    cursors: HashMap<PartitionKey, Cursor>,
}

#[derive(Default)]
struct State {
    topics: HashMap<Topic, Vec<PartitionLog>>,
    groups: HashMap<Group, GroupState>,
    next_member: MemberId,
    round_robin: u64,
    evicted: u64,
}

struct Inner {
    state: Mutex<State>,
    config: LogConfig,
    appends: Sends,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An in-process durable log: topics of partitions, consumer groups, explicit ack.
///
/// Cheap to clone; clones share the log. See [`crate::log`] for the semantics and
/// [`crate::mem`] for what happens at the retention bound.
#[derive(Clone)]
pub struct MemLog {
    inner: Arc<Inner>,
}

impl Default for MemLog {
    fn default() -> Self {
        Self::with_config(LogConfig::default())
    }
}

impl std::fmt::Debug for MemLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemLog")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl MemLog {
    /// A log with the default bounds.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log with the given bounds.
    pub fn with_config(config: LogConfig) -> Self {
        MemLog {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                config,
                appends: Sends::new(Operation::Append, SYSTEM),
            }),
        }
    }

    /// Records evicted by retention before a group had consumed them, counted once per group.
    pub fn evicted(&self) -> u64 {
        self.inner.lock().evicted
    }
}

fn ensure_topic<'a>(
    state: &'a mut State,
    topic: &Topic,
    partitions: u32,
) -> &'a mut Vec<PartitionLog> {
    state.topics.entry(topic.clone()).or_insert_with(|| {
        (0..partitions.max(1))
            .map(|_| PartitionLog::default())
            .collect()
    })
}

fn partition_for(key: Option<&str>, partitions: usize, round_robin: &mut u64) -> u32 {
    let n = partitions as u64;
    let slot = match key {
        Some(key) => {
            let mut hasher = DefaultHasher::new();
            key.hash(&mut hasher);
            hasher.finish() % n
        }
        None => {
            *round_robin = round_robin.wrapping_add(1);
            *round_robin % n
        }
    };
    slot as u32
}

/// Hands each partition of the group's topics to one member, and rewinds a partition whose
/// owner changed so its unacked records go to the new owner.
fn rebalance(state: &mut State, group: &Group) {
    let State { topics, groups, .. } = state;
    let Some(gs) = groups.get_mut(group) else {
        return;
    };
    let mut wanted: BTreeMap<&Topic, Vec<MemberId>> = BTreeMap::new();
    for (id, (member_topics, _)) in &gs.members {
        for topic in member_topics {
            wanted.entry(topic).or_default().push(*id);
        }
    }
    let previous: HashMap<PartitionKey, Option<MemberId>> = gs
        .cursors
        .iter_mut()
        .map(|(k, c)| (k.clone(), c.owner.take()))
        .collect();
    for (topic, members) in wanted {
        let partitions = topics.get(topic).map_or(0, Vec::len) as u32;
        for p in 0..partitions {
            let owner = members[p as usize % members.len()];
            let start = topics[topic][p as usize].start;
            let cursor = gs
                .cursors
                .entry((topic.clone(), p))
                .or_insert_with(|| Cursor {
                    committed: start,
                    fetch: start,
                    ..Cursor::default()
                });
            cursor.owner = Some(owner);
        }
    }
    for (key, cursor) in gs.cursors.iter_mut() {
        if previous.get(key).copied().flatten() != cursor.owner {
            cursor.fetch = cursor.committed;
            cursor.in_flight.clear();
            cursor.paused_until = None;
        }
    }
    for (_, waker) in gs.members.values_mut() {
        if let Some(waker) = waker.take() {
            waker.wake();
        }
    }
}

fn wake_readers(state: &mut State, topic: &Topic) {
    for gs in state.groups.values_mut() {
        for (topics, waker) in gs.members.values_mut() {
            if topics.contains(topic)
                && let Some(waker) = waker.take()
            {
                waker.wake();
            }
        }
    }
}

impl LogProducer for MemLog {
    async fn append(&self, mut msg: Envelope) -> Result<Position> {
        msg.check_size(self.inner.config.max_payload)?;
        let out = self.inner.appends.start(&mut msg);
        let config = self.inner.config;
        let mut guard = self.inner.lock();
        let state = &mut *guard;
        let topic = msg.subject().clone();
        let partitions = ensure_topic(state, &topic, config.default_partitions).len();
        let partition = partition_for(msg.key(), partitions, &mut state.round_robin);
        let log = &mut state.topics.get_mut(&topic).expect("topic exists")[partition as usize];
        let offset = log.end();
        log.records.push_back(msg);
        if log.records.len() > config.retention {
            log.records.pop_front();
            log.start += 1;
            let start = log.start;
            for gs in state.groups.values_mut() {
                if let Some(cursor) = gs.cursors.get_mut(&(topic.clone(), partition))
                    && cursor.committed < start
                {
                    state.evicted += 1;
                    cursor.skip_to(start);
                }
            }
        }
        wake_readers(state, &topic);
        out.finish(Ok(Position { partition, offset }))
    }
}

impl TopicAdmin for MemLog {
    async fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<()> {
        let existing = ensure_topic(&mut self.inner.lock(), topic, partitions).len();
        if existing != partitions.max(1) as usize {
            tracing::warn!(topic = %topic, existing, requested = partitions, "topic exists with another partition count");
        }
        Ok(())
    }
}

impl MemLog {
    /// What this log guarantees beyond at-least-once: a nack rewinds its partition; each partition
    /// belongs to one member of the group.
    pub const CAPABILITIES: LogCapabilities = LogCapabilities::PARTITIONED;
}

impl LogConsumer for MemLog {
    type Stream = MemDeliveries;

    fn capabilities(&self) -> LogCapabilities {
        Self::CAPABILITIES
    }

    async fn join(&self, group: &Group, topics: &[Topic]) -> Result<MemDeliveries> {
        let mut state = self.inner.lock();
        for topic in topics {
            ensure_topic(&mut state, topic, self.inner.config.default_partitions);
        }
        state.next_member += 1;
        let member = state.next_member;
        state
            .groups
            .entry(group.clone())
            .or_default()
            .members
            .insert(member, (topics.to_vec(), None));
        rebalance(&mut state, group);
        Ok(MemDeliveries {
            inner: self.inner.clone(),
            group: group.clone(),
            member,
            turn: 0,
            sleep: None,
        })
    }
}

/// The deliveries of one [`MemLog`] group member. Dropping it leaves the group.
pub struct MemDeliveries {
    inner: Arc<Inner>,
    group: Group,
    member: MemberId,
    turn: usize,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for MemDeliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemDeliveries")
            .field("group", &self.group)
            .field("member", &self.member)
            .finish()
    }
}

impl Stream for MemDeliveries {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let now = Instant::now();
        let max_in_flight = this.inner.config.max_in_flight;
        let mut guard = this.inner.lock();
        let State { topics, groups, .. } = &mut *guard;
        let Some(gs) = groups.get_mut(&this.group) else {
            return Poll::Ready(None);
        };
        let mut owned: Vec<&PartitionKey> = gs
            .cursors
            .iter()
            .filter(|(_, c)| c.owner == Some(this.member))
            .map(|(k, _)| k)
            .collect();
        owned.sort();
        let owned: Vec<PartitionKey> = owned.into_iter().cloned().collect();
        let mut wake_at: Option<Instant> = None;
        for i in 0..owned.len() {
            let key = &owned[(this.turn + i) % owned.len()];
            let cursor = gs.cursors.get_mut(key).expect("owned cursor");
            if let Some(until) = cursor.paused_until {
                if until > now {
                    wake_at = Some(wake_at.map_or(until, |w| w.min(until)));
                    continue;
                }
                cursor.paused_until = None;
            }
            let log = &topics[&key.0][key.1 as usize];
            cursor.skip_to(log.start);
            while cursor.acked.contains(&cursor.fetch) {
                cursor.fetch += 1;
            }
            if cursor.fetch >= log.end() || cursor.in_flight.len() >= max_in_flight {
                continue;
            }
            let offset = cursor.fetch;
            cursor.fetch += 1;
            let attempt = cursor.attempts.entry(offset).or_insert(0);
            *attempt += 1;
            let attempt = *attempt;
            cursor.in_flight.insert(offset, attempt);
            let envelope = log.records[(offset - log.start) as usize].clone();
            this.turn = (this.turn + i + 1) % owned.len();
            let acker = MemAck {
                inner: this.inner.clone(),
                group: this.group.clone(),
                key: key.clone(),
                offset,
                attempt,
            };
            let position = Position {
                partition: key.1,
                offset,
            };
            return Poll::Ready(Some(Ok(Delivery::new(
                SYSTEM, envelope, position, attempt, acker,
            ))));
        }
        if let Some((_, waker)) = gs.members.get_mut(&this.member) {
            *waker = Some(cx.waker().clone());
        }
        drop(guard);
        match wake_at {
            Some(at) => {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                sleep.as_mut().reset(at);
                if sleep.as_mut().poll(cx).is_ready() {
                    cx.waker().wake_by_ref();
                }
            }
            None => this.sleep = None,
        }
        Poll::Pending
    }
}

impl Drop for MemDeliveries {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        if let Some(gs) = state.groups.get_mut(&self.group) {
            gs.members.remove(&self.member);
        }
        rebalance(&mut state, &self.group);
    }
}

struct MemAck {
    inner: Arc<Inner>,
    group: Group,
    key: PartitionKey,
    offset: u64,
    attempt: u32,
}

impl MemAck {
    fn settle(self, nack_delay: Option<Duration>) {
        let mut state = self.inner.lock();
        let Some(gs) = state.groups.get_mut(&self.group) else {
            return;
        };
        let Some(cursor) = gs.cursors.get_mut(&self.key) else {
            return;
        };
        match nack_delay {
            None => cursor.ack(self.offset),
            Some(delay) => {
                // A nack from a delivery that a rebalance or an earlier nack already took back
                // changes nothing: the record is on its way again.
                if cursor.in_flight.get(&self.offset) != Some(&self.attempt) {
                    return;
                }
                let until = (!delay.is_zero()).then(|| Instant::now() + delay.min(MAX_NACK_DELAY));
                cursor.rewind(self.offset, until);
            }
        }
        let owner = cursor.owner;
        if let Some(waker) = owner
            .and_then(|o| gs.members.get_mut(&o))
            .and_then(|(_, w)| w.take())
        {
            waker.wake();
        }
    }
}

impl Acknowledge for MemAck {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        self.settle(None);
        Box::pin(async { Ok(()) })
    }

    fn nack(self: Box<Self>, delay: Duration) -> BoxFuture<'static, Result<()>> {
        self.settle(Some(delay));
        Box::pin(async { Ok(()) })
    }

    fn abandon(self: Box<Self>) {
        self.settle(Some(Duration::ZERO));
    }
}
