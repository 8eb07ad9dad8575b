//! One consumer-group member: a task that reads, redelivers and claims entries, and hands
//! them to its [`RedisDeliveries`](super::RedisDeliveries) stream.

use std::{collections::HashMap, sync::Arc, time::Duration};

use redis::{
    AsyncConnectionConfig, Client, RedisResult, Value,
    aio::{ConnectionManager, MultiplexedConnection},
    streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply},
};
use switchboard_core::{Delivery, Group, Position, Result, Topic};
use tokio::{sync::mpsc, time::Instant};

use super::{
    acker::{Retry, StreamAcker},
    layout::{offset, previous_id},
};
use crate::frame;

/// The stream field that holds the frame.
pub(super) const FRAME_FIELD: &str = "f";

/// One partition stream the member reads.
pub(super) struct Partition {
    pub(super) topic: Topic,
    pub(super) index: u32,
    pub(super) stream: Arc<str>,
}

/// Timing and batch size of a member.
#[derive(Clone, Copy, Debug)]
pub(super) struct Settings {
    pub(super) block: Duration,
    pub(super) batch: usize,
    pub(super) claim_idle: Duration,
}

pub(super) struct Member {
    pub(super) reader: MultiplexedConnection,
    pub(super) client: Client,
    pub(super) reader_config: AsyncConnectionConfig,
    pub(super) commands: ConnectionManager,
    pub(super) group: Group,
    pub(super) consumer: String,
    pub(super) partitions: Vec<Partition>,
    pub(super) tx: mpsc::Sender<Result<Delivery>>,
    pub(super) retries_tx: mpsc::UnboundedSender<Retry>,
    pub(super) retries_rx: mpsc::UnboundedReceiver<Retry>,
    pub(super) settings: Settings,
    waiting: Vec<Retry>,
    last_claim: Option<Instant>,
}

/// `Ok(false)`: the stream was dropped and the member leaves.
type Step = RedisResult<bool>;

