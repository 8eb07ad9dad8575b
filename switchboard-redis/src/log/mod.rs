//! [`RedisLog`]: a durable log on Redis Streams, at-least-once with explicit ack.

mod acker;
mod entry;
mod layout;
mod member;

use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures::Stream;
use redis::{AsyncConnectionConfig, Client, aio::ConnectionManager};
use switchboard_core::{
    Delivery, Envelope, Group, InvalidInput, LogCapabilities, LogConsumer, LogProducer, Position,
    Result, Topic, TopicAdmin,
    outgoing::{Operation, Sends},
};
use tokio::sync::mpsc;

use self::{
    layout::{Layout, offset, partition_for},
    member::{Member, Partition, Settings},
};
use crate::{
    RedisConfig,
    error::{from_redis, is_id_too_small},
};

/// The most partitions a topic may have.
pub const MAX_PARTITIONS: u32 = 1024;

/// A durable log on Redis Streams: [`LogProducer`], [`LogConsumer`] and [`TopicAdmin`].
///
/// - A topic with `n` partitions is `n` streams, `<prefix>:#log:<topic>:<partition>`; its
///   partition count is kept in `<prefix>:#log:<topic>`. A topic used before
///   [`create_topic`](TopicAdmin::create_topic) gets
///   [`RedisConfig::log_default_partitions`].
/// - `append` is one `XADD <stream> 0-* payload <payload> switchboard-id <id> …` (Redis 7 or
///   newer): the offset is the entry's sequence number, 1, 2, 3… per partition. Messages with
///   the same key go to the same partition (a stable FNV-1a hash), keyless ones round robin.
///   Each piece of the envelope is a field of its own (see `docs/backends.md`), so plain
///   clients read the payload unchanged.
/// - **Plain clients may append too** (`XADD <stream> * payload …`): their entries are
///   delivered with a fresh id, and an entry without a `payload` field arrives with an empty
///   payload and its fields as headers. Once a partition holds such a time-based id, `0-*`
///   cannot append after it, so appends to that partition go on with `*`: offsets keep
///   growing, in bigger steps.
/// - Each group is a Redis consumer group on every partition stream, created at the oldest
///   entry when the first member joins. Each member reads with `XREADGROUP` on its own
///   connection and acks with `XACK`.
/// - **Members of one group share entries, not partitions** (Redis consumer groups hand each
///   entry to one member): every entry goes to exactly one member, but the order per key is
///   kept only while a group has one member.
/// - `nack` (and a delivery dropped unsettled) redelivers the entry after its delay (at most
///   a day), with the member's later unacked entries of that partition after it; the
///   partition holds back new entries meanwhile, so per-key order holds across
///   redeliveries. As in the in-memory log, a partition waits for one rewind at a time: a
///   nack at or after the waiting offset changes nothing (that entry comes back with the
///   rewind), an earlier one replaces it, with its own delay. The member keeps resetting the
///   idle time of the waiting entries, so no `XAUTOCLAIM` takes them before they are due,
///   however long the delay.
/// - A member whose stream is dropped hands its unacked entries back at once; the next
///   member's `XAUTOCLAIM` takes them over. A member that vanished without leaving (a crashed
///   process) loses its entries to `XAUTOCLAIM` after [`RedisConfig::log_claim_idle`], and so
///   does a delivery kept unacked (not nacked) for longer than that: it may then arrive
///   twice. A vanished member holding no entries is removed from the group
///   (`XGROUP DELCONSUMER`) once it has been idle for that long.
/// - Entries deleted from a stream (`XDEL`, `XTRIM`) while pending are acked when a rewind
///   meets them, and skipped.
/// - Streams are not trimmed: delete or `XTRIM` them when their entries are no longer needed.
#[derive(Clone)]
pub struct RedisLog {
    client: Client,
    conn: ConnectionManager,
    layout: Layout,
    config: Arc<RedisConfig>,
    partitions: Arc<Mutex<HashMap<Topic, u32>>>,
    /// Streams whose last id is time-based, so appends use `*`.
    timed: Arc<Mutex<HashSet<String>>>,
    round_robin: Arc<AtomicU64>,
    appends: Sends,
}

