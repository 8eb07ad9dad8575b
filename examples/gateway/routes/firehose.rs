//! Flow 6, the firehose: every service's events as they happen.

use axum::{extract::State, response::Response};
use switchboard_core::{FIREHOSE_SUBJECT, FirehoseEvent, Pattern, Subscriber};

use crate::{
    error::AppError,
    sse,
    state::AppState,
    views::{Line, render},
};

/// The longest payload shown per event.
const MAX_SHOWN: usize = 400;

/// `GET /firehose/stream`: SSE of `switchboard.firehose`.
pub(crate) async fn stream(State(s): State<AppState>) -> Result<Response, AppError> {
    let messages = s
        .bus_subscriber
        .subscribe(&Pattern::new(FIREHOSE_SUBJECT)?)
        .await?;
    let lines = sse::render_subscription(messages, "firehose", |msg| {
        let event: FirehoseEvent = msg.decode_json().ok()?;
        let mut details = event.payload.to_string();
        if details.len() > MAX_SHOWN {
            let mut end = MAX_SHOWN;
            while !details.is_char_boundary(end) {
                end -= 1;
            }
            details.truncate(end);
            details.push('…');
        }
        render(&Line::new(
            event.at,
            &event.kind,
            &event.service,
            format!("{} {details}", event.action),
        ))
    });
    Ok(sse::respond(lines, &s.shutdown))
}
