//! `GET /asyncapi.json`: the AsyncAPI 3.0 document of every channel the three services use,
//! built from the constants they use.

use axum::Json;
use serde_json::{Value, json};
use switchboard_core::PAGE_PREFIX;
use switchboard_flows::asyncapi::{Action, AsyncApi, Channel, date_time, flow_channels, object};

use super::events::CREATED_SUBJECT;
use crate::{chat::BRIDGE_PREFIX, common::health::HEARTBEAT_PREFIX};

/// The document.
pub(crate) fn document() -> Value {
    AsyncApi::new("Switchboard", env!("CARGO_PKG_VERSION"))
        .channels(flow_channels())
        .channels(gateway_channels())
        .to_json()
}

/// `GET /asyncapi.json`.
pub(crate) async fn serve() -> Json<Value> {
    Json(document())
}

fn gateway_channels() -> [Channel; 4] {
    [
        Channel {
            id: "created",
            address: CREATED_SUBJECT.to_owned(),
            protocol: "nats",
            description: "one stored event per row the page creates, announced with the row",
            message: "Event",
            payload: object(&[
                ("id", json!({ "type": "integer" })),
                ("source", json!({ "type": "string" })),
                ("topic", json!({ "type": "string" })),
                ("payload", json!({})),
                ("created_at", date_time()),
                ("idempotency_key", json!({ "type": ["string", "null"] })),
            ]),
            actions: &[Action::Send, Action::Receive],
        },
        Channel {
            id: "chat_bridge",
            address: format!("{BRIDGE_PREFIX}.{{kind}}"),
            protocol: "nats",
            description: "chat lines and presence between gateways, sealed under cluster.key",
            message: "SealedBridgeMessage",
            payload: json!({ "type": "string", "contentEncoding": "binary" }),
            actions: &[Action::Send, Action::Receive],
        },
        Channel {
            id: "heartbeat",
            address: format!("{HEARTBEAT_PREFIX}.{{service}}"),
            protocol: "nats",
            description: "each service's health report, published periodically",
            message: "HealthReport",
            payload: json!({ "type": "object" }),
            actions: &[Action::Send, Action::Receive],
        },
        Channel {
            id: "page",
            address: format!("{PAGE_PREFIX}{{name}}"),
            protocol: "redis",
            description: "the page's own channels (Redis pub/sub and NATS subjects): any payload",
            message: "PageMessage",
            payload: json!({}),
            actions: &[Action::Send, Action::Receive],
        },
    ]
}
