//! One consumer-group member: a task that reads, redelivers and claims entries, and hands
//! them to its [`RedisDeliveries`](super::RedisDeliveries) stream.

use std::{collections::HashMap, sync::Arc, time::Duration};

use redis::{
    AsyncConnectionConfig, Client, RedisResult,
    aio::{ConnectionManager, MultiplexedConnection},
    streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply},
};
use switchboard_core::{Delivery, Group, Position, Result, Topic};
use tokio::{sync::mpsc, time::Instant};

use super::{
    acker::{Retry, StreamAcker},
    entry,
    layout::{offset, previous_id},
};

mod membership;
mod waiting;

use waiting::Waiting;

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
    /// Per partition: where a rewind starts and when (at most one per partition).
    waiting: Vec<Option<Waiting>>,
    last_claim: Option<Instant>,
    last_cleanup: Option<Instant>,
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
        let waiting = partitions.iter().map(|_| None).collect();
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
            waiting,
            last_claim: None,
            last_cleanup: None,
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
            self.wait_for(retry);
        }
        let now = Instant::now();
        for p in 0..self.partitions.len() {
            let Some(due) = self.waiting[p].take_if(|w| w.due <= now) else {
                continue;
            };
            match self.rewind(p, &due.from).await {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(err) => {
                    self.waiting[p] = Some(due);
                    return Err(err);
                }
            }
        }
        self.keep_waiting_entries().await?;
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
            .filter(|&p| self.waiting[p].is_none())
            .collect();
        let next_due = self.waiting.iter().flatten().map(|w| w.due).min();
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
                .collect();
            let Some(last) = entries.last().map(|e| e.id.clone()) else {
                return Ok(true);
            };
            // Count the page before dropping deleted entries, or a page of them ends the rewind.
            let full = entries.len() >= self.settings.batch;
            let (live, deleted): (Vec<StreamId>, Vec<StreamId>) =
                entries.into_iter().partition(|e| !e.map.is_empty());
            if !deleted.is_empty() {
                // Deleted from the stream (`XDEL`, `XTRIM`) while pending: nothing to deliver.
                redis::cmd("XACK")
                    .arg(&*stream)
                    .arg(self.group.as_str())
                    .arg(deleted.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
                    .exec_async(&mut self.commands)
                    .await?;
            }
            if !self.deliver_again(p, live).await? {
                return Ok(false);
            }
            if !full {
                return Ok(true);
            }
            after = last;
        }
    }

    /// Takes over entries that another member left behind: handed back when it left, or
    /// unacked for longer than the claim idle time. Once per claim idle time, also removes
    /// the members that vanished without leaving and hold nothing any more.
    async fn claim(&mut self) -> Step {
        let cleanup = self
            .last_cleanup
            .is_none_or(|at| at.elapsed() >= self.settings.claim_idle);
        if cleanup {
            self.last_cleanup = Some(Instant::now());
        }
        for p in 0..self.partitions.len() {
            if cleanup {
                self.remove_vanished(p).await?;
            }
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
        let fields = std::mem::take(&mut entry.map);
        let envelope = match entry::read(&partition.topic, fields) {
            Ok(envelope) => envelope,
            Err(err) => {
                // A broken frame can never be read: ack it, or it would come back forever.
                tracing::error!(
                    topic = %partition.topic,
                    partition = partition.index,
                    id = %entry.id,
                    error = %err,
                    "dropped a stream entry holding a broken switchboard frame"
                );
                redis::cmd("XACK")
                    .arg(&*partition.stream)
                    .arg(self.group.as_str())
                    .arg(&entry.id)
                    .exec_async(&mut self.commands)
                    .await?;
                return Ok(true);
            }
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
        let delivery = Delivery::new(crate::SYSTEM, envelope, position, attempt, acker);
        Ok(self.tx.send(Ok(delivery)).await.is_ok())
    }

    fn partition_of(&self, stream: &str) -> Option<usize> {
        self.partitions.iter().position(|p| &*p.stream == stream)
    }
}
