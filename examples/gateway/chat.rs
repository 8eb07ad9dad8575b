//! The chat hub: a `switchboard_ws::Hub` whose renderer turns each event, once, into escaped
//! HTML that htmx's ws extension swaps out of band (`#chat-lines`, `#chat-presence`).

use bytes::Bytes;
use chrono::Utc;
use serde_json::json;
use switchboard_core::Firehose;
use switchboard_flows::Flow;
use switchboard_ws::{BridgeKey, Hub, HubConfig, HubEvent, WsError};

use crate::{
    common::gateway_config::ClusterConfig,
    views::{ChatEvent, Line, render},
};

/// Where gateways bridge their hubs: `switchboard.chat.chat` and `switchboard.chat.presence`,
/// outside the page namespace.
pub(crate) const BRIDGE_PREFIX: &str = "switchboard.chat";

/// The cluster key from `cluster.key`, or a random one (logged: other gateways cannot join
/// this one's rooms until they share a configured key).
pub(crate) fn bridge_key(cluster: &ClusterConfig) -> Result<BridgeKey, WsError> {
    match &cluster.key {
        Some(secret) => BridgeKey::new(&secret.0),
        None => {
            tracing::warn!(
                "cluster.key is not set: the chat bridge uses a random key, so only this gateway \
                 can read and write its bridge; set cluster.key (GATEWAY_CLUSTER_KEY) to the same \
                 secret on every gateway"
            );
            Ok(BridgeKey::random())
        }
    }
}

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
