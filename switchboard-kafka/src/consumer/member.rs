//! The task that runs one group member: it fetches records ahead of the stream's reader,
//! carries out acks and nacks, and on shutdown commits and leaves the group.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use rdkafka::{
    Message as _, Offset, TopicPartitionList,
    consumer::{Consumer as _, StreamConsumer},
    error::KafkaError,
    message::BorrowedMessage,
};
use switchboard_core::{Envelope, Error, Result};
use tokio::{
    sync::{mpsc, oneshot},
    time::{Instant, MissedTickBehavior},
};
use tracing::{debug, info, warn};

use super::{
    rebalance::{MemberContext, Shared},
    tracker::{Acked, PartitionKey, Stamp},
};
use crate::{codec, error};

/// The librdkafka consumer of one member.
pub(crate) type Member = StreamConsumer<MemberContext>;

/// A record fetched for the stream, stamped with the assignment and epoch it was fetched in.
pub(crate) struct Fetched {
    pub(crate) envelope: Envelope,
    pub(crate) key: PartitionKey,
    pub(crate) offset: i64,
    pub(crate) stamp: Stamp,
}

/// What an acker asks of the member task (acks need no task: see [`ack`]).
pub(crate) enum Command {
    Nack {
        key: PartitionKey,
        stamp: Stamp,
        offset: i64,
        delay: Duration,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    /// Commit, leave the group, and say how the commit went.
    Close { reply: oneshot::Sender<Result<()>> },
}

/// A partition paused by a delayed nack, and when to resume it.
struct Resume {
    at: Instant,
    key: PartitionKey,
    generation: u64,
}

/// Records of the main queue handed to the stream in one message at most.
const CHUNK: usize = 64;

/// How often the acked offsets are stored in librdkafka, for its auto-commit to send.
pub(crate) const STORE_EVERY: Duration = Duration::from_millis(50);

/// Runs the member until its stream is dropped or the consumer fails for good.
///
/// The consumer's main queue is polled all the time, so rebalances are served even while the
/// stream's reader is busy. Each partition's records come through a queue of its own, which
/// the stream reads (`queues`); the main queue gives records only of a partition whose queue
/// could not be split off, and those wait in a backlog for the stream.
pub(crate) async fn run(
    consumer: Arc<Member>,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    out: mpsc::Sender<Vec<Result<Fetched>>>,
) {
    let mut backlog: VecDeque<Result<Fetched>> = VecDeque::new();
    let mut resumes: Vec<Resume> = Vec::new();
    let mut closing = None;
    let mut failed = false;
    let mut store = tokio::time::interval(STORE_EVERY);
    store.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if failed && backlog.is_empty() {
            break;
        }
        let next_resume = resumes.iter().map(|r| r.at).min();
        tokio::select! {
            biased;
            Some(command) = commands.recv() => match command {
                Command::Close { reply } => {
                    closing = Some(reply);
                    break;
                }
                command => settle(&consumer, &shared, command, &mut resumes),
            },
            () = out.closed() => break,
            _ = store.tick() => store_acked(&consumer, &shared),
            () = tokio::time::sleep_until(next_resume.unwrap_or_else(Instant::now)), if next_resume.is_some() => {
                resume_due(&consumer, &shared, &mut resumes);
            }
            reserved = out.reserve(), if !backlog.is_empty() => match reserved {
                Ok(permit) => {
                    let chunk = backlog.len().min(CHUNK);
                    permit.send(backlog.drain(..chunk).collect());
                }
                Err(_closed) => break,
            },
            received = consumer.recv(), if !failed => match received {
                Ok(record) => {
                    if let Some(fetched) = fetched(&shared, &record) {
                        backlog.push_back(Ok(fetched));
                    }
                }
                Err(err) => {
                    if let Some(err) = consumer_error(&shared, err) {
                        backlog.push_back(Err(err));
                        failed = true;
                    }
                }
            },
        }
    }
    // The stream ends and lets go of its partition queues, which hold the consumer.
    drop(out);
    let result = shutdown(consumer, shared).await;
    if let Some(reply) = closing {
        let _ = reply.send(result);
    }
}

/// Logs a consumer error; a fatal one is returned, for the stream, and the member stops.
pub(crate) fn consumer_error(shared: &Shared, err: KafkaError) -> Option<Error> {
    match err {
        KafkaError::MessageConsumptionFatal(_) => {
            warn!(group = %shared.group, error = %err, "fatal consumer error; the member stops");
            Some(error::map(err))
        }
        // librdkafka recovers from the others by itself (broker down, leader moved…).
        err => {
            warn!(group = %shared.group, error = %err, "consumer error");
            None
        }
    }
}

/// A record of the main queue, stamped now; `None` if its partition is not ours.
fn fetched(shared: &Shared, record: &BorrowedMessage<'_>) -> Option<Fetched> {
    let key = shared.key(record.topic(), record.partition())?;
    let stamp = shared.tracker().stamp(&key)?;
    Some(Fetched {
        envelope: codec::envelope(&key.0, record),
        offset: record.offset(),
        key,
        stamp,
    })
}

fn partition_list(
    key: &PartitionKey,
    offset: Option<i64>,
) -> rdkafka::error::KafkaResult<TopicPartitionList> {
    let mut list = TopicPartitionList::with_capacity(1);
    match offset {
        Some(offset) => list.add_partition_offset(key.0.as_str(), key.1, Offset::Offset(offset))?,
        None => {
            list.add_partition(key.0.as_str(), key.1);
        }
    }
    Ok(list)
}

