use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower::{Layer, Service};

use super::{Incoming, Outcome};
use crate::{BoxError, layer::Backoff, report};

/// Retry by nack delay: a failed call answers [`Outcome::Redeliver`] with a delay growing by
/// [`Backoff`] with the delivery's attempt, so the log brings the message back later instead
/// of the consumer waiting in place (for that, use [`RetryLayer`](crate::layer::RetryLayer)).
///
/// Every error is turned into a redelivery; put a [`DeadLetterLayer`](super::DeadLetterLayer)
/// inside it to stop after some attempts.
#[derive(Clone, Copy, Debug)]
pub struct RedeliverLayer {
    backoff: Backoff,
}

impl RedeliverLayer {
    /// Redelivers after `backoff.delay(attempt - 1)`.
    pub fn new(backoff: Backoff) -> Self {
        RedeliverLayer { backoff }
    }
}

impl<S> Layer<S> for RedeliverLayer {
    type Service = Redeliver<S>;
    fn layer(&self, inner: S) -> Redeliver<S> {
        Redeliver {
            inner,
            backoff: self.backoff,
        }
    }
}

/// The service made by [`RedeliverLayer`].
#[derive(Clone, Debug)]
pub struct Redeliver<S> {
    inner: S,
    backoff: Backoff,
}

impl<S> Service<Incoming> for Redeliver<S>
where
    S: Service<Incoming>,
    S::Response: Into<Outcome>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Outcome;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Outcome, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Incoming) -> Self::Future {
        let (topic, position, attempt) = (req.topic().clone(), req.position(), req.attempt());
        let after = self.backoff.delay(attempt.saturating_sub(1));
        let call = self.inner.call(req);
        Box::pin(async move {
            match call.await {
                Ok(answer) => Ok(answer.into()),
                Err(err) => {
                    let err: BoxError = err.into();
                    tracing::warn!(
                        topic = %topic, partition = position.partition, offset = position.offset,
                        attempt, after_ms = after.as_millis() as u64, error = %report(err.as_ref()),
                        "delivery failed; redelivering after a backoff"
                    );
                    Ok(Outcome::Redeliver { after })
                }
            }
        })
    }
}