impl std::fmt::Debug for RedisLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLog")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl RedisLog {
    pub(crate) fn new(client: Client, conn: ConnectionManager, config: Arc<RedisConfig>) -> Self {
        RedisLog {
            client,
            conn,
            layout: Layout::new(&config.key_prefix),
            config,
            partitions: Arc::default(),
            timed: Arc::default(),
            round_robin: Arc::default(),
            appends: Sends::new(Operation::Append, crate::SYSTEM),
        }
    }

    /// The Redis stream that holds `partition` of `topic`.
    pub fn stream_key(&self, topic: &Topic, partition: u32) -> String {
        self.layout.stream(topic, partition)
    }

    /// The Redis hash that holds the partition count of `topic`.
    pub fn topic_key(&self, topic: &Topic) -> String {
        self.layout.meta(topic)
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, u32>> {
        self.partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `partitions` for `topic` unless it already has a count; returns the count.
    async fn ensure_topic(&self, topic: &Topic, partitions: u32) -> Result<u32> {
        let meta = self.layout.meta(topic);
        let mut conn = self.conn.clone();
        let (_, stored): (bool, Option<u32>) = redis::pipe()
            .cmd("HSETNX")
            .arg(&meta)
            .arg("partitions")
            .arg(partitions)
            .cmd("HGET")
            .arg(&meta)
            .arg("partitions")
            .query_async(&mut conn)
            .await
            .map_err(from_redis)?;
        let stored = stored.unwrap_or(partitions).clamp(1, MAX_PARTITIONS);
        self.cached().insert(topic.clone(), stored);
        Ok(stored)
    }

    fn is_timed(&self, stream: &str) -> bool {
        self.timed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(stream)
    }

    /// `XADD`s `msg` to `stream` with the id form the stream allows; returns the entry id.
    async fn add(&self, stream: &str, msg: &Envelope) -> Result<String> {
        let mut conn = self.conn.clone();
        let timed = self.is_timed(stream);
        let xadd = |id: &str| -> Result<redis::Cmd> {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(stream).arg(id);
            entry::write_fields(&mut cmd, msg)?;
            Ok(cmd)
        };
        if !timed {
            match xadd("0-*")?.query_async(&mut conn).await {
                Ok(id) => return Ok(id),
                Err(err) if is_id_too_small(&err) => {
                    tracing::debug!(stream, "stream has time-based ids; appending with `*`");
                    self.timed
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(stream.to_owned());
                }
                Err(err) => return Err(from_redis(err)),
            }
        }
        xadd("*")?.query_async(&mut conn).await.map_err(from_redis)
    }

    async fn partition_count(&self, topic: &Topic) -> Result<u32> {
        if let Some(&n) = self.cached().get(topic) {
            return Ok(n);
        }
        self.ensure_topic(topic, self.config.log_default_partitions)
            .await
    }
}

impl TopicAdmin for RedisLog {
    async fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<()> {
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(InvalidInput::OutOfRange {
                what: "partitions",
                min: 1,
                max: u64::from(MAX_PARTITIONS),
                got: u64::from(partitions),
            }
            .into());
        }
        let stored = self.ensure_topic(topic, partitions).await?;
        if stored != partitions {
            tracing::debug!(topic = %topic, partitions = stored, "topic already exists");
        }
        Ok(())
    }
}

impl LogProducer for RedisLog {
    async fn append(&self, mut msg: Envelope) -> Result<Position> {
        msg.check_size(self.config.max_payload)?;
        let out = self.appends.start(&mut msg);
        out.run(async {
            let topic = msg.subject().clone();
            let partitions = self.partition_count(&topic).await?;
            let partition = partition_for(
                msg.key(),
                partitions,
                self.round_robin.fetch_add(1, Ordering::Relaxed),
            );
            let stream = self.layout.stream(&topic, partition);
            let id = self.add(&stream, &msg).await?;
            let position = Position {
                partition,
                offset: offset(&id),
            };
            tracing::trace!(topic = %topic, partition, offset = position.offset, "appended");
            Ok(position)
        })
        .await
    }
}

impl RedisLog {
    /// What this log guarantees beyond at-least-once: a nack redelivers the message alone after its
    /// delay, and the members of a group read the same streams, so a key's messages may be split
    /// between them.
    pub const CAPABILITIES: LogCapabilities = LogCapabilities::AT_LEAST_ONCE;
}

impl LogConsumer for RedisLog {
    type Stream = RedisDeliveries;

    fn capabilities(&self) -> LogCapabilities {
        Self::CAPABILITIES
    }

    async fn join(&self, group: &Group, topics: &[Topic]) -> Result<RedisDeliveries> {
        let mut partitions = Vec::new();
        let mut conn = self.conn.clone();
        for topic in topics {
            for index in 0..self.partition_count(topic).await? {
                let stream = self.layout.stream(topic, index);
                let created = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&stream)
                    .arg(group.as_str())
                    .arg("0")
                    .arg("MKSTREAM")
                    .exec_async(&mut conn)
                    .await;
                match created {
                    Ok(()) => {}
                    Err(err) if err.code() == Some("BUSYGROUP") => {}
                    Err(err) => return Err(from_redis(err)),
                }
                partitions.push(Partition {
                    topic: topic.clone(),
                    index,
                    stream: Arc::from(stream),
                });
            }
        }
        let settings = Settings {
            block: self.config.log_block,
            batch: self.config.log_batch,
            claim_idle: self.config.log_claim_idle,
        };
        let reader_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.connect_timeout))
            .set_response_timeout(Some(self.config.log_block + self.config.response_timeout));
        let reader = self
            .client
            .get_multiplexed_async_connection_with_config(&reader_config)
            .await
            .map_err(from_redis)?;
        let (tx, rx) = mpsc::channel(self.config.log_batch);
        let member = Member::new(
            reader,
            self.client.clone(),
            reader_config,
            self.conn.clone(),
            group.clone(),
            partitions,
            tx,
            settings,
        );
        tracing::debug!(group = %group, consumer = %member.consumer, "joined");
        tokio::spawn(member.run());
        Ok(RedisDeliveries { rx })
    }
}

/// The deliveries of one [`RedisLog`] group member. Dropping it leaves the group and hands
/// the member's unacked entries to the next member.
#[derive(Debug)]
pub struct RedisDeliveries {
    rx: mpsc::Receiver<Result<Delivery>>,
}

impl Stream for RedisDeliveries {
    type Item = Result<Delivery>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
