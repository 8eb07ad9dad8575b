use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use super::{Incoming, Outcome};
use crate::{Error, Key, KeyValue, report};

/// Skips messages whose envelope id was handled within a window, remembered in a
/// [`KeyValue`] (shared by every member of a group when it is Redis or JetStream KV).
///
/// Before the call, `seen:<envelope id>` is looked up: if present the answer is
/// [`Outcome::Duplicate`] and the inner service is not called. After an answer that acks,
/// the id is stored with the window as TTL. So a redelivery, or a producer's re-send with
/// the same id, is worked once while the window lasts. Copies arriving at the same time can
/// both pass; stack it inside [`KeyOrderLayer`](super::KeyOrderLayer) so that copies with one
/// key run one after the other. A failing lookup fails the call (it is redelivered); a
/// failing write after the work is logged, as the work is done.
#[derive(Clone, Debug)]
pub struct DedupeLayer<K> {
    seen: Arc<K>,
    window: Duration,
}

impl<K: KeyValue> DedupeLayer<K> {
    /// Remembers handled ids in `seen` for `window`.
    pub fn new(seen: K, window: Duration) -> Self {
        DedupeLayer {
            seen: Arc::new(seen),
            window,
        }
    }
}

impl<S, K> Layer<S> for DedupeLayer<K> {
    type Service = Dedupe<S, K>;
    fn layer(&self, inner: S) -> Dedupe<S, K> {
        Dedupe {
            inner,
            seen: self.seen.clone(),
            window: self.window,
        }
    }
}

/// The service made by [`DedupeLayer`].
#[derive(Debug)]
pub struct Dedupe<S, K> {
    inner: S,
    seen: Arc<K>,
    window: Duration,
}

impl<S: Clone, K> Clone for Dedupe<S, K> {
    fn clone(&self) -> Self {
        Dedupe {
            inner: self.inner.clone(),
            seen: self.seen.clone(),
            window: self.window,
        }
    }
}

/// The key remembering one envelope id.
fn seen_key(req: &Incoming) -> Result<Key, Error> {
    Ok(Key::new(format!("seen:{}", req.envelope().id()))?)
}

impl<S, K> Service<Incoming> for Dedupe<S, K>
where
    S: Service<Incoming> + Clone + Send + 'static,
    S::Response: Into<Outcome>,
    S::Error: From<Error> + Send,
    S::Future: Send,
    K: KeyValue + 'static,
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
        let (seen, window) = (self.seen.clone(), self.window);
        Box::pin(async move {
            let key = seen_key(&req)?;
            if seen.get(&key).await?.is_some() {
                tracing::debug!(message_id = %req.envelope().id(), "duplicate skipped");
                return Ok(Outcome::Duplicate);
            }
            let outcome: Outcome = svc.ready().await?.call(req).await?.into();
            if outcome.is_ack()
                && let Err(err) = seen.set(&key, Bytes::from_static(b"1"), Some(window)).await
            {
                tracing::warn!(error = %report(&err), key = key.as_str(), "remembering a handled id failed");
            }
            Ok(outcome)
        })
    }
}
