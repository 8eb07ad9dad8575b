//! Trace-context cases: the W3C context of the sending span survives every transport and
//! becomes the parent of the receiving span.

use std::{sync::OnceLock, time::Duration};

use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::service_fn;
use tracing::{Instrument, Span};
use tracing_subscriber::layer::SubscriberExt;

use super::{LogFixture, Names, PubSubFixture, RequestReplyFixture, next_ok, within};
use crate::{
    BoxError, Envelope, LogConsumer, LogProducer, Publisher, Requester, Responder, Subscriber,
    request::Answer, trace,
};

const WAIT: Duration = Duration::from_secs(20);

/// Installs, once per process, a global subscriber whose spans carry OpenTelemetry context
/// (a tracer without exporter), so the trace cases can follow a trace id. Responders and
/// consumers run on tasks of their own, hence global rather than scoped.
pub fn install() {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| {
        let tracer = SdkTracerProvider::builder()
            .build()
            .tracer("switchboard-testkit");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::set_global_default(subscriber).is_ok()
    });
    assert!(
        installed,
        "the trace cases need the kit's global tracing subscriber, but another was installed \
         first (unset RUST_LOG for this test binary)"
    );
}

/// A fresh sending span and its trace id.
fn sending_span() -> (Span, TraceId) {
    install();
    let span = tracing::info_span!("sbtest.send");
    let id = trace::span_trace_id(&span).expect("the kit's tracer gives every span a context");
    (span, id)
}

fn assert_continues(msg: &Envelope, sent: TraceId, transport: &str) {
    assert_eq!(
        trace::trace_id(msg.headers()),
        Some(sent),
        "the traceparent of the sending span did not survive {transport}; headers: {:?}",
        msg.headers()
    );
    let consumer = trace::consumer_span("test", "process", msg);
    assert_eq!(
        trace::span_trace_id(&consumer),
        Some(sent),
        "the consumer span does not continue the sender's trace"
    );
}

/// A message published under a span carries its trace context to the subscriber.
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
    async { publisher.publish(Envelope::new(subject, "traced")).await }
        .instrument(span)
        .await
        .expect("publish");
    let got = next_ok(&mut sub, WAIT, "the traced message").await;
    assert_continues(&got, sent, "publish/subscribe");
}

/// A request sent under a span is served inside a span of the same trace, and the headers the
/// responder's service returns reach the requester.
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
            .request(Envelope::new(subject, "traced"), WAIT)
            .await
    }
    .instrument(span)
    .await
    .expect("request");
    assert_eq!(reply.payload.as_ref(), b"traced");
    assert_eq!(
        reply.headers.get("x-served-trace"),
        Some(sent.to_string().as_str()),
        "the responder's span does not continue the requester's trace (or its reply headers \
         were lost); reply headers: {:?}",
        reply.headers
    );
}

/// A message appended under a span carries its trace context to the consumer group.
pub async fn trace_context_survives_append<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let topic = names.subject("traced");
    f.create_topic(&topic, 1).await;
    let (span, sent) = sending_span();
    let producer = f.producer();
    async {
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
    assert_continues(delivery.envelope(), sent, "the durable log");
    within(WAIT, "the ack", delivery.ack()).await.expect("ack");
}
