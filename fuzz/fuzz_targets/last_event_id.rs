//! `Last-Event-ID`: the header extractor and the replay buffer's id parser on any bytes:
//! never a panic; the id handed on is trimmed and never empty.
#![no_main]

use axum::{extract::FromRequestParts, http::HeaderValue};
use futures::{FutureExt, StreamExt};
use libfuzzer_sys::fuzz_target;
use switchboard_ws::{LastEventId, ReplayBuffer, SseEvent};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let (mut parts, ()) = axum::http::Request::builder()
        .header("last-event-id", value)
        .body(())
        .unwrap()
        .into_parts();
    let LastEventId(id) = LastEventId::from_request_parts(&mut parts, &())
        .now_or_never()
        .expect("the extractor never waits")
        .unwrap();
    if let Some(id) = &id {
        assert!(!id.is_empty() && id.trim() == id);
    }
    let buffer = ReplayBuffer::new(4);
    for n in 0..6 {
        buffer.push(SseEvent::new(format!("event {n}")));
    }
    // Replays what followed a known id, or starts with a reset notice; only the newest id
    // waits for the next live event.
    let _ = buffer.subscribe(id.as_deref()).next().now_or_never();
});
