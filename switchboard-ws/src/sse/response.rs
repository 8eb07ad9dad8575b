//! [`sse_response`].

use std::{convert::Infallible, time::Duration};

use axum::{
    http::{HeaderName, HeaderValue},
    response::{
        IntoResponse, Response,
        sse::{KeepAlive, Sse},
    },
};
use futures::{Stream, StreamExt, stream};
use switchboard_core::metric;

use super::{Shutdown, SseEvent};

/// Counts an SSE stream in [`metric::SSE_OPEN`] while it lives (the response body holds it).
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        metric::gauge_add(metric::SSE_OPEN, 1.0);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metric::gauge_add(metric::SSE_OPEN, -1.0);
    }
}

/// Options of [`sse_response_with`].
#[derive(Clone, Debug)]
pub struct SseConfig {
    /// Quiet time after which a keep-alive comment (`:`) is sent.
    pub keep_alive: Duration,
}

impl Default for SseConfig {
    fn default() -> Self {
        SseConfig {
            keep_alive: Duration::from_secs(15),
        }
    }
}

/// Any stream of events → a `text/event-stream` response with keep-alive comments every 15 s
/// of quiet, ending with `event: end` when `shutdown` triggers or the stream ends.
///
/// Resume is the source's job: pass [`crate::ReplayBuffer::subscribe`] (or a stream that
/// replays from a log offset) given the [`crate::LastEventId`], or [`crate::no_replay`].
pub fn sse_response<S>(stream: S, shutdown: Shutdown) -> Response
where
    S: Stream<Item = SseEvent> + Send + 'static,
{
    sse_response_with(stream, shutdown, SseConfig::default())
}

/// [`sse_response`] with options.
pub fn sse_response_with<S>(stream: S, shutdown: Shutdown, config: SseConfig) -> Response
where
    S: Stream<Item = SseEvent> + Send + 'static,
{
    let open = OpenStream::new();
    let ended = shutdown.clone();
    let end = stream::once(async move {
        let reason = if ended.is_triggered() {
            "shutdown"
        } else {
            "complete"
        };
        SseEvent::end(reason)
    });
    let events = stream
        .take_until(shutdown.wait())
        .chain(end)
        .map(move |event| {
            let _open = &open;
            Ok::<_, Infallible>(event.into_axum())
        });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(config.keep_alive))
        .into_response();
    // Tell buffering proxies (nginx) to pass events through as they come.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}
