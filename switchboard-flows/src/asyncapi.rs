//! An AsyncAPI 3.0 document of the channels a system uses, built from the same constants and
//! types its services use.
//!
//! ```
//! use switchboard_flows::asyncapi::{AsyncApi, flow_channels};
//! let doc = AsyncApi::new("Switchboard", "0.1.0").channels(flow_channels()).to_json();
//! assert_eq!(doc["asyncapi"], "3.0.0");
//! assert_eq!(doc["channels"]["processed"]["address"], "switchboard.processed");
//! ```

use serde_json::{Map, Value, json};
use switchboard_core::FIREHOSE_SUBJECT;

use crate::{EVENTS_TOPIC, PROCESSED_SUBJECT, REQUEST_SUBJECT};

/// Whether the application publishes to a channel or consumes it (AsyncAPI's operation
/// `action`, from the application's side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The application sends on the channel.
    Send,
    /// The application receives from the channel.
    Receive,
}

/// One channel: where messages go, on which transport, with what payload.
#[derive(Clone, Debug)]
pub struct Channel {
    /// The channel's id in the document (`processed`).
    pub id: &'static str,
    /// The subject or topic; `{name}` marks a parameter (`switchboard.health.{service}`).
    pub address: String,
    /// The transport (`nats`, `kafka`, `redis`).
    pub protocol: &'static str,
    /// What travels on it.
    pub description: &'static str,
    /// The message's name in the document (`ProcessedRecord`).
    pub message: &'static str,
    /// The payload's JSON Schema.
    pub payload: Value,
    /// What the application does on it; both for a channel it sends and receives.
    pub actions: &'static [Action],
}

/// An AsyncAPI 3.0 document under construction.
#[derive(Clone, Debug)]
pub struct AsyncApi {
    title: String,
    version: String,
    channels: Vec<Channel>,
}

impl AsyncApi {
    /// A document with no channels yet.
    pub fn new(title: &str, version: &str) -> Self {
        AsyncApi {
            title: title.to_owned(),
            version: version.to_owned(),
            channels: Vec::new(),
        }
    }

    /// Adds a channel.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channels.push(channel);
        self
    }

    /// Adds channels.
    pub fn channels(self, channels: impl IntoIterator<Item = Channel>) -> Self {
        channels.into_iter().fold(self, Self::channel)
    }

    /// The document as JSON.
    pub fn to_json(&self) -> Value {
        let (mut channels, mut operations, mut messages) = (Map::new(), Map::new(), Map::new());
        for c in &self.channels {
            let parameters: Map<String, Value> = parameters(&c.address)
                .map(|name| {
                    (
                        name.to_owned(),
                        json!({ "description": format!("the {name}") }),
                    )
                })
                .collect();
            let mut channel = json!({
                "address": c.address,
                "description": c.description,
                "messages": { c.message: { "$ref": format!("#/components/messages/{}", c.message) } },
                "bindings": { c.protocol: {} },
            });
            if !parameters.is_empty() {
                channel["parameters"] = Value::Object(parameters);
            }
            channels.insert(c.id.to_owned(), channel);
            for action in c.actions {
                let verb = match action {
                    Action::Send => "send",
                    Action::Receive => "receive",
                };
                operations.insert(
                    format!("{verb}_{}", c.id),
                    json!({
                        "action": verb,
                        "channel": { "$ref": format!("#/channels/{}", c.id) },
                        "messages": [{ "$ref": format!("#/channels/{}/messages/{}", c.id, c.message) }],
                    }),
                );
            }
            messages.insert(
                c.message.to_owned(),
                json!({ "name": c.message, "contentType": "application/json", "payload": c.payload }),
            );
        }
        json!({
            "asyncapi": "3.0.0",
            "info": { "title": self.title, "version": self.version },
            "defaultContentType": "application/json",
            "channels": channels,
            "operations": operations,
            "components": { "messages": messages },
        })
    }
}

/// The `{name}` parameters of an address.
fn parameters(address: &str) -> impl Iterator<Item = &str> {
    address
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// The channels of this crate's flows: request/reply, the events topic, processed results and
/// the firehose.
pub fn flow_channels() -> Vec<Channel> {
    vec![
        Channel {
            id: "request",
            address: REQUEST_SUBJECT.to_owned(),
            protocol: "nats",
            description: "request/reply: the notifier answers each request with an EchoReply",
            message: "EchoReply",
            payload: object(&[
                ("service", json!({ "type": "string" })),
                ("message", json!({ "type": "string" })),
                ("processed_at", date_time()),
            ]),
            actions: &[Action::Send, Action::Receive],
        },
        Channel {
            id: "events",
            address: EVENTS_TOPIC.to_owned(),
            protocol: "kafka",
            description: "records to process: any payload; one that is not JSON is stored as a failure",
            message: "Record",
            payload: json!({}),
            actions: &[Action::Send, Action::Receive],
        },
        Channel {
            id: "processed",
            address: PROCESSED_SUBJECT.to_owned(),
            protocol: "nats",
            description: "one ProcessedRecord per record stored",
            message: "ProcessedRecord",
            payload: object(&[
                ("event_id", json!({ "type": "integer" })),
                ("topic", json!({ "type": "string" })),
                ("source", json!({ "type": "string" })),
                ("partition", json!({ "type": "integer", "minimum": 0 })),
                ("offset", json!({ "type": "integer", "minimum": 0 })),
                (
                    "status",
                    json!({ "type": "string", "enum": ["stored", "invalid"] }),
                ),
                ("duplicate", json!({ "type": "boolean" })),
            ]),
            actions: &[Action::Send, Action::Receive],
        },
        Channel {
            id: "firehose",
            address: FIREHOSE_SUBJECT.to_owned(),
            protocol: "nats",
            description: "every service's typed events",
            message: "FirehoseEvent",
            payload: object(&[
                (
                    "type",
                    json!({ "type": "string", "enum": crate::Flow::ALL.map(crate::Flow::as_str) }),
                ),
                ("service", json!({ "type": "string" })),
                ("action", json!({ "type": "string" })),
                ("payload", json!({})),
                ("at", date_time()),
            ]),
            actions: &[Action::Send, Action::Receive],
        },
    ]
}

/// A JSON Schema object whose properties are all required.
pub fn object(properties: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    let properties: Map<String, Value> = properties
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    json!({ "type": "object", "properties": properties, "required": required })
}

/// The schema of an RFC 3339 timestamp.
pub fn date_time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_declared_and_refs_resolve() {
        let doc = AsyncApi::new("t", "1")
            .channels(flow_channels())
            .channel(Channel {
                id: "heartbeat",
                address: "switchboard.health.{service}".to_owned(),
                protocol: "nats",
                description: "d",
                message: "Health",
                payload: json!({}),
                actions: &[Action::Send],
            })
            .to_json();
        assert!(doc["channels"]["heartbeat"]["parameters"]["service"].is_object());
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/").skip(1) {
            let path = reference.split('"').next().unwrap();
            let target = path.split('/').fold(&doc, |node, segment| &node[segment]);
            assert!(!target.is_null(), "#/{path} does not resolve");
        }
    }
}
