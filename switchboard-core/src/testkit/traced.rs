//! Trace-context cases: every send opens a producer span of its own, a child of the sending
//! span, whose W3C context survives the transport and becomes the parent of the receiving
//! span.
//!
//! The cases need spans with OpenTelemetry context on every thread (responders and consumers
//! run on tasks of their own), so [`install`] sets one global subscriber per test binary that
//! layers both what the kit needs and what a person debugging wants: the kit's tracer, and an
//! fmt layer filtered by `RUST_LOG` when it is set. A test helper that wants logs calls
//! [`install`] rather than installing a subscriber of its own, so neither hides the other.
//! (A dispatcher scoped to each test would race: tracing caches each callsite's interest
//! globally, and a callsite first hit by a concurrent test outside the scope can stay
//! disabled.) The cases find their own spans among all by their unique subjects.

use std::{
    future::Future,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use opentelemetry::{
    Value,
    trace::{SpanContext, SpanId, SpanKind, TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SdkTracerProvider, SpanData, SpanProcessor},
};
use tower::service_fn;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt};

use super::{LogFixture, Names, PubSubFixture, RequestReplyFixture, next_ok, within};
use crate::{
    BoxError, Envelope, LogConsumer, LogProducer, Publisher, Requester, Responder, Subject,
    Subscriber, request::Answer, trace,
};

const WAIT: Duration = Duration::from_secs(20);

/// The spans that ended since [`install`].
#[derive(Clone, Debug, Default)]
pub struct Spans(Arc<Mutex<Vec<SpanData>>>);

impl Spans {
    /// Every span ended so far.
    pub fn ended(&self) -> Vec<SpanData> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl SpanProcessor for Spans {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Installs, once per process, the global subscriber of a test binary: the kit's tracer (which
/// keeps every ended span for [`ended`] and exports nothing) and, when `RUST_LOG` is set, an fmt
/// layer filtered by it that writes to the test output.
///
/// # Panics
///
/// If another global subscriber was installed first: the trace cases would see nothing.
pub fn install() {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| {
        let tracer = SdkTracerProvider::builder()
            .with_span_processor(spans().clone())
            .build()
            .tracer("switchboard-testkit");
        let fmt = std::env::var_os("RUST_LOG").map(|_| {
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(EnvFilter::from_default_env())
        });
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .with(fmt);
        tracing::subscriber::set_global_default(subscriber).is_ok()
    });
    assert!(
        installed,
        "another global tracing subscriber was installed before the kit's: call \
         `switchboard_core::testkit::traced::install` instead (it logs per RUST_LOG too)"
    );
}

fn spans() -> &'static Spans {
    static SPANS: OnceLock<Spans> = OnceLock::new();
    SPANS.get_or_init(Spans::default)
}

/// Runs `case` on a fresh multi-threaded runtime, after [`install`]. The trace cases run this
/// way; so can any test that follows a trace through tasks.
pub fn run<F: Future>(case: F) -> F::Output {
    install();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(case)
}

/// Every span ended so far in this process (since [`install`]).
pub fn ended() -> Vec<SpanData> {
    spans().ended()
}

/// The OpenTelemetry context of `span` (invalid before [`install`]).
pub fn context_of(span: &Span) -> SpanContext {
    span.context().span().span_context().clone()
}

