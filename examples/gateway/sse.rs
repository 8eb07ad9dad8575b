//! Server-sent events: subscriptions rendered into HTML fragments and served with
//! `switchboard_ws::sse_response` (keep-alives, and a final `end` event on shutdown that the
//! page's `sse-close="end"` uses to close its `EventSource`).

use axum::response::Response;
use futures::{Stream, StreamExt};
use switchboard_core::{Envelope, Error};
use switchboard_ws::{SseEvent, sse_response};

use crate::common::shutdown::Shutdown;

/// Streams `events` until they end or shutdown starts, then sends `event: end`.
pub(crate) fn respond<S>(events: S, shutdown: &Shutdown) -> Response
where
    S: Stream<Item = SseEvent> + Send + 'static,
{
    sse_response(events, shutdown.sse())
}

/// Renders each message of a subscription as an `event` carrying an HTML fragment; a lag
/// becomes a notice, any other error ends the stream.
pub(crate) fn render_subscription<S, F>(
    messages: S,
    event: &'static str,
    render: F,
) -> impl Stream<Item = SseEvent> + Send + 'static
where
    S: Stream<Item = Result<Envelope, Error>> + Send + 'static,
    F: Fn(&Envelope) -> Option<String> + Send + 'static,
{
    messages
        .take_while(|item| {
            let go_on = !matches!(item, Err(err) if !matches!(err, Error::Lagged { .. }));
            if let Err(err) = item {
                tracing::debug!(error = %err, "subscription ended");
            }
            futures::future::ready(go_on)
        })
        .filter_map(move |item| {
            let html = match item {
                Ok(msg) => render(&msg),
                Err(err) => crate::views::notice(&err.to_string()),
            };
            futures::future::ready(html.map(|html| SseEvent::new(html).named(event)))
        })
}
