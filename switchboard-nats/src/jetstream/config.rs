//! [`JetStreamConfig`]: how streams and durable consumers are made.

use std::time::Duration;

pub use async_nats::jetstream::stream::StorageType;

/// How [`JetStreamLog`](super::JetStreamLog) creates streams and consumers.
#[derive(Clone, Debug)]
pub struct JetStreamConfig {
    /// Prefix of the stream created for a topic: topic `a.b` gets stream `<prefix>a_b`.
    pub stream_prefix: String,
    /// Create the stream of a topic on first append or join when no stream stores it yet.
    pub create_streams: bool,
    /// Where created streams keep their messages.
    pub storage: StorageType,
    /// Oldest message a created stream keeps; zero keeps them until `max_bytes`.
    pub max_age: Duration,
    /// Bytes a created stream keeps, the oldest messages dropped first; `-1` for no limit.
    pub max_bytes: i64,
    /// Copies of each created stream kept on different servers of a cluster (1 to 5). With 3,
    /// a stream survives the loss of any one server; a single server only takes 1.
    pub replicas: usize,
    /// How long the server remembers a `Nats-Msg-Id`: a retried append within it is stored once.
    pub duplicate_window: Duration,
    /// How long a delivery may stay unacked before the server delivers it again.
    pub ack_wait: Duration,
    /// Deliveries of one message at most; after that the server stops delivering it (it stays in
    /// the stream). `None` delivers until acked.
    pub max_deliver: Option<u32>,
    /// Deliveries of one group handed out and not yet acked, at most. `1` gives strict order
    /// across redeliveries; larger values let later messages pass a nacked one.
    pub max_ack_pending: u32,
    /// Messages one member asks for per pull request.
    pub batch: usize,
    /// How long a pull request waits at the server before it is renewed.
    pub pull_expires: Duration,
    /// Heartbeat the server sends on an idle pull; two missed ones make the member re-pull.
    pub idle_heartbeat: Duration,
    /// Wait for the server's confirmation of each ack.
    pub ack_timeout: Duration,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        JetStreamConfig {
            stream_prefix: "SB_".into(),
            create_streams: true,
            storage: StorageType::File,
            max_age: Duration::ZERO,
            max_bytes: -1,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            ack_wait: Duration::from_secs(30),
            max_deliver: None,
            max_ack_pending: 1000,
            batch: 64,
            pull_expires: Duration::from_secs(10),
            idle_heartbeat: Duration::from_secs(3),
            ack_timeout: Duration::from_secs(5),
        }
    }
}