/// A fresh sending span.
fn sending_span() -> (Span, SpanContext) {
    let span = tracing::info_span!("sbtest.send");
    let context = context_of(&span);
    assert!(
        context.is_valid(),
        "the trace cases must run under `testkit::traced::run` or after `install` (no \
         OpenTelemetry context)"
    );
    (span, context)
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn destination_is(span: &SpanData, subject: &Subject) -> bool {
    attribute(span, "messaging.destination.name").is_some_and(|v| v.as_str() == subject.as_str())
}

/// Checks the chain sending span → producer span → consumer span for `subject`, and that
/// `carried` (the delivered message's trace context) is the producer span's. Returns the
/// producer span.
fn assert_descends(
    sending: &SpanContext,
    subject: &Subject,
    carried: Option<SpanId>,
    transport: &str,
) -> SpanData {
    let spans = ended();
    let describe = || {
        spans
            .iter()
            .map(|s| {
                format!(
                    "{} ({:?}, parent {})",
                    s.name, s.span_kind, s.parent_span_id
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let producers: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Producer && destination_is(s, subject))
        .collect();
    let [producer] = producers[..] else {
        panic!(
            "expected one producer span for {subject} over {transport}, got {}: {}",
            producers.len(),
            describe()
        )
    };
    assert_eq!(
        (producer.span_context.trace_id(), producer.parent_span_id),
        (sending.trace_id(), sending.span_id()),
        "the producer span is not a child of the sending span"
    );
    for key in [
        "messaging.system",
        "messaging.operation.name",
        "messaging.message.id",
    ] {
        assert!(
            attribute(producer, key).is_some(),
            "the producer span lacks {key}"
        );
    }
    assert_eq!(
        attribute(producer, "messaging.operation.type").map(|v| v.as_str().into_owned()),
        Some("send".to_owned())
    );
    if let Some(carried) = carried {
        assert_eq!(
            carried,
            producer.span_context.span_id(),
            "the message over {transport} carries another span's context than the producer span's"
        );
    }
    let consumer = spans.iter().find(|s| {
        s.span_kind == SpanKind::Consumer
            && destination_is(s, subject)
            && s.parent_span_id == producer.span_context.span_id()
    });
    assert!(
        consumer.is_some(),
        "no consumer span over {transport} is a child of the producer span: {}",
        describe()
    );
    producer.clone()
}

/// The span id of the context `msg` carries, after checking it continues `sent`'s trace.
fn carried(msg: &Envelope, sent: &SpanContext, transport: &str) -> SpanId {
    assert_eq!(
        trace::trace_id(msg.headers()),
        Some(sent.trace_id()),
        "the traceparent of the sending span did not survive {transport}; headers: {:?}",
        msg.headers()
    );
    trace::extract(msg.headers())
        .span()
        .span_context()
        .span_id()
}

/// The consumer span the kit opens for a received message, ended at once.
fn consume(msg: &Envelope) {
    drop(trace::consumer_span("test", "process", msg));
}

/// A message published under a span gets a producer span, child of that span, whose context
/// reaches the subscriber and parents its consumer span.
pub async fn trace_context_survives_publish<F: PubSubFixture>(f: &F) {
    let names = Names::unique();
    let subject = names.subject("traced");
    let mut sub = f
        .subscriber()
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let (span, sent) = sending_span();
    let publisher = f.publisher();
    async {
        publisher
            .publish(Envelope::new(subject.clone(), "traced"))
            .await
    }
    .instrument(span)
    .await
    .expect("publish");
    let got = next_ok(&mut sub, WAIT, "the traced message").await;
    let carried = carried(&got, &sent, "publish/subscribe");
    consume(&got);
    assert_descends(&sent, &subject, Some(carried), "publish/subscribe");
}

/// A request sent under a span gets a producer span, child of that span; the responder serves
/// it inside a span of the producer span, and the headers its service returns reach the
/// requester.
pub async fn trace_context_survives_request<F: RequestReplyFixture>(f: &F) {
    let names = Names::unique();
    let subject = names.subject("traced");
    let traced = service_fn(|msg: Envelope| async move {
        let served = trace::span_trace_id(&Span::current())
            .map(|id| id.to_string())
            .unwrap_or_default();
        Ok::<_, BoxError>(Answer::new(msg.payload().clone()).with_header("x-served-trace", served))
    });
    let _serving = f
        .responder()
        .serve(&subject, None, traced)
        .await
        .expect("serve");
    let (span, sent) = sending_span();
    let requester = f.requester();
    let reply = async {
        requester
            .request(Envelope::new(subject.clone(), "traced"), WAIT)
            .await
    }
    .instrument(span)
    .await
    .expect("request");
    assert_eq!(reply.payload.as_ref(), b"traced");
    assert_eq!(
        reply.headers.get("x-served-trace"),
        Some(sent.trace_id().to_string().as_str()),
        "the responder's span does not continue the requester's trace (or its reply headers \
         were lost); reply headers: {:?}",
        reply.headers
    );
    assert_descends(&sent, &subject, None, "request/reply");
}

/// A message appended under a span gets a producer span, child of that span, with the
/// partition and offset it landed at; its context reaches the consumer group.
pub async fn trace_context_survives_append<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let topic = names.subject("traced");
    f.create_topic(&topic, 1).await;
    let (span, sent) = sending_span();
    let producer = f.producer();
    let position = async {
        producer
            .append(Envelope::new(topic.clone(), "traced"))
            .await
    }
    .instrument(span)
    .await
    .expect("append");
    let mut deliveries = f
        .consumer()
        .join(&names.group("traced"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    let delivery = next_ok(&mut deliveries, WAIT, "the traced delivery").await;
    let carried = carried(delivery.envelope(), &sent, "the durable log");
    consume(delivery.envelope());
    let span = assert_descends(&sent, &topic, Some(carried), "the durable log");
    assert_eq!(
        attribute(&span, "messaging.kafka.offset").map(|v| v.as_str().into_owned()),
        Some(position.offset.to_string()),
        "the producer span lacks the offset the append returned"
    );
    within(WAIT, "the ack", delivery.ack()).await.expect("ack");
}
