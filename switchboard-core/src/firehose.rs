//! The firehose: every service's typed events on one subject, [`FIREHOSE_SUBJECT`].
//!
//! [`Firehose::spawn`] starts a background task that publishes events; [`Firehose::emit`] hands
//! it one without waiting. A full queue or a failing transport drops the event and counts it:
//! the firehose never blocks and never fails the work it observes. [`FirehoseLayer`] taps any
//! `tower::Service` and emits one event per call.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use metrics::Counter;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower::{Layer, Service};

use crate::{Envelope, Publisher, Subject};

/// The subject every service emits firehose events to.
pub const FIREHOSE_SUBJECT: &str = "switchboard.firehose";

/// One firehose event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirehoseEvent {
    /// What it is about: a short lowercase name the application chooses (`kafka`, `system`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The service that emitted it.
    pub service: String,
    /// What happened (`request`, `produce`, `insert`…).
    pub action: String,
    /// Details.
    pub payload: Value,
    /// When it happened.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Counters {
    emitted: AtomicU64,
    dropped: AtomicU64,
    /// [`metric::FIREHOSE_EVENTS`](crate::metric::FIREHOSE_EVENTS) of each type, registered at
    /// its first event: a service emits a handful of types, and building the metric's key per
    /// event cost more than queueing it.
    by_kind: Mutex<Vec<(Box<str>, Counter)>>,
}

impl Counters {
    fn count_kind(&self, kind: &str) {
        let mut by_kind = self
            .by_kind
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match by_kind.iter().find(|(known, _)| &**known == kind) {
            Some((_, counter)) => counter.increment(1),
            None => {
                let counter = crate::metric::firehose_events_counter(kind);
                counter.increment(1);
                by_kind.push((kind.into(), counter));
            }
        }
    }
}

/// Events the publishing task takes off its queue at once.
const BATCH: usize = 64;

/// Publishes `msg`, giving up after [`Firehose::PUBLISH_TIMEOUT`]. A publish that completes at
/// its first poll (most do: the transport queues it) sets no timer.
async fn publish<P: Publisher>(
    publisher: &P,
    msg: Envelope,
) -> std::result::Result<crate::Result<()>, tokio::time::error::Elapsed> {
    let mut publishing = std::pin::pin!(publisher.publish(msg));
    if let Poll::Ready(done) = futures::poll!(publishing.as_mut()) {
        return Ok(done);
    }
    tokio::time::timeout(Firehose::PUBLISH_TIMEOUT, publishing).await
}

/// A cheap, cloneable handle that emits firehose events for one service.
#[derive(Clone, Debug)]
pub struct Firehose {
    tx: Option<mpsc::Sender<FirehoseEvent>>,
    service: Arc<str>,
    counters: Arc<Counters>,
}

impl Firehose {
    /// The default queue bound.
    pub const DEFAULT_CAPACITY: usize = 1024;
    /// How long one publish may take before its event is dropped.
    pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

    /// Starts publishing `service`'s events through `publisher`, queueing at most `capacity`.
    /// Must be called inside a Tokio runtime.
    pub fn spawn<P: Publisher + 'static>(publisher: P, service: &str, capacity: usize) -> Firehose {
        let (tx, mut rx) = mpsc::channel::<FirehoseEvent>(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task_counters = counters.clone();
        let subject = Subject::new(FIREHOSE_SUBJECT).expect("firehose subject is valid");
        tokio::spawn(async move {
            let mut events = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut events, BATCH).await > 0 {
                for event in events.drain(..) {
                    let published = match Envelope::json(subject.clone(), &event) {
                        Ok(msg) => publish(&publisher, msg).await,
                        Err(err) => Ok(Err(err)),
                    };
                    match published {
                        Ok(Ok(())) => task_counters.emitted.fetch_add(1, Ordering::Relaxed),
                        Ok(Err(err)) => {
                            tracing::debug!(error = %crate::report(&err), "firehose publish failed; event dropped");
                            crate::metric::count(crate::metric::FIREHOSE_DROPPED, 1);
                            task_counters.dropped.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => {
                            tracing::debug!("firehose publish timed out; event dropped");
                            crate::metric::count(crate::metric::FIREHOSE_DROPPED, 1);
                            task_counters.dropped.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }
        });
        Firehose {
            tx: Some(tx),
            service: Arc::from(service),
            counters,
        }
    }

    /// A firehose that emits nothing (every event counts as dropped).
    pub fn disabled(service: &str) -> Firehose {
        Firehose {
            tx: None,
            service: Arc::from(service),
            counters: Arc::default(),
        }
    }

    /// The service name events carry.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Whether events go anywhere; a caller can skip building a payload no one will see.
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues an event; never waits. Returns `false` if it was dropped. Every event, dropped
    /// or not, counts in [`metric::FIREHOSE_EVENTS`](crate::metric::FIREHOSE_EVENTS) under its
    /// type.
    pub fn emit(&self, kind: impl AsRef<str>, action: &str, payload: Value) -> bool {
        self.counters.count_kind(kind.as_ref());
        let event = FirehoseEvent {
            kind: kind.as_ref().to_owned(),
            service: self.service.to_string(),
            action: action.to_owned(),
            payload,
            at: Utc::now(),
        };
        let queued = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.try_send(event).is_ok());
        if !queued {
            crate::metric::count(crate::metric::FIREHOSE_DROPPED, 1);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Events published so far.
    pub fn emitted(&self) -> u64 {
        self.counters.emitted.load(Ordering::Relaxed)
    }

    /// Events dropped so far: queue full, transport failing, or firehose disabled.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

/// Emits one firehose event per call of the wrapped service: `{ok, latency_us, error?}`.
#[derive(Clone, Debug)]
pub struct FirehoseLayer {
    firehose: Firehose,
    kind: Arc<str>,
    action: Arc<str>,
}

impl FirehoseLayer {
    /// Events carry `kind` and `action`.
    pub fn new(firehose: Firehose, kind: impl AsRef<str>, action: &str) -> Self {
        FirehoseLayer {
            firehose,
            kind: Arc::from(kind.as_ref()),
            action: Arc::from(action),
        }
    }
}

impl<S> Layer<S> for FirehoseLayer {
    type Service = FirehoseService<S>;
    fn layer(&self, inner: S) -> FirehoseService<S> {
        FirehoseService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`FirehoseLayer`].
#[derive(Clone, Debug)]
pub struct FirehoseService<S> {
    inner: S,
    layer: FirehoseLayer,
}

impl<S, Req> Service<Req> for FirehoseService<S>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + 'static,
    S::Response: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let call = self.inner.call(req);
        let layer = self.layer.clone();
        Box::pin(async move {
            let started = Instant::now();
            let result = call.await;
            let latency_us = started.elapsed().as_micros() as u64;
            let payload = match &result {
                Ok(_) => json!({ "ok": true, "latency_us": latency_us }),
                Err(err) => {
                    json!({ "ok": false, "latency_us": latency_us, "error": err.to_string() })
                }
            };
            layer.firehose.emit(&layer.kind, &layer.action, payload);
            result
        })
    }
}
