use std::{
    future::{Future, poll_fn},
    pin::pin,
    task::Poll,
    time::Duration,
};

use futures::{Stream, StreamExt, stream::FuturesUnordered};
use tower::Service;

use super::{Incoming, Outcome};
use crate::{BoxError, Delivery, Error, Group, LogConsumer, Result, Topic, report};

/// The nack delay of a delivery whose service failed with an error no layer turned into an
/// [`Outcome`].
pub const DEFAULT_FAILURE_DELAY: Duration = Duration::from_secs(1);

/// Runs a tower [`Service`] over a durable log's deliveries and settles each from its answer.
///
/// - `Ok(outcome)` acks, unless the outcome is [`Outcome::Redeliver`], which nacks with its
///   delay.
/// - `Err(_)` nacks after [`Router::with_failure_delay`] (default
///   [`DEFAULT_FAILURE_DELAY`]) and logs the error; layers such as
///   [`DeadLetterLayer`](super::DeadLetterLayer) and [`RedeliverLayer`](super::RedeliverLayer)
///   decide otherwise.
/// - Up to [`Router::with_max_in_flight`] calls run at once (default 1: one at a time, in
///   delivery order). Raise it together with [`KeyOrderLayer`](super::KeyOrderLayer) to work
///   different keys in parallel and each key in order. The service's `poll_ready` is awaited
///   before each delivery is taken, so a `tower::limit::ConcurrencyLimitLayer` or any other
///   back-pressure holds deliveries in the log.
/// - When `shutdown` resolves, no further delivery is taken; the calls in flight finish and
///   are settled, then [`Router::run`] returns (and dropping the stream leaves the group).
#[derive(Clone, Debug)]
pub struct Router<S> {
    service: S,
    max_in_flight: usize,
    failure_delay: Duration,
}

/// How many deliveries a [`Router`] settled, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Acked after the service handled them.
    pub handled: u64,
    /// Acked as duplicates.
    pub duplicates: u64,
    /// Acked after going to the dead-letter destination.
    pub dead_lettered: u64,
    /// Nacked by an [`Outcome::Redeliver`].
    pub redelivered: u64,
    /// Nacked because the service failed.
    pub failed: u64,
}

impl RouterStats {
    fn count(&mut self, settled: Settled) {
        let counter = match settled {
            Settled::Answered(Outcome::Handled) => &mut self.handled,
            Settled::Answered(Outcome::Duplicate) => &mut self.duplicates,
            Settled::Answered(Outcome::DeadLettered) => &mut self.dead_lettered,
            Settled::Answered(Outcome::Redeliver { .. }) => &mut self.redelivered,
            Settled::Failed => &mut self.failed,
        };
        *counter += 1;
    }
}

#[derive(Clone, Copy)]
enum Settled {
    Answered(Outcome),
    Failed,
}

impl<S> Router<S>
where
    S: Service<Incoming> + Send,
    S::Response: Into<Outcome>,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    /// A router calling `service` for each delivery.
    pub fn new(service: S) -> Self {
        Router {
            service,
            max_in_flight: 1,
            failure_delay: DEFAULT_FAILURE_DELAY,
        }
    }

    /// Runs at most `max` calls at once (at least 1).
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// The nack delay after a failed call.
    pub fn with_failure_delay(mut self, delay: Duration) -> Self {
        self.failure_delay = delay;
        self
    }

    /// Joins `group` on `topics` and runs until `shutdown` resolves.
    pub async fn consume<C: LogConsumer>(
        self,
        consumer: &C,
        group: &Group,
        topics: &[Topic],
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RouterStats> {
        let deliveries = consumer.join(group, topics).await?;
        tracing::info!(group = %group, topics = ?topics, "router joined");
        let stats = self.run(deliveries, shutdown).await?;
        tracing::info!(group = %group, ?stats, "router stopped");
        Ok(stats)
    }

    /// Handles `deliveries` until the stream ends or `shutdown` resolves, then settles the
    /// calls in flight. A stream error other than [`Error::Closed`] is logged and skipped.
    pub async fn run<D>(
        mut self,
        mut deliveries: D,
        shutdown: impl Future<Output = ()>,
    ) -> Result<RouterStats>
    where
        D: Stream<Item = Result<Delivery>> + Unpin,
    {
        let mut shutdown = pin!(shutdown);
        let mut in_flight = FuturesUnordered::new();
        let mut stats = RouterStats::default();
        let (mut stopping, mut ready) = (false, false);
        poll_fn(|cx| {
            loop {
                while let Poll::Ready(Some(settled)) = in_flight.poll_next_unpin(cx) {
                    stats.count(settled);
                }
                if !stopping && shutdown.as_mut().poll(cx).is_ready() {
                    stopping = true;
                }
                if stopping {
                    return if in_flight.is_empty() {
                        Poll::Ready(Ok(stats))
                    } else {
                        Poll::Pending
                    };
                }
                if in_flight.len() >= self.max_in_flight {
                    return Poll::Pending;
                }
                if !ready {
                    match self.service.poll_ready(cx) {
                        Poll::Ready(Ok(())) => ready = true,
                        Poll::Ready(Err(err)) => {
                            return Poll::Ready(Err(Error::backend(err.into())));
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                match deliveries.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(delivery))) => {
                        ready = false;
                        let call = self.service.call(Incoming::of(&delivery));
                        in_flight.push(settle(call, delivery, self.failure_delay));
                    }
                    Poll::Ready(Some(Err(Error::Closed))) => {
                        return Poll::Ready(Err(Error::Closed));
                    }
                    Poll::Ready(Some(Err(err))) => {
                        tracing::warn!(error = %report(&err), "consumer error");
                    }
                    Poll::Ready(None) => stopping = true,
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }
}

/// Awaits the call, then acks or nacks `delivery` from its answer.
async fn settle<F, R, E>(call: F, delivery: Delivery, failure_delay: Duration) -> Settled
where
    F: Future<Output = Result<R, E>>,
    R: Into<Outcome>,
    E: Into<BoxError>,
{
    let (topic, position, attempt) = (
        delivery.envelope().subject().clone(),
        delivery.position(),
        delivery.attempt(),
    );
    let (settled, result) = match call.await {
        Ok(answer) => match answer.into() {
            Outcome::Redeliver { after } => (
                Settled::Answered(Outcome::Redeliver { after }),
                delivery.nack(after).await,
            ),
            outcome => (Settled::Answered(outcome), delivery.ack().await),
        },
        Err(err) => {
            let err: BoxError = err.into();
            tracing::warn!(
                topic = %topic, partition = position.partition, offset = position.offset,
                attempt, error = %report(err.as_ref()),
                "delivery failed; it will be redelivered"
            );
            (Settled::Failed, delivery.nack(failure_delay).await)
        }
    };
    if let Err(err) = result {
        tracing::warn!(
            topic = %topic, partition = position.partition, offset = position.offset,
            error = %report(&err), "settling a delivery failed; the log will deliver it again"
        );
    }
    settled
}
