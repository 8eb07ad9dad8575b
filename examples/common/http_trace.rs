//! A server span per HTTP request that continues the caller's W3C trace context.
//!
//! A `traceparent` (and `tracestate`) header sent with a request makes the request's span a
//! child of the caller's; everything the handler publishes or appends under it carries the
//! same trace on, whatever the transport. The span is `debug` (target [`TARGET`]), as
//! tower-http's are: logging at `info` builds none, and a service that exports traces asks for
//! it (`telemetry.rs`).

use axum::{
    Router, extract::MatchedPath, extract::Request, middleware, middleware::Next,
    response::Response,
};
use switchboard_core::{Headers, trace};
use tracing::{Instrument, field};

/// The target of the request spans.
pub(crate) const TARGET: &str = "switchboard::http";

/// Wraps every route of `router` in [`continue_trace`].
pub(crate) fn layer(router: Router) -> Router {
    router.layer(middleware::from_fn(continue_trace))
}

/// Runs the request inside an `http.server` span whose parent is the caller's trace context.
async fn continue_trace(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |path| path.as_str().to_owned(),
    );
    let span = tracing::debug_span!(
        target: TARGET,
        "http.server",
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = %route,
        http.response.status_code = field::Empty,
    );
    trace::set_parent(&span, &caller_context(request.headers()));
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// The trace-context headers of an HTTP request, as envelope headers.
fn caller_context(headers: &axum::http::HeaderMap) -> Headers {
    [trace::TRACEPARENT, trace::TRACESTATE]
        .into_iter()
        .filter_map(|name| Some((name, headers.get(name)?.to_str().ok()?)))
        .collect()
}
