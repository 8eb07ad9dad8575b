//! The producer side of every send: one span per message, whose W3C context is what the
//! message carries, and the `published` count once the backend took the message.
//!
//! Every backend wraps its publish, append, request and outbox enqueue in an [`Outgoing`],
//! started from the [`Sends`] it made for that operation when it was made itself:
//!
//! ```
//! use switchboard_core::{Envelope, Subject, outgoing::{Operation, Sends}};
//! # async fn send(msg: &Envelope) -> switchboard_core::Result<()> { Ok(()) }
//! # async fn run() -> switchboard_core::Result<()> {
//! let publishes = Sends::new(Operation::Publish, "memory"); // once, with the backend
//! let mut msg = Envelope::new(Subject::new("orders.created")?, "hi");
//! let out = publishes.start(&mut msg);
//! out.run(send(&msg)).await?;
//! # Ok(()) }
//! ```
//!
//! The span follows the OpenTelemetry messaging conventions (`messaging.system`,
//! `messaging.destination.name`, `messaging.operation.type = send`, `messaging.message.id`,
//! and the partition and offset where the backend reports them); the receiving side's
//! [`consumer_span`](crate::trace::consumer_span) becomes its child. Its parent is the current
//! span, or, outside any trace, the context the message already carries (a forwarder such as
//! the outbox relay continues the trace it was given).
//!
//! The span is `debug`, as every span made per message is: an application logging at `info`
//! builds none (one that exports traces asks for the `switchboard_core::outgoing` target at
//! `debug`). When no subscriber is interested in the span (its level filtered out), it is
//! disabled: no allocation, no OpenTelemetry work, and the current span's context (if any) is
//! injected instead. With no subscriber at all there is no span (nor, with tracing's `log` feature, a
//! log record of it) and nothing to inject.

use std::{borrow::Cow, future::Future};

use metrics::{Counter, Histogram};
use tracing::{Instrument, Span, field};

use crate::{Envelope, Headers, Position, Reply, Result, metric, trace};

/// What a send does, after the OpenTelemetry `messaging.operation.name`; each names the
/// `flow` label of its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Pub/sub publish (`flow = pubsub`).
    Publish,
    /// Durable-log append (`flow = log`).
    Append,
    /// A request awaiting a reply (`flow = request`).
    Request,
    /// An insert into the transactional outbox (`flow = outbox`).
    Enqueue,
}

impl Operation {
    /// The `messaging.operation.name`.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::Publish => "publish",
            Operation::Append => "append",
            Operation::Request => "request",
            Operation::Enqueue => "enqueue",
        }
    }

    /// The `flow` label of the metrics it records.
    pub const fn flow(self) -> &'static str {
        match self {
            Operation::Publish => "pubsub",
            Operation::Append => "log",
            Operation::Request => "request",
            Operation::Enqueue => "outbox",
        }
    }
}

/// One backend's sends of one [`Operation`]: its `messaging.system` and the metrics every
/// send records, registered once.
///
/// A backend makes one per operation when it is made itself (as a subscription registers its
/// `delivered` counter when it is made): a send then adds to a registered counter instead of
/// building and hashing the metric's key, which cost more than the rest of the bookkeeping. The
/// metrics go to the recorder in effect when it is made, so install the application's recorder
/// before making backends (the services do it first thing).
#[derive(Clone, Debug)]
pub struct Sends {
    operation: Operation,
    backend: &'static str,
    published: Counter,
    /// Round trips of answered requests: [`Operation::Request`] only.
    round_trips: Option<Histogram>,
}

impl Sends {
    /// The sends of `operation` on `backend` (their `messaging.system`, the metrics' `backend`).
    pub fn new(operation: Operation, backend: &'static str) -> Sends {
        Sends {
            operation,
            backend,
            published: metric::published_counter(operation.flow(), backend),
            round_trips: (operation == Operation::Request)
                .then(|| metric::request_duration_histogram(backend)),
        }
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The backend's `messaging.system`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Opens the producer span for `msg` and writes the span's trace context into `msg`'s
    /// headers.
    pub fn start(&self, msg: &mut Envelope) -> Outgoing<'_> {
        Outgoing::begin(Cow::Borrowed(self), msg)
    }

    /// Opens the producer span for `msg` without touching it; write its context where the
    /// message is stored with [`Outgoing::inject`].
    pub fn open(&self, msg: &Envelope) -> Outgoing<'_> {
        Outgoing::open_with(Cow::Borrowed(self), msg)
    }
}

/// One message on its way out: its producer span, and what to count once it is sent.
#[derive(Debug)]
#[must_use = "run the send with `Outgoing::run`, or call `sent` once it succeeded"]
pub struct Outgoing<'a> {
    span: Span,
    sends: Cow<'a, Sends>,
}

impl Outgoing<'static> {
    /// [`Sends::start`] for a single send: registers the metrics on every call, so a backend
    /// keeps a [`Sends`] instead.
    pub fn start(operation: Operation, backend: &'static str, msg: &mut Envelope) -> Self {
        Outgoing::begin(Cow::Owned(Sends::new(operation, backend)), msg)
    }
}

impl<'a> Outgoing<'a> {
    fn begin(sends: Cow<'a, Sends>, msg: &mut Envelope) -> Self {
        let out = Outgoing::open_with(sends, msg);
        out.inject(msg.headers_mut());
        out
    }

