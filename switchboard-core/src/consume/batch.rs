use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use tower::{Layer, Service, ServiceExt};

use super::{Incoming, Outcome, ordered::Hold};
use crate::{BoxError, Error, Topic, layer::Backoff, report};

/// Records per batch unless told otherwise.
pub const DEFAULT_BATCH_RECORDS: usize = 500;
/// How long a batch waits for more records after its first, unless told otherwise.
pub const DEFAULT_BATCH_LINGER: Duration = Duration::from_millis(2);

/// Works deliveries in batches: a service over `Vec<Incoming>` (one bulk insert, then
/// publishes) called with up to `max_records` deliveries of one partition at a time.
///
/// - Each partition of each topic is a lane: its deliveries go into batches in delivery
///   order, and a lane runs one batch at a time, so a partition's messages (and so each
///   key's) are worked in order; different partitions run in parallel.
/// - A batch takes the deliveries that are waiting, and waits at most `linger` after its
///   first for more; while a batch runs, the next one fills.
/// - The inner service answers one outcome per delivery, in order. If it fails, every
///   delivery of the batch answers [`Outcome::Redeliver`] after a [`Backoff`] on the highest
///   attempt among them. From the first delivery that is not acked, the rest of its batch is
///   redelivered too, and the lane holds back its later deliveries until that one comes
///   again (at most its delay plus 30 s), as [`KeyOrderLayer`](super::KeyOrderLayer) does
///   for a key.
///
/// Put it right under the [`Router`](super::Router) and give the router room for a few
/// batches of every partition with [`Router::with_max_in_flight`](super::Router::with_max_in_flight):
/// each call waits for its batch, so the calls in flight bound the batches' size. It spawns a
/// task per lane on the Tokio runtime; the tasks end when the service is dropped.
///
/// ```
/// use std::time::Duration;
/// use switchboard_core::{
///     consume::{BatchLayer, Incoming, Outcome, Router},
///     mem::MemLog,
///     Envelope, Error, Group, LogProducer, Subject,
/// };
/// use tower::{ServiceBuilder, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let log = MemLog::new();
/// let orders = Subject::new("orders")?;
/// for n in 0..100 {
///     log.append(Envelope::new(orders.clone(), format!("order {n}"))).await?;
/// }
/// let (sizes, mut batches) = tokio::sync::mpsc::unbounded_channel();
/// let store = service_fn(move |batch: Vec<Incoming>| {
///     sizes.send(batch.len()).ok(); // one bulk write for the whole batch
///     async move { Ok::<_, Error>(vec![Outcome::Handled; batch.len()]) }
/// });
/// let service = ServiceBuilder::new()
///     .layer(BatchLayer::new(50, Duration::from_millis(5)))
///     .service(store);
/// let stopped = async move {
///     let mut handled = 0;
///     while handled < 100 {
///         handled += batches.recv().await.unwrap();
///     }
/// };
/// let stats = Router::new(service)
///     .with_max_in_flight(200)
///     .consume(&log, &Group::new("billing")?, &[orders], stopped)
///     .await?;
/// assert_eq!(stats.handled, 100);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BatchLayer {
    max_records: usize,
    linger: Duration,
    backoff: Backoff,
}

impl BatchLayer {
    /// Batches of at most `max_records` (at least 1), each waiting at most `linger` for more
    /// after its first; a failed batch is redelivered after `Backoff::new(1 s)`.
    pub fn new(max_records: usize, linger: Duration) -> Self {
        BatchLayer {
            max_records: max_records.max(1),
            linger,
            backoff: Backoff::new(Duration::from_secs(1)),
        }
    }

    /// The redelivery delay of a failed batch.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

impl Default for BatchLayer {
    fn default() -> Self {
        BatchLayer::new(DEFAULT_BATCH_RECORDS, DEFAULT_BATCH_LINGER)
    }
}

impl<S> Layer<S> for BatchLayer {
    type Service = Batch<S>;
    fn layer(&self, inner: S) -> Batch<S> {
        Batch {
            inner,
            settings: *self,
            lanes: Arc::default(),
        }
    }
}

/// One delivery waiting in its lane, and where its outcome goes.
type Waiting = (Incoming, oneshot::Sender<Outcome>);

/// Each lane's queue, by topic and partition.
type Lanes = HashMap<(Topic, u32), mpsc::UnboundedSender<Waiting>>;

/// The service made by [`BatchLayer`].
#[derive(Clone, Debug)]
pub struct Batch<S> {
    inner: S,
    settings: BatchLayer,
    lanes: Arc<Mutex<Lanes>>,
}

impl<S, R> Service<Incoming> for Batch<S>
where
    S: Service<Vec<Incoming>, Response = Vec<R>> + Clone + Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    S::Future: Send,
    R: Into<Outcome> + Send + 'static,
{
    type Response = Outcome;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Outcome, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Each lane awaits the inner service's readiness before its batch.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Incoming) -> Self::Future {
        let (answer, answered) = oneshot::channel();
        let lane = (req.topic().clone(), req.position().partition);
        let mut waiting = (req, answer);
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queue) = lanes.get(&lane) {
            match queue.send(waiting) {
                Ok(()) => return Box::pin(answer_of(answered)),
                // The lane's task is gone (the inner service panicked): start it afresh.
                Err(mpsc::error::SendError(back)) => waiting = back,
            }
        }
        let (queue, lane_waiting) = mpsc::unbounded_channel();
        tokio::spawn(run_lane(self.inner.clone(), lane_waiting, self.settings));
        // The task holds the receiver until the queue is dropped: this send cannot fail.
        let _ = queue.send(waiting);
        lanes.insert(lane, queue);
        Box::pin(answer_of(answered))
    }
}

