//! [`Flow`]: the six flows of the demo system, named for the firehose.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which flow a firehose event belongs to; its [`Flow::as_str`] is the event's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Flow {
    /// Postgres CRUD.
    Postgres,
    /// Redis key/value and pub/sub.
    Redis,
    /// NATS request/reply and pub/sub.
    Nats,
    /// WebSocket chat.
    Websocket,
    /// Kafka produce and consume.
    Kafka,
    /// Service lifecycle: start, stop, health.
    System,
}

impl Flow {
    /// Every flow, in the page's order.
    pub const ALL: [Flow; 6] = [
        Flow::Postgres,
        Flow::Redis,
        Flow::Nats,
        Flow::Websocket,
        Flow::Kafka,
        Flow::System,
    ];

    /// The lowercase name events carry as their `type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Flow::Postgres => "postgres",
            Flow::Redis => "redis",
            Flow::Nats => "nats",
            Flow::Websocket => "websocket",
            Flow::Kafka => "kafka",
            Flow::System => "system",
        }
    }
}

impl AsRef<str> for Flow {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Flow;

    #[test]
    fn names_match_the_serde_form() {
        for flow in Flow::ALL {
            let json = serde_json::to_value(flow).unwrap();
            assert_eq!(json, flow.as_str());
        }
    }
}
