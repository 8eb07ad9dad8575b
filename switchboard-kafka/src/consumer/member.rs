//! The task that runs one group member: it fetches records ahead of the stream's reader,
//! carries out acks and nacks, and on shutdown commits and leaves the group.

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use rdkafka::{
    Message as _, Offset, TopicPartitionList,
    consumer::{Consumer as _, StreamConsumer},
    error::KafkaError,
    message::BorrowedMessage,
};
use switchboard_core::{Envelope, Error, Result};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
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

/// Runs the member until its stream is dropped or the consumer fails for good.
///
/// The consumer is polled all the time, so rebalances are served even while the stream's
/// reader is busy: fetched records wait in a backlog, and once `prefetch` of them wait, each
/// partition that delivers another is paused until the backlog is half drained.
pub(crate) async fn run(
    consumer: Arc<Member>,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    out: mpsc::Sender<Result<Fetched>>,
    prefetch: usize,
) {
    let mut backlog: VecDeque<Result<Fetched>> = VecDeque::new();
    let mut throttled: HashSet<PartitionKey> = HashSet::new();
    let mut resumes: Vec<Resume> = Vec::new();
    let mut closing = None;
    let mut failed = false;
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
            () = tokio::time::sleep_until(next_resume.unwrap_or_else(Instant::now)), if next_resume.is_some() => {
                resume_due(&consumer, &shared, &mut resumes, &throttled);
            }
            reserved = out.reserve(), if !backlog.is_empty() => match reserved {
                Ok(permit) => {
                    permit.send(backlog.pop_front().expect("the backlog is not empty"));
                    if backlog.len() <= prefetch / 2 && !throttled.is_empty() {
                        unthrottle(&consumer, &shared, &mut throttled, &resumes);
                    }
                }
                Err(_closed) => break,
            },
            received = consumer.recv(), if !failed => match received {
                Ok(record) => {
                    if let Some(fetched) = fetched(&shared, &record) {
                        let key = fetched.key.clone();
                        backlog.push_back(Ok(fetched));
                        if backlog.len() >= prefetch && !throttled.contains(&key) {
                            throttle(&consumer, &key);
                            throttled.insert(key);
                        }
                    }
                }
                Err(err @ KafkaError::MessageConsumptionFatal(_)) => {
                    warn!(group = %shared.group, error = %err, "fatal consumer error; the member stops");
                    backlog.push_back(Err(error::map(err)));
                    failed = true;
                }
                // librdkafka recovers from the others by itself (broker down, leader moved…).
                Err(err) => warn!(group = %shared.group, error = %err, "consumer error"),
            },
        }
    }
    let result = shutdown(consumer, shared).await;
    if let Some(reply) = closing {
        let _ = reply.send(result);
    }
}

/// Pauses a partition whose records the reader cannot take yet. A pause drops what librdkafka
/// fetched ahead and resumes after the last record handed to us, so nothing is skipped.
fn throttle(consumer: &Member, key: &PartitionKey) {
    debug!(topic = %key.0, partition = key.1, "backlog full: pausing partition");
    if let Err(err) = partition_list(key, None).and_then(|list| consumer.pause(&list)) {
        warn!(topic = %key.0, partition = key.1, error = %err, "pause for back pressure failed");
    }
}

/// Resumes the throttled partitions that are still ours and not waiting out a nack delay.
fn unthrottle(
    consumer: &Member,
    shared: &Shared,
    throttled: &mut HashSet<PartitionKey>,
    resumes: &[Resume],
) {
    for key in throttled.drain() {
        let nack_pending = resumes.iter().any(|r| r.key == key);
        if nack_pending || shared.tracker().stamp(&key).is_none() {
            continue;
        }
        if let Err(err) = partition_list(&key, None).and_then(|list| consumer.resume(&list)) {
            warn!(topic = %key.0, partition = key.1, error = %err, "resume after back pressure failed");
        }
    }
}

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

/// Records the ack of `offset` and stores the partition's new commit point, if it moved.
///
/// Called by the acker itself, on the reader's thread: librdkafka's offset store is
/// thread-safe, so an ack costs no trip through the member task. The tracker stays locked
/// until the offset is stored, so a revoke (whose commit takes the same lock) sees either
/// the ack and its stored offset, or neither.
pub(crate) fn ack(
    consumer: &Member,
    shared: &Shared,
    key: &PartitionKey,
    generation: u64,
    offset: i64,
) -> Result<()> {
    let mut tracker = shared.tracker();
    match tracker.ack(key, generation, offset) {
        Acked::Advanced(point) => partition_list(key, Some(point))
            .and_then(|list| consumer.store_offsets(&list))
            .map_err(error::map),
        Acked::Held => Ok(()),
        Acked::Stale => {
            debug!(topic = %key.0, partition = key.1, offset, "ack after revoke; the partition's new owner gets the record again");
            Ok(())
        }
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
            if shared.tracker().rewind(&key, stamp, offset) {
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

fn resume_due(
    consumer: &Member,
    shared: &Shared,
    resumes: &mut Vec<Resume>,
    throttled: &HashSet<PartitionKey>,
) {
    let now = Instant::now();
    let (due, later): (Vec<Resume>, Vec<Resume>) = resumes.drain(..).partition(|r| r.at <= now);
    *resumes = later;
    for resume in due {
        // A throttled partition is resumed when the backlog drains.
        if !shared.tracker().is_current(&resume.key, resume.generation)
            || throttled.contains(&resume.key)
        {
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
        // Ackers hold the consumer only while they store an offset: once it is ours alone,
        // later acks find it gone, and the leave below happens on this thread.
        let mut consumer = consumer;
        let consumer = loop {
            match Arc::try_unwrap(consumer) {
                Ok(consumer) => break consumer,
                Err(shared) => {
                    consumer = shared;
                    std::thread::yield_now();
                }
            }
        };
        let points = shared.tracker().uncommitted();
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
