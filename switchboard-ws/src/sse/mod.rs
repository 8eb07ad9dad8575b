//! Server-sent events: any `Stream` of [`SseEvent`]s as an axum response, with keep-alive
//! comments, an `end` event on [`Shutdown`], and resume through `Last-Event-ID`.
//!
//! | piece | what it does |
//! |---|---|
//! | [`sse_response`] / [`sse_response_with`] | stream → `text/event-stream` response |
//! | [`Shutdown`] | one trigger ends every stream with `event: end` |
//! | [`LastEventId`] | extractor for the `Last-Event-ID` header a reconnecting browser sends |
//! | [`ReplayBuffer`] | a bounded ring of recent events: live fan-out plus replay after an id |
//! | [`no_replay`] | for sources that cannot replay: the first event is `event: reset` |

mod event;
mod last_event_id;
mod replay;
mod response;
mod shutdown;

pub use event::{END_EVENT, RESET_EVENT, SseEvent};
pub use last_event_id::LastEventId;
pub use replay::{ReplayBuffer, no_replay};
pub use response::{SseConfig, sse_response, sse_response_with};
pub use shutdown::Shutdown;
