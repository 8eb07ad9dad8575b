//! [`KafkaDeliveries`]: one member's stream of deliveries, and the acker behind each.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use futures::{Stream, future::BoxFuture};
use switchboard_core::{Acknowledge, Delivery, Envelope, Error, Group, Position, Result};
use tokio::sync::{mpsc, oneshot};

use super::{
    member::{self, Command, Fetched},
    queues::Lanes,
    rebalance::Shared,
    tracker::{PartitionKey, Stamp},
};

/// The deliveries of one Kafka consumer-group member, from
/// [`KafkaConsumer::join`](switchboard_core::LogConsumer::join).
///
/// Dropping it commits the acked offsets synchronously and leaves the group (in the
/// background), so the group's next member resumes right after the last acked record.
pub struct KafkaDeliveries {
    pub(super) fetched: mpsc::Receiver<Vec<Result<Fetched>>>,
    /// The rest of the last chunk received.
    pub(super) buffered: VecDeque<Result<Fetched>>,
    /// The readers of the partitions' own queues.
    pub(super) lanes: Lanes,
    pub(super) commands: mpsc::UnboundedSender<Command>,
    pub(super) shared: Arc<Shared>,
}

impl KafkaDeliveries {
    /// The group this member belongs to.
    pub fn group(&self) -> &Group {
        &self.shared.group
    }

    /// Leaves the group gracefully: commits the acked offsets synchronously, leaves, and
    /// reports how the commit went. Dropping the stream does the same in the background.
    ///
    /// An error means the acked offsets since the last successful commit were not committed:
    /// those records will be delivered again to the group's next member.
    pub async fn close(self) -> Result<()> {
        // The partition queues hold the consumer, which the member closes.
        drop(self.lanes);
        let (reply, answered) = oneshot::channel();
        if self.commands.send(Command::Close { reply }).is_err() {
            return Err(Error::Closed);
        }
        answered.await.unwrap_or(Err(Error::Closed))
    }
}

impl std::fmt::Debug for KafkaDeliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaDeliveries")
            .field("group", &self.shared.group)
            .finish_non_exhaustive()
    }
}

impl Stream for KafkaDeliveries {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            // Records of the main queue (rare) and the member's fatal error.
            if let Some(next) = this.buffered.pop_front() {
                let fetched = match next {
                    Err(err) => return Poll::Ready(Some(Err(err))),
                    Ok(fetched) => fetched,
                };
                let attempt =
                    this.shared
                        .tracker()
                        .hand_out(&fetched.key, fetched.stamp, fetched.offset);
                // No attempt: fetched before a revoke or a nack's seek; it comes again.
                if let Some(attempt) = attempt {
                    return Poll::Ready(Some(Ok(this.delivery(
                        fetched.envelope,
                        fetched.key,
                        fetched.stamp,
                        fetched.offset,
                        attempt,
                    ))));
                }
                continue;
            }
            match this.fetched.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => {
                    this.buffered.extend(chunk);
                    continue;
                }
                Poll::Ready(None) => {
                    // The member stopped: let go of the queues, which hold its consumer.
                    this.lanes = Lanes::default();
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            // Taken and handed out under the tracker's lock, which a nack's seek holds too.
            let mut tracker = this.shared.tracker();
            let taken = match ready!(this.lanes.poll_take(&this.shared, cx)) {
                Ok(Some(taken)) => taken,
                Ok(None) => continue,
                Err(err) => {
                    drop(tracker);
                    match member::consumer_error(&this.shared, err) {
                        Some(err) => return Poll::Ready(Some(Err(err))),
                        None => continue,
                    }
                }
            };
            // None: the partition is no longer ours, or the record was acked already.
            let Some((stamp, attempt)) = tracker.hand_out_now(&taken.key, taken.offset) else {
                continue;
            };
            drop(tracker);
            return Poll::Ready(Some(Ok(this.delivery(
                taken.envelope,
                taken.key,
                stamp,
                taken.offset,
                attempt,
            ))));
        }
    }
}

impl KafkaDeliveries {
    fn delivery(
        &self,
        envelope: Envelope,
        key: PartitionKey,
        stamp: Stamp,
        offset: i64,
        attempt: u32,
    ) -> Delivery {
        let position = Position {
            partition: key.1 as u32,
            offset: offset as u64,
        };
        let acker = KafkaAck {
            commands: self.commands.clone(),
            shared: self.shared.clone(),
            key,
            stamp,
            offset,
        };
        Delivery::new("kafka", envelope, position, attempt, acker)
    }
}

/// Settles one delivery: an ack is recorded at once (the member task stores the offsets), a
/// nack goes to the member task.
struct KafkaAck {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    key: PartitionKey,
    stamp: Stamp,
    offset: i64,
}

impl KafkaAck {
    fn nack_command(self, delay: Duration, reply: Option<oneshot::Sender<Result<()>>>) -> bool {
        self.commands
            .send(Command::Nack {
                key: self.key,
                stamp: self.stamp,
                offset: self.offset,
                delay,
                reply,
            })
            .is_ok()
    }
}

/// The member left the group: the record goes to another member, this settle changes nothing.
async fn answer(sent: bool, reply: oneshot::Receiver<Result<()>>) -> Result<()> {
    if !sent {
        return Err(Error::Closed);
    }
    reply.await.unwrap_or(Err(Error::Closed))
}

impl Acknowledge for KafkaAck {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        let result = member::ack(&self.shared, &self.key, self.stamp.generation, self.offset);
        Box::pin(std::future::ready(result))
    }

    fn nack(self: Box<Self>, delay: Duration) -> BoxFuture<'static, Result<()>> {
        let (reply, answered) = oneshot::channel();
        let sent = self.nack_command(delay, Some(reply));
        Box::pin(answer(sent, answered))
    }

    fn abandon(self: Box<Self>) {
        self.nack_command(Duration::ZERO, None);
    }
}
