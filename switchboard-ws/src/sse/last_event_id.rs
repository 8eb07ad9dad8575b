//! [`LastEventId`].

use std::convert::Infallible;

use axum::{extract::FromRequestParts, http::request::Parts};

/// The `Last-Event-ID` header a reconnecting `EventSource` sends, if any (never rejects).
///
/// ```
/// use axum::{routing::get, Router};
/// use switchboard_ws::{sse_response, LastEventId, ReplayBuffer, Shutdown};
/// let events = ReplayBuffer::new(1024);
/// let shutdown = Shutdown::new();
/// let app: Router = Router::new().route(
///     "/events",
///     get(move |LastEventId(last): LastEventId| async move {
///         sse_response(events.subscribe(last.as_deref()), shutdown)
///     }),
/// );
/// # let _ = app;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let id = parts
            .headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        Ok(LastEventId(id))
    }
}