/// Records the ack of `offset`, on the acker's own thread (no trip through the member task).
///
/// The partition's new commit point is stored in librdkafka by the member task within
/// [`STORE_EVERY`] ([`store_acked`]), for all the acks since, as a raw consumer stores once
/// per batch; the revoke and shutdown commits take the commit points from the tracker itself,
/// so an ack not stored yet is committed there all the same.
///
/// Fails with [`Error::Closed`] once the member has shut down (its commit is done): the
/// record goes to the group's next member.
pub(crate) fn ack(shared: &Shared, key: &PartitionKey, generation: u64, offset: i64) -> Result<()> {
    match shared.tracker().ack(key, generation, offset) {
        Acked::Advanced(_) | Acked::Held => Ok(()),
        Acked::Stale => {
            debug!(topic = %key.0, partition = key.1, offset, "ack after revoke; the partition's new owner gets the record again");
            Ok(())
        }
        Acked::Closed => Err(Error::Closed),
    }
}

/// Stores in librdkafka the commit points that acks moved since the last store.
fn store_acked(consumer: &Member, shared: &Shared) {
    let points = shared.tracker().take_unstored();
    if points.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::with_capacity(points.len());
    for ((topic, partition), point) in &points {
        if let Err(err) =
            list.add_partition_offset(topic.as_str(), *partition, Offset::Offset(*point))
        {
            warn!(%topic, partition, error = %err, "storing an acked offset failed");
        }
    }
    // A partition revoked meanwhile is refused (its revoke committed the point already); the
    // others are stored again on the next tick.
    if let Err(err) = consumer.store_offsets(&list) {
        debug!(group = %shared.group, error = %err, "storing acked offsets failed; trying again");
        shared.tracker().store_again(&points);
    }
}

fn settle(consumer: &Member, shared: &Shared, command: Command, resumes: &mut Vec<Resume>) {
    match command {
        Command::Close { reply } => {
            let _ = reply.send(Ok(()));
        }
        Command::Nack {
            key,
            stamp,
            offset,
            delay,
            reply,
        } => {
            let mut result = Ok(());
            // The tracker stays locked through the seek: the stream takes records from the
            // partition's queue under the same lock (see `queues`).
            let mut tracker = shared.tracker();
            if tracker.rewind(&key, stamp, offset) {
                debug!(topic = %key.0, partition = key.1, offset, ?delay, "nack: seeking back");
                result = rewind(consumer, &key, offset, delay).map_err(error::map);
                if result.is_ok() && !delay.is_zero() {
                    resumes.push(Resume {
                        at: Instant::now() + delay,
                        key,
                        generation: stamp.generation,
                    });
                }
            }
            drop(tracker);
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
    }
}

/// Seeks the partition back to `offset`; with a delay, pauses it first (a pause resets the
/// fetch position, so the seek must come after it) and leaves the resume to the caller.
fn rewind(
    consumer: &Member,
    key: &PartitionKey,
    offset: i64,
    delay: Duration,
) -> rdkafka::error::KafkaResult<()> {
    if !delay.is_zero() {
        consumer.pause(&partition_list(key, None)?)?;
    }
    // A zero timeout only queues the seek; librdkafka drops records fetched before it.
    consumer.seek(
        key.0.as_str(),
        key.1,
        Offset::Offset(offset),
        Duration::ZERO,
    )
}

fn resume_due(consumer: &Member, shared: &Shared, resumes: &mut Vec<Resume>) {
    let now = Instant::now();
    let (due, later): (Vec<Resume>, Vec<Resume>) = resumes.drain(..).partition(|r| r.at <= now);
    *resumes = later;
    for resume in due {
        if !shared.tracker().is_current(&resume.key, resume.generation) {
            continue;
        }
        let resumed = partition_list(&resume.key, None).and_then(|list| consumer.resume(&list));
        if let Err(err) = resumed {
            warn!(topic = %resume.key.0, partition = resume.key.1, error = %err, "resume after delayed nack failed");
        }
    }
}

/// Commits acked offsets synchronously, then leaves the group; both wait for the broker, so
/// they run on a blocking thread. Returns how the commit went once it is done, having waited
/// for the leave at most a session timeout (a broker that never answers would hold it
/// forever; it then goes on in the background).
async fn shutdown(consumer: Arc<Member>, shared: Arc<Shared>) -> Result<()> {
    let group = shared.group.clone();
    let leave_timeout = shared.leave_timeout;
    let (committed, commit_result) = oneshot::channel();
    let leaving = tokio::task::spawn_blocking(move || {
        // The partition queues hold the consumer, and the stream holds them until it is
        // dropped or closed: once the consumer is ours alone, the leave below happens on this
        // thread.
        shared.queues.clear();
        let mut consumer = consumer;
        let consumer = loop {
            match Arc::try_unwrap(consumer) {
                Ok(consumer) => break consumer,
                Err(shared) => {
                    consumer = shared;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        let points = shared.tracker().close();
        let result = shared.commit(&consumer, &points, "shutdown");
        if let Err(err) = &result {
            warn!(group = %shared.group, error = %err, "commit on shutdown failed; those deliveries will be redelivered");
        }
        let _ = committed.send(result.map_err(error::map));
        // Closing the consumer leaves the group; its final revoke finds nothing left to commit.
        drop(consumer);
        shared.forget_lag(None);
    });
    let result = commit_result.await.unwrap_or(Err(Error::Closed));
    match tokio::time::timeout(leave_timeout, leaving).await {
        Ok(_) => info!(%group, "member left the group"),
        Err(_) => {
            warn!(%group, ?leave_timeout, "leaving the group is slow; it goes on in the background")
        }
    }
    result
}
