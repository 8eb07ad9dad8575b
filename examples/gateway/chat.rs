//! The chat hub: a `switchboard_ws::Hub` whose renderer turns each event, once, into escaped
//! HTML that htmx's ws extension swaps out of band (`#chat-lines`, `#chat-presence`).

use bytes::Bytes;
use chrono::Utc;
use serde_json::json;
use switchboard_core::{Firehose, Flow};
use switchboard_ws::{Hub, HubConfig, HubEvent};

use crate::views::{ChatEvent, Line, render};

/// A hub rendering with askama. The renderer runs once per event and node, so it also emits
/// that event to the firehose.
pub(crate) fn hub(firehose: Firehose) -> Hub {
    Hub::new(HubConfig::default()).with_renderer(move |event| {
        let (view, action, details) = match event {
            HubEvent::Message {
                room,
                from,
                text,
                at,
            } => (
                ChatEvent {
                    line: Line::new(*at, "", from, text.as_str()),
                    online: None,
                },
                "message",
                json!({ "room": room, "from": from }),
            ),
            HubEvent::Joined { room, user, online } => (
                ChatEvent {
                    line: Line::new(Utc::now(), "system", "", format!("{user} joined")),
                    online: Some(*online),
                },
                "join",
                json!({ "room": room, "user": user, "online": online }),
            ),
            HubEvent::Left { room, user, online } => (
                ChatEvent {
                    line: Line::new(Utc::now(), "system", "", format!("{user} left")),
                    online: Some(*online),
                },
                "leave",
                json!({ "room": room, "user": user, "online": online }),
            ),
            other => {
                tracing::debug!(event = ?other, "unknown hub event not shown");
                return Bytes::new();
            }
        };
        firehose.emit(Flow::Websocket, action, details);
        render(&view).map(Bytes::from).unwrap_or_default()
    })
}