/// A delivery's outcome, once its batch is done; a lane that vanished is an error, and the
/// router nacks the delivery.
async fn answer_of(answered: oneshot::Receiver<Outcome>) -> Result<Outcome, Error> {
    answered.await.map_err(|_| Error::Closed)
}

/// Works one lane's deliveries, batch after batch, until the service is dropped.
async fn run_lane<S, R>(
    mut inner: S,
    mut waiting: mpsc::UnboundedReceiver<Waiting>,
    settings: BatchLayer,
) where
    S: Service<Vec<Incoming>, Response = Vec<R>>,
    S::Error: Into<BoxError>,
    R: Into<Outcome>,
{
    let mut hold: Option<Hold> = None;
    while let Some(first) = waiting.recv().await {
        let mut batch = Vec::with_capacity(settings.max_records);
        admit(first, &mut hold, &mut batch);
        let deadline = Instant::now() + settings.linger;
        while batch.len() < settings.max_records {
            let next = match waiting.try_recv() {
                Ok(next) => next,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, waiting.recv()).await {
                        Ok(Some(next)) => next,
                        Ok(None) | Err(_) => break,
                    }
                }
            };
            admit(next, &mut hold, &mut batch);
        }
        if !batch.is_empty() {
            work(&mut inner, batch, &mut hold, settings.backoff).await;
        }
    }
}

/// Adds a delivery to the batch, unless the lane holds it back behind a failed one.
fn admit((req, answer): Waiting, hold: &mut Option<Hold>, batch: &mut Vec<Waiting>) {
    if let Some(held) = hold {
        if held.holds_back(&req) {
            let _ = answer.send(Outcome::Redeliver { after: held.after });
            return;
        }
        if held.ends_with(&req) {
            *hold = None;
        }
    }
    batch.push((req, answer));
}

/// Calls the inner service with one batch and answers each delivery of it.
async fn work<S, R>(inner: &mut S, batch: Vec<Waiting>, hold: &mut Option<Hold>, backoff: Backoff)
where
    S: Service<Vec<Incoming>, Response = Vec<R>>,
    S::Error: Into<BoxError>,
    R: Into<Outcome>,
{
    let (requests, answers): (Vec<Incoming>, Vec<_>) = batch.into_iter().unzip();
    let positions: Vec<_> = requests.iter().map(Incoming::position).collect();
    let attempt = requests.iter().map(Incoming::attempt).max().unwrap_or(1);
    let topic = requests[0].topic().clone();
    let count = requests.len();
    let result = match inner.ready().await {
        Ok(ready) => ready.call(requests).await,
        Err(err) => Err(err),
    };
    let outcomes: Vec<Outcome> = match result {
        Ok(outcomes) if outcomes.len() == count => outcomes.into_iter().map(Into::into).collect(),
        failed => {
            let err: BoxError = match failed {
                Err(err) => err.into(),
                Ok(outcomes) => {
                    format!("{} outcomes for {count} deliveries", outcomes.len()).into()
                }
            };
            let after = backoff.delay(attempt.saturating_sub(1));
            tracing::warn!(
                topic = %topic, partition = positions[0].partition, offset = positions[0].offset,
                records = count, attempt, after_ms = after.as_millis() as u64,
                error = %report(err.as_ref()), "batch failed; redelivering it after a backoff"
            );
            vec![Outcome::Redeliver { after }; count]
        }
    };
    // From the first delivery not acked, the rest of the batch comes again after it.
    let mut redeliver = None;
    for ((outcome, answer), position) in outcomes.into_iter().zip(answers).zip(&positions) {
        let outcome = match (redeliver, outcome) {
            (Some(after), _) => Outcome::Redeliver { after },
            (None, Outcome::Redeliver { after }) => {
                redeliver = Some(after);
                *hold = Some(Hold::new(*position, after));
                Outcome::Redeliver { after }
            }
            (None, outcome) => outcome,
        };
        let _ = answer.send(outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tower::service_fn;

    use super::*;
    use crate::{Envelope, Group, LogProducer, Subject, consume::Router, mem::MemLog};

    #[tokio::test]
    async fn a_lane_whose_service_panicked_starts_afresh() {
        let log = MemLog::new();
        let topic = Subject::new("orders").unwrap();
        log.append(Envelope::new(topic.clone(), "1")).await.unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let (done, mut handled) = mpsc::unbounded_channel();
        let counter = calls.clone();
        let service =
            BatchLayer::new(8, Duration::ZERO).layer(service_fn(move |batch: Vec<Incoming>| {
                let (call, done) = (counter.fetch_add(1, Ordering::SeqCst), done.clone());
                async move {
                    assert!(call > 0, "the first batch panics");
                    done.send(()).unwrap();
                    Ok::<_, Error>(vec![Outcome::Handled; batch.len()])
                }
            }));
        let stopped = async move {
            handled.recv().await;
        };
        let router = Router::new(service).with_failure_delay(Duration::from_millis(10));
        let stats = tokio::time::timeout(
            Duration::from_secs(10),
            router.consume(&log, &Group::new("g").unwrap(), &[topic], stopped),
        )
        .await
        .expect("the delivery handled after the panic")
        .unwrap();
        assert_eq!((stats.failed, stats.handled), (1, 1), "{stats:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
