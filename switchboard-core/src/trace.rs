//! W3C trace context in envelope headers, and the consumer spans that continue it.
//!
//! Every backend opens an [`Outgoing`](crate::outgoing::Outgoing) producer span when it
//! publishes, appends, requests or enqueues a message; its context travels as [`TRACEPARENT`]
//! and [`TRACESTATE`] whatever the transport ([`inject_from`]). The receiving side opens its
//! span with [`consumer_span`] (or calls [`set_parent`] on a span of its own), which makes the
//! producer span its parent. Responders do this for every request they serve.
//!
//! Spans carry OpenTelemetry context only when the application installs a
//! [`tracing_opentelemetry`] layer; without one [`inject`] writes nothing, and a disabled span
//! costs no OpenTelemetry work at all.
//!
//! ```
//! use switchboard_core::{Envelope, Subject, trace};
//! let msg = Envelope::new(Subject::new("orders.created")?, "hi")
//!     .with_header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! let span = trace::consumer_span("memory", "process", &msg);
//! assert_eq!(
//!     trace::trace_id(msg.headers()).map(|id| id.to_string()).as_deref(),
//!     Some("4bf92f3577b34da6a3ce929d0e0e4736"),
//! );
//! # drop(span);
//! # Ok::<(), switchboard_core::InvalidInput>(())
//! ```

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{TraceContextExt, TraceId},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::{Span, field, subscriber::NoSubscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use crate::header::{TRACEPARENT, TRACESTATE};
use crate::{Envelope, Headers};

struct Inject<'a>(&'a mut Headers);

impl Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

struct Extract<'a>(&'a Headers);

impl Extractor for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).or_else(|| {
            self.0
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .map(|(_, value)| value)
        })
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name).collect()
    }
}

/// Whether this thread has no tracing subscriber, so no span can be recorded.
///
/// Spans are then not made at all: tracing's `log` compatibility would still record a
/// disabled span's fields and log its every enter and exit, which cost more per message than
/// the rest of the send or receive bookkeeping.
pub(crate) fn no_subscriber() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.is::<NoSubscriber>())
}

/// Writes the current span's trace context into `headers`; see [`inject_from`].
pub fn inject(headers: &mut Headers) {
    inject_from(&Span::current(), headers);
}

/// Writes `span`'s trace context into `headers` as [`TRACEPARENT`] and [`TRACESTATE`].
///
/// A span without a valid OpenTelemetry context leaves `headers` as they are, so a message
/// forwarded outside any trace keeps the context it came with.
pub fn inject_from(span: &Span, headers: &mut Headers) {
    if span.is_disabled() {
        return;
    }
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut Inject(headers));
    }
}

/// The remote trace context that `headers` carry (an empty context if none or malformed).
pub fn extract(headers: &Headers) -> Context {
    TraceContextPropagator::new().extract(&Extract(headers))
}

/// The trace id that `headers` carry, if they carry a valid context.
pub fn trace_id(headers: &Headers) -> Option<TraceId> {
    let cx = extract(headers);
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.trace_id())
}

/// Makes the context that `headers` carry the parent of `span`; no context leaves it as is.
pub fn set_parent(span: &Span, headers: &Headers) {
    let cx = extract(headers);
    if cx.span().span_context().is_valid() {
        // Fails only when the span is already started or disabled: nothing to continue then.
        let _ = span.set_parent(cx);
    }
}

/// The trace id of `span`, if it has an OpenTelemetry context.
pub fn span_trace_id(span: &Span) -> Option<TraceId> {
    let cx = span.context();
    let otel = cx.span();
    let context = otel.span_context();
    context.is_valid().then(|| context.trace_id())
}

/// A consumer span for handling `msg`, named and attributed after the OpenTelemetry messaging
/// conventions, whose parent is the context `msg` carries.
///
/// `system` is the `messaging.system` (`kafka`, `nats`, `redis`, `memory`…), `operation` the
/// `messaging.operation.type` (`receive` or `process`). Partition and offset are left empty for
/// the caller to record where the transport has them. Without a subscriber it is
/// [`Span::none`]. It is `debug`, as every span made per message is (target
/// `switchboard_core::trace`).
pub fn consumer_span(system: &'static str, operation: &'static str, msg: &Envelope) -> Span {
    if no_subscriber() {
        return Span::none();
    }
    let span = tracing::debug_span!(
        "consume",
        otel.name = %format_args!("{operation} {}", msg.subject()),
        otel.kind = "consumer",
        messaging.system = system,
        messaging.operation.type = operation,
        messaging.destination.name = %msg.subject(),
        messaging.message.id = %msg.id(),
        messaging.destination.partition.id = field::Empty,
        messaging.kafka.offset = field::Empty,
    );
    set_parent(&span, msg.headers());
    span
}

/// A [`consumer_span`] for a durable-log delivery, with its partition and offset recorded.
pub fn delivery_span(system: &'static str, msg: &Envelope, position: crate::Position) -> Span {
    let span = consumer_span(system, "process", msg);
    span.record("messaging.destination.partition.id", position.partition);
    span.record("messaging.kafka.offset", position.offset);
    span
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Subject;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn extracts_in_any_case_and_ignores_malformed_context() {
        let headers: Headers = [("TraceParent", PARENT)].into_iter().collect();
        assert_eq!(
            trace_id(&headers).unwrap().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let bad: Headers = [(TRACEPARENT, "00-nothex-00f067aa0ba902b7-01")]
            .into_iter()
            .collect();
        assert_eq!(trace_id(&bad), None);
        assert_eq!(trace_id(&Headers::new()), None);
    }

    #[test]
    fn inject_outside_a_trace_keeps_what_was_there() {
        let mut msg =
            Envelope::new(Subject::new("a").unwrap(), "").with_header(TRACEPARENT, PARENT);
        inject(msg.headers_mut());
        assert_eq!(msg.headers().get(TRACEPARENT), Some(PARENT));
        let mut empty = Headers::new();
        inject(&mut empty);
        assert!(empty.is_empty());
    }
}