impl Member {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        reader: MultiplexedConnection,
        client: Client,
        reader_config: AsyncConnectionConfig,
        commands: ConnectionManager,
        group: Group,
        partitions: Vec<Partition>,
        tx: mpsc::Sender<Result<Delivery>>,
        settings: Settings,
    ) -> Self {
        let (retries_tx, retries_rx) = mpsc::unbounded_channel();
        let uuid = uuid::Uuid::now_v7().simple().to_string();
        Member {
            reader,
            client,
            reader_config,
            commands,
            group,
            consumer: format!("member-{}", &uuid[uuid.len() - 16..]),
            partitions,
            tx,
            retries_tx,
            retries_rx,
            settings,
            waiting: Vec::new(),
            last_claim: None,
        }
    }

    /// Runs until the stream is dropped, then leaves the group.
    pub(super) async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        while !self.tx.is_closed() {
            match self.step().await {
                Ok(true) => backoff = Duration::from_millis(100),
                Ok(false) => break,
                Err(err) => {
                    tracing::warn!(
                        group = %self.group,
                        consumer = %self.consumer,
                        error = %err,
                        "redis log read failed; retrying"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    if (err.is_io_error() || err.is_unrecoverable_error())
                        && let Ok(reader) = self
                            .client
                            .get_multiplexed_async_connection_with_config(&self.reader_config)
                            .await
                    {
                        self.reader = reader;
                    }
                }
            }
        }
        if let Err(err) = self.leave().await {
            tracing::warn!(
                group = %self.group,
                consumer = %self.consumer,
                error = %err,
                "redis log member could not hand back its pending entries; \
                 they return after the claim idle time"
            );
        }
    }

    async fn step(&mut self) -> Step {
        while let Ok(retry) = self.retries_rx.try_recv() {
            self.waiting.push(retry);
        }
        let now = Instant::now();
        for p in 0..self.partitions.len() {
            let retries = self.waiting.iter().filter(|r| r.partition == p);
            if !retries.clone().any(|r| r.due <= now) {
                continue;
            }
            let from = retries
                .min_by_key(|r| offset(&r.id))
                .map(|r| r.id.clone())
                .expect("a due retry");
            self.waiting.retain(|r| r.partition != p);
            if !self.rewind(p, &from).await? {
                return Ok(false);
            }
        }
        let claim_every = self.settings.block * 2;
        if self.last_claim.is_none_or(|at| at.elapsed() >= claim_every) {
            self.last_claim = Some(Instant::now());
            if !self.claim().await? {
                return Ok(false);
            }
        }
        self.read_new().await
    }

    /// Reads entries never delivered to the group, from partitions without pending retries
    /// (a partition waiting for a redelivery holds back its later entries, to keep order).
    async fn read_new(&mut self) -> Step {
        let active: Vec<usize> = (0..self.partitions.len())
            .filter(|p| !self.waiting.iter().any(|r| r.partition == *p))
            .collect();
        let next_due = self.waiting.iter().map(|r| r.due).min();
        let block = next_due.map_or(self.settings.block, |due| {
            due.saturating_duration_since(Instant::now())
                .min(self.settings.block)
        });
        if active.is_empty() {
            tokio::time::sleep(block).await;
            return Ok(true);
        }
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(self.group.as_str())
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(self.settings.batch)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS");
        for &p in &active {
            cmd.arg(&*self.partitions[p].stream);
        }
        for _ in &active {
            cmd.arg(">");
        }
        let reply: Option<StreamReadReply> = cmd.query_async(&mut self.reader).await?;
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            let Some(p) = self.partition_of(&key.key) else {
                continue;
            };
            for entry in key.ids {
                if !self.deliver(p, entry, 1).await? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Delivers again this member's pending entries of partition `p` from `from` on, in order:
    /// the nacked entry and every later one not acked yet, as a Kafka consumer seeking back.
    async fn rewind(&mut self, p: usize, from: &str) -> Step {
        let stream = self.partitions[p].stream.clone();
        let mut after = previous_id(from);
        loop {
            let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(self.group.as_str())
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(self.settings.batch)
                .arg("STREAMS")
                .arg(&*stream)
                .arg(&after)
                .query_async(&mut self.commands)
                .await?;
            let entries: Vec<StreamId> = reply
                .into_iter()
                .flat_map(|r| r.keys)
                .flat_map(|k| k.ids)
                .filter(|e| !e.map.is_empty())
                .collect();
            let Some(last) = entries.last().map(|e| e.id.clone()) else {
                return Ok(true);
            };
            let full = entries.len() >= self.settings.batch;
            if !self.deliver_again(p, entries).await? {
                return Ok(false);
            }
            if !full {
                return Ok(true);
            }
            after = last;
        }
    }

    /// Takes over entries that another member left behind: handed back when it left, or
    /// unacked for longer than the claim idle time.
    async fn claim(&mut self) -> Step {
        for p in 0..self.partitions.len() {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&*self.partitions[p].stream)
                .arg(self.group.as_str())
                .arg(&self.consumer)
                .arg(self.settings.claim_idle.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(self.settings.batch)
                .query_async(&mut self.commands)
                .await?;
            if reply.claimed.is_empty() {
                continue;
            }
            tracing::debug!(
                group = %self.group,
                topic = %self.partitions[p].topic,
                partition = self.partitions[p].index,
                claimed = reply.claimed.len(),
                "claimed entries of another member"
            );
            if !self.deliver_again(p, reply.claimed).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Delivers entries that were delivered before, with their delivery counts as attempts.
    async fn deliver_again(&mut self, p: usize, entries: Vec<StreamId>) -> Step {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(true);
        };
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&*self.partitions[p].stream)
            .arg(self.group.as_str())
            .arg(&first.id)
            .arg(&last.id)
            .arg(entries.len())
            .arg(&self.consumer)
            .query_async(&mut self.commands)
            .await?;
        let attempts: HashMap<String, usize> = pending
            .ids
            .into_iter()
            .map(|id| (id.id, id.times_delivered))
            .collect();
        for entry in entries {
            let attempt = attempts.get(&entry.id).copied().unwrap_or(2);
            if !self
                .deliver(p, entry, u32::try_from(attempt).unwrap_or(u32::MAX))
                .await?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn deliver(&mut self, p: usize, mut entry: StreamId, attempt: u32) -> Step {
        let partition = &self.partitions[p];
        let decoded = match entry.map.remove(FRAME_FIELD) {
            Some(Value::BulkString(bytes)) => frame::decode(partition.topic.clone(), bytes).ok(),
            _ => None,
        };
        let Some(envelope) = decoded else {
            // Not written by Switchboard: ack it, or it would come back forever.
            tracing::warn!(
                topic = %partition.topic,
                partition = partition.index,
                id = %entry.id,
                "skipped a stream entry that is not a switchboard frame"
            );
            redis::cmd("XACK")
                .arg(&*partition.stream)
                .arg(self.group.as_str())
                .arg(&entry.id)
                .exec_async(&mut self.commands)
                .await?;
            return Ok(true);
        };
        let position = Position {
            partition: partition.index,
            offset: offset(&entry.id),
        };
        let acker = StreamAcker {
            conn: self.commands.clone(),
            stream: partition.stream.clone(),
            group: self.group.clone(),
            partition: p,
            id: entry.id,
            retries: self.retries_tx.clone(),
        };
        let delivery = Delivery::new(envelope, position, attempt, acker);
        Ok(self.tx.send(Ok(delivery)).await.is_ok())
    }

    /// Hands back the entries this member still holds, marked as long idle so the next member
    /// claims them at once, and removes the member from the group if it holds none.
    async fn leave(&mut self) -> RedisResult<()> {
        let mark_idle = (self.settings.claim_idle + Duration::from_secs(3600)).as_millis() as u64;
        for partition in &self.partitions {
            let pending: StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(&*partition.stream)
                .arg(self.group.as_str())
                .arg("-")
                .arg("+")
                .arg(100_000)
                .arg(&self.consumer)
                .query_async(&mut self.commands)
                .await?;
            if pending.ids.is_empty() {
                redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(&*partition.stream)
                    .arg(self.group.as_str())
                    .arg(&self.consumer)
                    .exec_async(&mut self.commands)
                    .await?;
                continue;
            }
            let mut cmd = redis::cmd("XCLAIM");
            cmd.arg(&*partition.stream)
                .arg(self.group.as_str())
                .arg(&self.consumer)
                .arg(0);
            for id in &pending.ids {
                cmd.arg(&id.id);
            }
            cmd.arg("IDLE").arg(mark_idle).arg("JUSTID");
            cmd.exec_async(&mut self.commands).await?;
        }
        tracing::debug!(group = %self.group, consumer = %self.consumer, "left the group");
        Ok(())
    }

    fn partition_of(&self, stream: &str) -> Option<usize> {
        self.partitions.iter().position(|p| &*p.stream == stream)
    }
}
