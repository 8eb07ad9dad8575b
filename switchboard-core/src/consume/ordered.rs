use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::{sync::oneshot, time::Instant};
use tower::{Layer, Service, ServiceExt};

use super::{Incoming, Outcome, router::DEFAULT_FAILURE_DELAY};
use crate::{Position, Topic};

/// How long a key stays held back for a failed message that has not come back by then
/// (beyond its redelivery delay): it may have gone to another member of the group.
const HOLD_GRACE: Duration = Duration::from_secs(30);

/// Per-key ordered concurrency: calls for different keys run in parallel, calls for the same
/// key one after another, in the order they were made.
///
/// The key is the envelope's key within its topic; a message without a key is ordered with
/// the others of its partition, as the log stores them. If a call does not end in an ack
/// (an error or [`Outcome::Redeliver`]), the calls queued behind it on the same key are not
/// made: they answer [`Outcome::Redeliver`] with the same delay, so the key's messages come
/// again in order. Until the failed message comes back (at most its delay plus 30 s), later
/// messages of its key are held back the same way, for logs that redeliver a nacked message
/// alone (JetStream) rather than rewinding its partition (Kafka, the in-memory log). Put it outermost, right under the [`Router`](super::Router), and give the
/// router room with [`Router::with_max_in_flight`](super::Router::with_max_in_flight).
#[derive(Clone, Copy, Debug)]
pub struct KeyOrderLayer {
    failure_delay: Duration,
}

impl KeyOrderLayer {
    /// Orders calls by key; a failed call holds back its key's queue for
    /// [`DEFAULT_FAILURE_DELAY`], the router's default.
    pub fn new() -> Self {
        KeyOrderLayer {
            failure_delay: DEFAULT_FAILURE_DELAY,
        }
    }

    /// The redelivery delay of calls queued behind one that failed with an error; match the
    /// router's [`Router::with_failure_delay`](super::Router::with_failure_delay).
    pub fn with_failure_delay(mut self, delay: Duration) -> Self {
        self.failure_delay = delay;
        self
    }
}

impl Default for KeyOrderLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for KeyOrderLayer {
    type Service = KeyOrder<S>;
    fn layer(&self, inner: S) -> KeyOrder<S> {
        KeyOrder {
            inner,
            lanes: Arc::default(),
            failure_delay: self.failure_delay,
        }
    }
}

/// Where a message's order is kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LaneKey {
    Key(Topic, Arc<str>),
    Partition(Topic, u32),
}

impl LaneKey {
    fn of(req: &Incoming) -> Self {
        match req.envelope().key() {
            Some(key) => LaneKey::Key(req.topic().clone(), Arc::from(key)),
            None => LaneKey::Partition(req.topic().clone(), req.position().partition),
        }
    }
}

/// How a call ended, as the next call of its key learns it: `None` if acked, else the
/// redelivery delay.
type Done = Option<Duration>;

/// A key (or a batch's partition) whose message at `failed` did not go through: later
/// messages wait for it.
#[derive(Debug)]
pub(super) struct Hold {
    failed: Position,
    pub(super) after: Duration,
    until: Instant,
}

impl Hold {
    /// Holds back what follows `failed` until it comes again after `after`, or for at most
    /// `after` plus [`HOLD_GRACE`].
    pub(super) fn new(failed: Position, after: Duration) -> Self {
        Hold {
            failed,
            after,
            until: Instant::now() + after + HOLD_GRACE,
        }
    }

    /// Whether `req` must wait for the failed message: it comes later in the same partition.
    pub(super) fn holds_back(&self, req: &Incoming) -> bool {
        let at = req.position();
        Instant::now() < self.until
            && at.partition == self.failed.partition
            && at.offset > self.failed.offset
    }

    /// Whether `req` is the failed message come back, or the hold has run out.
    pub(super) fn ends_with(&self, req: &Incoming) -> bool {
        req.position() == self.failed || Instant::now() >= self.until
    }
}

/// The last call of each key (its ticket and the signal it sends when done), and the keys
/// held back behind a failed message.
#[derive(Debug, Default)]
struct Lanes {
    next_ticket: u64,
    tails: HashMap<LaneKey, (u64, oneshot::Receiver<Done>)>,
    holds: HashMap<LaneKey, Hold>,
}

/// The service made by [`KeyOrderLayer`].
#[derive(Clone, Debug)]
pub struct KeyOrder<S> {
    inner: S,
    lanes: Arc<Mutex<Lanes>>,
    failure_delay: Duration,
}

impl<S> Service<Incoming> for KeyOrder<S>
where
    S: Service<Incoming> + Clone + Send + 'static,
    S::Response: Into<Outcome>,
    S::Error: Send,
    S::Future: Send,
{
    type Response = Outcome;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Outcome, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Incoming) -> Self::Future {
        let clone = self.inner.clone();
        let mut svc = std::mem::replace(&mut self.inner, clone);
        let lane = LaneKey::of(&req);
        let (done_tx, done_rx) = oneshot::channel();
        // The queue position is taken now, in call order, not when the future first runs.
        let (ticket, before) = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            match lanes.holds.get(&lane) {
                Some(hold) if hold.holds_back(&req) => {
                    let after = hold.after;
                    return Box::pin(async move { Ok(Outcome::Redeliver { after }) });
                }
                // The failed message is back (or the hold ran out): the key goes on.
                Some(hold) if hold.ends_with(&req) => drop(lanes.holds.remove(&lane)),
                _ => {}
            }
            let ticket = lanes.next_ticket;
            lanes.next_ticket += 1;
            let before = lanes.tails.insert(lane.clone(), (ticket, done_rx));
            (ticket, before.map(|(_, rx)| rx))
        };
        let lanes = self.lanes.clone();
        let failure_delay = self.failure_delay;
        let position = req.position();
        Box::pin(async move {
            let held_back = match before {
                // A predecessor that vanished without a word is treated as failed.
                Some(rx) => rx.await.unwrap_or(Some(failure_delay)),
                None => None,
            };
            let result = match held_back {
                Some(after) => Ok(Outcome::Redeliver { after }),
                None => svc.ready().await?.call(req).await.map(Into::into),
            };
            let done = match &result {
                Ok(outcome) if outcome.is_ack() => None,
                Ok(Outcome::Redeliver { after }) => Some(*after),
                _ => Some(failure_delay),
            };
            {
                let mut lanes = lanes.lock().unwrap_or_else(|p| p.into_inner());
                if lanes.tails.get(&lane).is_some_and(|(t, _)| *t == ticket) {
                    lanes.tails.remove(&lane);
                }
                if let (None, Some(after)) = (held_back, done) {
                    lanes.holds.insert(lane, Hold::new(position, after));
                }
            }
            let _ = done_tx.send(done);
            result
        })
    }
}