    fn open_with(sends: Cow<'a, Sends>, msg: &Envelope) -> Self {
        if trace::no_subscriber() {
            return Outgoing {
                span: Span::none(),
                sends,
            };
        }
        let operation = sends.operation;
        let span = tracing::debug_span!(
            "send",
            otel.name = %format_args!("{} {}", operation.name(), msg.subject()),
            otel.kind = "producer",
            messaging.system = sends.backend,
            messaging.operation.type = "send",
            messaging.operation.name = operation.name(),
            messaging.destination.name = %msg.subject(),
            messaging.message.id = %msg.id(),
            messaging.destination.partition.id = field::Empty,
            messaging.kafka.offset = field::Empty,
        );
        if !span.is_disabled() && trace::span_trace_id(&Span::current()).is_none() {
            trace::set_parent(&span, msg.headers());
        }
        Outgoing { span, sends }
    }

    /// Writes the producer span's trace context into `headers` (the current span's when the
    /// producer span is disabled).
    pub fn inject(&self, headers: &mut Headers) {
        if self.span.is_none() {
            // No subscriber: no span has a trace context to carry.
            return;
        }
        if self.span.is_disabled() {
            trace::inject(headers);
        } else {
            trace::inject_from(&self.span, headers);
        }
    }

    /// The producer span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Runs `send` inside the producer span; once it succeeded, records what it reports
    /// (partition and offset, round-trip time) and counts the message published.
    pub async fn run<T: Sent>(self, send: impl Future<Output = Result<T>>) -> Result<T> {
        let result = if self.span.is_none() {
            send.await
        } else {
            send.instrument(self.span.clone()).await
        };
        self.finish(result)
    }

    /// Ends a send that ran without awaiting: on success, records what it reports and counts
    /// the message published.
    pub fn finish<T: Sent>(self, result: Result<T>) -> Result<T> {
        if let Ok(sent) = &result {
            sent.record(&self);
            self.sent();
        }
        result
    }

    /// Counts the message published; call it once the backend took it.
    pub fn sent(self) {
        self.sends.published.increment(1);
    }
}

/// What a successful send reports to its [`Outgoing`].
pub trait Sent {
    /// Records on the producer span and the metrics what the send reported.
    fn record(&self, out: &Outgoing<'_>) {
        let _ = out;
    }
}

impl Sent for () {}

/// The number of receivers Redis reported.
impl Sent for u64 {}

impl Sent for Position {
    fn record(&self, out: &Outgoing<'_>) {
        out.span
            .record("messaging.destination.partition.id", self.partition);
        out.span.record("messaging.kafka.offset", self.offset);
    }
}

impl Sent for Reply {
    fn record(&self, out: &Outgoing<'_>) {
        if let Some(round_trips) = &out.sends.round_trips {
            round_trips.record(self.rtt.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;
    use crate::{Error, Subject};

    fn published(recorder: &DebuggingRecorder) -> Vec<(Vec<(String, String)>, u64)> {
        recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == metric::PUBLISHED)
            .map(|(key, _, _, value)| {
                let labels = key
                    .key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                let DebugValue::Counter(n) = value else {
                    panic!("published is a counter")
                };
                (labels, n)
            })
            .collect()
    }

    #[tokio::test]
    async fn counts_published_only_once_the_send_succeeded() {
        let recorder = DebuggingRecorder::new();
        let _local = metrics::set_default_local_recorder(&recorder);
        let appends = Sends::new(Operation::Append, "test");
        let mut msg = Envelope::new(Subject::new("a.b").unwrap(), "x");
        let failed = appends
            .start(&mut msg)
            .run(async { Err::<Position, _>(Error::Closed) })
            .await;
        assert!(failed.is_err());
        assert!(published(&recorder).iter().all(|(_, n)| *n == 0));
        for _ in 0..2 {
            appends
                .start(&mut msg)
                .run(async {
                    Ok(Position {
                        partition: 1,
                        offset: 2,
                    })
                })
                .await
                .unwrap();
        }
        // A single send without a `Sends` of its own counts on the same series.
        Outgoing::start(Operation::Append, "test", &mut msg).sent();
        let labels = vec![
            ("flow".to_owned(), "log".to_owned()),
            ("backend".to_owned(), "test".to_owned()),
        ];
        assert_eq!(published(&recorder), vec![(labels, 3)]);
    }

    #[tokio::test]
    async fn requests_record_their_round_trip_once_answered() {
        let recorder = DebuggingRecorder::new();
        let _local = metrics::set_default_local_recorder(&recorder);
        let requests = Sends::new(Operation::Request, "test");
        let mut msg = Envelope::new(Subject::new("a.b").unwrap(), "x");
        let reply = || Reply {
            payload: Default::default(),
            headers: Headers::new(),
            rtt: std::time::Duration::from_millis(3),
        };
        for _ in 0..2 {
            requests.start(&mut msg).finish(Ok(reply())).unwrap();
        }
        let failed = requests
            .start(&mut msg)
            .finish(Err::<Reply, _>(Error::Closed));
        assert!(failed.is_err());
        let round_trips: Vec<_> = recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == metric::REQUEST_DURATION)
            .map(|(.., value)| value)
            .collect();
        assert_eq!(
            round_trips,
            vec![DebugValue::Histogram(vec![0.003.into(), 0.003.into()])]
        );
    }

    #[test]
    fn without_a_subscriber_the_span_is_disabled_and_headers_untouched() {
        let mut msg = Envelope::new(Subject::new("a.b").unwrap(), "x");
        let out = Outgoing::start(Operation::Publish, "test", &mut msg);
        assert!(out.span().is_disabled());
        assert!(msg.headers().is_empty());
    }
}
