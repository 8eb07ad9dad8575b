//! Server-sent events: a stream of rendered fragments with keep-alives that ends with a final
//! `end` event on shutdown (the page closes its `EventSource` on it, via `sse-close="end"`).

use std::{convert::Infallible, time::Duration};

use axum::response::{
    IntoResponse, Response,
    sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, StreamExt, stream};
use switchboard_core::{Envelope, Error};

use crate::common::shutdown::Shutdown;

/// One event for the browser: its name and an HTML fragment.
#[derive(Debug, Clone)]
pub(crate) struct Fragment {
    pub(crate) event: &'static str,
    pub(crate) html: String,
}

/// Streams `fragments` until they end or shutdown starts, then sends `event: end`.
pub(crate) fn respond<S>(fragments: S, shutdown: Shutdown) -> Response
where
    S: Stream<Item = Fragment> + Send + 'static,
{
    let stopping = async move { shutdown.wait().await };
    let events = fragments
        .take_until(stopping)
        .map(|f| Event::default().event(f.event).data(f.html))
        .chain(stream::once(async {
            Event::default().event("end").data("")
        }))
        .map(Ok::<_, Infallible>);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Renders each message of a subscription; a lag becomes a notice, other errors end the stream.
pub(crate) fn render_subscription<S, F>(
    messages: S,
    event: &'static str,
    render: F,
) -> impl Stream<Item = Fragment> + Send + 'static
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
            futures::future::ready(html.map(|html| Fragment { event, html }))
        })
}
