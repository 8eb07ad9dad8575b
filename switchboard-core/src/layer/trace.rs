use std::{
    task::{Context, Poll},
    time::Instant,
};

use futures::future::BoxFuture;
use tower::{Layer, Service};
use tracing::{Instrument, Span, field};

use crate::Envelope;

/// Requests that can describe themselves on a tracing span.
pub trait TraceFields {
    /// Records this request's fields (`subject`, `message_id`, `key`, `bytes`) on `span`.
    fn record(&self, span: &Span);
}

impl TraceFields for Envelope {
    fn record(&self, span: &Span) {
        span.record("subject", self.subject().as_str());
        span.record("message_id", field::display(self.id()));
        span.record("bytes", self.payload().len());
        if let Some(key) = self.key() {
            span.record("key", key);
        }
    }
}

impl TraceFields for () {
    fn record(&self, _span: &Span) {}
}

/// Opens a span per call, named after the flow, with the request's structured fields, and
/// records the outcome and latency when the call ends.
#[derive(Clone, Copy, Debug)]
pub struct TraceLayer {
    flow: &'static str,
}

impl TraceLayer {
    /// Spans carry `flow = <flow>`.
    pub fn new(flow: &'static str) -> Self {
        TraceLayer { flow }
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Trace<S> {
        Trace {
            inner,
            flow: self.flow,
        }
    }
}

/// The service made by [`TraceLayer`].
#[derive(Clone, Debug)]
pub struct Trace<S> {
    inner: S,
    flow: &'static str,
}

impl<S, Req> Service<Req> for Trace<S>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + 'static,
    S::Response: 'static,
    Req: TraceFields,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let span = tracing::info_span!(
            "switchboard.call",
            flow = self.flow,
            subject = field::Empty,
            message_id = field::Empty,
            key = field::Empty,
            bytes = field::Empty,
            outcome = field::Empty,
            latency_us = field::Empty,
        );
        req.record(&span);
        let call = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                let started = Instant::now();
                let result = call.await;
                let span = Span::current();
                span.record("latency_us", started.elapsed().as_micros() as u64);
                match &result {
                    Ok(_) => {
                        span.record("outcome", "ok");
                        tracing::debug!("call finished");
                    }
                    Err(err) => {
                        span.record("outcome", "error");
                        tracing::warn!(error = %err, "call failed");
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}
