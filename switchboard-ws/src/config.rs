//! Hub configuration.

use std::time::Duration;

/// Bounds and timings of a [`Hub`](crate::Hub).
///
/// ```
/// use switchboard_ws::HubConfig;
/// let config = HubConfig { client_queue: 64, ..HubConfig::default() };
/// assert_eq!(config.client_queue, 64);
/// ```
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Messages queued per client. A client whose queue is full when the hub fans out is
    /// disconnected with close code [`SLOW_CONSUMER`](crate::close::SLOW_CONSUMER) (4000).
    pub client_queue: usize,
    /// Largest chat message accepted by [`Hub::send`](crate::Hub::send), in bytes.
    pub max_text_bytes: usize,
    /// Longest room name, in characters.
    pub max_room_chars: usize,
    /// How often a bridged hub publishes its presence snapshot.
    pub heartbeat_interval: Duration,
    /// How long another node's presence counts without a heartbeat. Keep it a few heartbeats.
    pub presence_ttl: Duration,
    /// Outgoing bridge messages queued before new ones are dropped (and counted).
    pub bridge_queue: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            client_queue: 256,
            max_text_bytes: 16 * 1024,
            max_room_chars: 64,
            heartbeat_interval: Duration::from_secs(5),
            presence_ttl: Duration::from_secs(15),
            bridge_queue: 1024,
        }
    }
}
