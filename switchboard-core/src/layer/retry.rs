use std::{
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use super::Backoff;
use crate::error::Transient;

/// Retries calls that fail with a transient error, with exponential backoff and jitter.
///
/// Only errors whose [`Transient::is_transient`] is `true` are retried; bad input and other
/// permanent failures return at once. The request must be `Clone`.
#[derive(Clone, Copy, Debug)]
pub struct RetryLayer {
    max_retries: u32,
    backoff: Backoff,
}

impl RetryLayer {
    /// At most `max_retries` retries, the first after about `base`, doubling each time.
    pub fn new(max_retries: u32, base: Duration) -> Self {
        RetryLayer {
            max_retries,
            backoff: Backoff::new(base),
        }
    }

    /// Caps the delay between two attempts.
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.backoff = self.backoff.with_max_delay(max_delay);
        self
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;
    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner,
            policy: *self,
        }
    }
}

/// The service made by [`RetryLayer`].
#[derive(Clone, Debug)]
pub struct Retry<S> {
    inner: S,
    policy: RetryLayer,
}

impl<S, Req> Service<Req> for Retry<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Transient + Send,
    S::Response: Send,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The ready service goes into the future; `self` keeps a fresh clone (tower's idiom).
        let clone = self.inner.clone();
        let mut svc = std::mem::replace(&mut self.inner, clone);
        let policy = self.policy;
        Box::pin(async move {
            let mut result = svc.call(req.clone()).await;
            for retry in 0..policy.max_retries {
                if !matches!(&result, Err(err) if err.is_transient()) {
                    break;
                }
                let delay = policy.backoff.delay(retry);
                tracing::debug!(
                    retry = retry + 1,
                    delay_ms = delay.as_millis() as u64,
                    "retrying transient error"
                );
                tokio::time::sleep(delay).await;
                result = match svc.ready().await {
                    Ok(ready) => ready.call(req.clone()).await,
                    Err(err) => Err(err),
                };
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, InvalidInput};
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };
    use tower::service_fn;

    fn flaky(
        fail_times: u32,
        make_err: fn() -> Error,
    ) -> (
        impl Service<(), Response = u32, Error = Error, Future: Send> + Clone + Send,
        Arc<AtomicU32>,
    ) {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let svc = service_fn(move |_: ()| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n <= fail_times {
                    Err(make_err())
                } else {
                    Ok(n)
                }
            }
        });
        (svc, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_until_success() {
        let (svc, calls) = flaky(2, || Error::Timeout {
            after: Duration::from_millis(1),
        });
        let out = RetryLayer::new(3, Duration::from_millis(10))
            .layer(svc)
            .oneshot(())
            .await
            .unwrap();
        assert_eq!(out, 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries() {
        let (svc, calls) = flaky(10, || Error::Timeout {
            after: Duration::from_millis(1),
        });
        let err = RetryLayer::new(2, Duration::from_millis(10))
            .layer(svc)
            .oneshot(())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let (svc, calls) = flaky(10, || InvalidInput::Empty { what: "subject" }.into());
        let err = RetryLayer::new(5, Duration::from_millis(10))
            .layer(svc)
            .oneshot(())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
